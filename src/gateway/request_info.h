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
  // Where the "model" value (its JSON string token, quotes included) lies in the body, so a
  // rewrite can splice a new value in without re-serializing the body (gateway/model_rewrite.h).
  size_t model_offset = 0;
  size_t model_length = 0;
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
//
// Semantics a caller may need to know:
// - Keys are compared after unescaping ("mod\u0065l" is "model"), as the model server will.
// - A key the gateway reads ("model", "stream", "max_tokens", "max_completion_tokens", and
//   "prompt" or "messages") given twice is an error, not "first wins": Python's json keeps the
//   last, so any other choice would let the gateway route on a value the server ignores.
// - `null` for "stream", "max_tokens" or "max_completion_tokens" means absent (clients send it).
//   When both token limits are given, max_completion_tokens wins, as in vLLM.
// - Values the gateway does not read (and the inside of "messages") are checked for balance
//   and UTF-8 only, as simdjson's on-demand API does; the model server validates them fully.
//   A string prompt too: its escapes are the model server's to judge (unescaping 200 KB would
//   cost as much as the rest of the parse).
// - The prompt may be a string, an array of strings, an array of token ids or an array of
//   token-id arrays; for the arrays prefix_text is their raw JSON text.
//
// This overload copies the body into a thread-local buffer with simdjson's padding (about
// 6 µs per 200 KB; see bench/gateway_prefix_bench.cpp); prefix_text still points into `body`.
Result<RequestInfo> parse_request_body(std::string_view body, ApiKind api);

// The same without the copy: pads `body` in place (its size and content are unchanged; only
// its capacity may grow, which reallocates it once when it has fewer than 64 spare bytes).
// prefix_text points into `body` as it is after the call.
Result<RequestInfo> parse_request_body(std::string& body, ApiKind api);

}  // namespace kgai::gateway
