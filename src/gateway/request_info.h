// What the picker needs from one inference request: read once from the body (without a DOM
// of the whole body) and from the gateway's headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kgai::gateway {

enum class ApiKind : uint8_t { kCompletions, kChatCompletions };

struct RequestInfo {
  ApiKind api = ApiKind::kCompletions;
  std::string model;         // as requested (before any rewrite)
  std::string target_model;  // after x-gateway-model-name-rewrite or modelRewrites
  bool stream = false;
  std::optional<int64_t> max_tokens;  // max_tokens or max_completion_tokens
  // The text the prefix index hashes: the prompt's JSON string contents as sent (still
  // escaped) for completions, the raw JSON text of `messages` for chat. A view into the body,
  // which must outlive it.
  std::string_view prefix_text;
  size_t body_bytes = 0;
  // From headers.
  std::string objective;    // x-gateway-inference-objective
  int priority = 0;         // the objective's priority (0 when none)
  std::string fairness_id;  // x-gateway-inference-fairness-id ("default-flow" when absent)
  std::string session_id;   // the session affinity header, when configured and present
};

// Reads model, stream, max_tokens and the prefix text from an OpenAI request body. Errors are
// messages for a 400 answer: not JSON, not an object, "model" missing or not a string, prompt
// (completions) or messages (chat) missing or of the wrong type, stream not a boolean,
// max_tokens not a non-negative integer.
Result<RequestInfo> parse_request_body(std::string_view body, ApiKind api);

}  // namespace kgai::gateway
