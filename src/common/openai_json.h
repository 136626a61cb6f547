// The few fields kgai reads from OpenAI-compatible responses (streamed chunks, whole JSON
// bodies, error bodies): the perf client for every response; in common so that the gateway
// reads usage with the very same parser (common/response_usage.h). simdjson's on-demand API
// for the shapes servers send, its DOM parser for anything else and for errors. One instance
// per thread: the parsers keep their buffers, so parsing a chunk allocates nothing once warm.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace kgai {

struct UsageFields {
  bool reported = false;  // a non-null "usage" object was present
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt_tokens_details.cached_tokens

  bool operator==(const UsageFields&) const = default;
};

// One SSE event of a streamed completion or chat completion.
struct ChunkFields {
  // choices[0].text (completion) or choices[0].delta.content (chat) is a non-empty string;
  // role-only and usage-only chunks carry none.
  bool has_text = false;
  bool is_error = false;  // an in-band {"error": ...} event
  std::string error_message;
  UsageFields usage;
};

// A whole (non-streamed) response body.
struct BodyFields {
  size_t text_bytes = 0;  // choices[0].text or choices[0].message.content
  UsageFields usage;
};

class OpenAiJson {
 public:
  OpenAiJson();
  ~OpenAiJson();
  OpenAiJson(const OpenAiJson&) = delete;
  OpenAiJson& operator=(const OpenAiJson&) = delete;

  // Each returns false with `*error` set when the text is not JSON.
  bool parse_chunk(std::string_view data, ChunkFields* out, std::string* error);
  bool parse_body(std::string_view body, BodyFields* out, std::string* error);

  // The message of an error body ({"error": {"message": ...}}, {"error": "..."}, or vLLM's
  // {"object": "error", "message": ...}), else a printable prefix of the body.
  std::string error_message(std::string_view body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kgai
