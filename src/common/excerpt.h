// Bytes from the wire quoted in an error message: a response that is not JSON, a bad chunk
// size, an SSE error event. They may hold control bytes or megabytes, and must neither garble
// a log line nor flood a report, so they are cut and escaped first.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kgai {

// The most of an error body an error message quotes (the perf client's reports, OpenAiJson).
inline constexpr std::size_t kMaxErrorBody = 512;

// At most `max` bytes of `s`, printable ASCII kept, "\n" and "\r" spelled out, any other byte
// as "\xNN", and "..." when cut.
std::string excerpt(std::string_view s, std::size_t max = 200);

}  // namespace kgai
