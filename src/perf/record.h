// What one benchmark request did, as measured on the client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kgai::perf {

enum class ErrorKind : uint8_t {
  kNone,
  kConnect,       // could not connect (refused, unreachable, connect timeout)
  kTimeout,       // request_timeout passed before the response ended
  kHttpStatus,    // the server answered with a non-2xx status
  kBrokenStream,  // the connection closed or the body was malformed before the response ended
};
std::string_view error_kind_name(ErrorKind kind);
// The inverse of error_kind_name; nullopt for an unknown name.
std::optional<ErrorKind> error_kind_from_name(std::string_view name);

struct RequestRecord {
  int stage = 0;
  uint64_t index = 0;  // position in the stage
  // Seconds since the run's start.
  double scheduled = 0;     // when the plan wanted it sent
  double sent = 0;          // when its first byte went to the socket
  double first_token = -1;  // first chunk carrying output text (-1: none)
  double end = 0;           // when the response ended (or failed)
  // Arrival of every chunk carrying output text, in seconds after `sent` (streamed requests).
  std::vector<float> token_times;
  int input_tokens = 0;   // from the server's usage when reported, else the prompt's count
  int output_tokens = 0;  // from usage when reported, else counted
  int cached_tokens = 0;  // usage.prompt_tokens_details.cached_tokens, when reported
  bool usage_reported = false;
  int http_status = 0;
  ErrorKind error = ErrorKind::kNone;
  std::string error_message;
  std::string lora;  // adapter name sent as "model", if any

  bool ok() const { return error == ErrorKind::kNone; }
  double schedule_delay() const { return sent - scheduled; }
};

}  // namespace kgai::perf
