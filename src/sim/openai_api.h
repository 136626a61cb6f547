// The OpenAI-compatible request and response shapes vLLM serves: parsing request bodies
// (simdjson; this is the hot path of every request) and formatting responses and SSE chunks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/json_string.h"  // append_json_escaped
#include "common/result.h"
#include "sim/tokenizer.h"

namespace kgai::sim {

// A request body error, answered as 400 with `param` naming the offending field.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // "" = null
};

struct CompletionRequest {
  bool chat = false;
  std::string model;
  // The prompt as the model sees it: the completion prompt, or the chat messages rendered
  // through a fixed template (so that a shared system prompt is a shared token prefix).
  PromptText prompt;
  int prompt_tokens = 0;  // always below the max_model_len given to the parser
  std::optional<int> max_tokens;
  bool stream = false;
  bool include_usage = false;
  bool ignore_eos = false;
};

// What an image or audio part counts as (a 336-pixel image under LLaVA-style encoders).
inline constexpr int kMediaPartTokens = 576;

// Parses a /v1/completions (chat = false) or /v1/chat/completions body. Rejects malformed or
// truncated JSON, wrong types, a missing prompt/messages, n > 1, batched prompts and, in
// vLLM's words, a prompt of max_model_len tokens or more. The prompt is counted as it is
// read and stops being stored once over the limit, so the work and memory of a request
// stay proportional to its body, whatever its parts stand for.
std::expected<CompletionRequest, ApiError> parse_completion_request(std::string_view body,
                                                                    bool chat, int max_model_len);

// A body of /v1/load_lora_adapter or /v1/unload_lora_adapter.
struct LoraRequest {
  std::string name;
  std::optional<std::string> path;  // load only; the name when absent
};

// Adapter names kgai accepts: what Hugging Face repo ids and local names use (letters,
// digits, '-', '_', '.', '/', ':'), at most kMaxLoraNameBytes. vLLM takes any string, but a
// name also becomes a metric label, a log line and a key the server keeps, so kgai keeps it
// short and plain.
inline constexpr size_t kMaxLoraNameBytes = 256;
inline constexpr size_t kMaxLoraPathBytes = 4096;  // PATH_MAX
Result<void> check_lora_name(std::string_view name);

// Parses a LoRA load (load = true) or unload body: an object with a valid 'lora_name' and,
// for loads, an optional 'lora_path' string.
std::expected<LoraRequest, ApiError> parse_lora_request(std::string_view body, bool load);

// `name` for an error message or a log line, cut to a readable length: a client may send
// megabytes.
std::string shortened(std::string_view name);

// vLLM's context-length errors: a prompt too long by itself, and prompt + max_tokens.
std::string context_length_message(int max_model_len, int64_t prompt_tokens);
std::string context_length_message(int max_model_len, int64_t prompt_tokens, int64_t max_tokens);

// {"error": {"message", "type", "param", "code"}} as vLLM answers.
std::string error_body(int status, std::string_view message, std::string_view param = {});

// The deterministic text of output token `index` of a request: 4 bytes, so that a client
// counting tokens with the simulator's tokenizer agrees with the server.
std::string_view output_token_text(uint64_t request_seed, int index);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
};

// Shared fields of every response of one request.
struct ResponseHeader {
  std::string_view id;  // "cmpl-..." or "chatcmpl-..."
  std::string_view model;
  int64_t created = 0;  // unix seconds
  bool chat = false;
};

// Streamed chunks of one request differ only in their text and finish reason: this keeps the
// rest, rendered once, so that a token costs a few appends (the real-time server streams
// about a hundred thousand tokens a second on two cores).
class StreamChunkWriter {
 public:
  explicit StreamChunkWriter(const ResponseHeader& header);
  // Appends "data: {...}\n\n" for one token; `first` adds the chat role.
  void append(std::string& out, std::string_view text, const char* finish_reason, bool first) const;

 private:
  std::string prefix_;        // up to the opening quote of the token's text
  std::string first_prefix_;  // the same with "role":"assistant" (chat)
  bool chat_;
};

// One streamed chunk carrying `text` (and, on the last token, the finish reason). For chat,
// the first chunk also carries the assistant role. The result is the SSE event
// ("data: {...}\n\n") appended to `out`.
void append_stream_chunk(std::string& out, const ResponseHeader& header, std::string_view text,
                         const char* finish_reason, bool first);
// The usage-only chunk sent before [DONE] when stream_options.include_usage is set.
void append_usage_chunk(std::string& out, const ResponseHeader& header, const Usage& usage);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// The whole non-streamed response.
std::string completion_body(const ResponseHeader& header, std::string_view text,
                            const char* finish_reason, const Usage& usage);

}  // namespace kgai::sim
