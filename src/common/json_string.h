// JSON string literals from arbitrary bytes, for answers that quote what a client sent (a
// model name in a 404, a path in an error): never throws, never emits invalid JSON.
#pragma once

#include <string>
#include <string_view>

namespace kgai {

// Appends `text` as a JSON string literal, quotes included: '"', '\\' and control characters
// escaped, invalid UTF-8 replaced by U+FFFD (a strict JSON parser rejects it otherwise).
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

}  // namespace kgai
