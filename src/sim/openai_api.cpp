#include "sim/openai_api.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <simdjson.h>

#include "common/utf8.h"

namespace kgai::sim {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

std::unexpected<ApiError> bad(std::string message, std::string param = {}) {
  return std::unexpected(ApiError{400, std::move(message), std::move(param)});
}

const char* type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// The JSON parser of request bodies: one per thread, reused, as simdjson keeps its buffers
// between documents. They grow to about 13 bytes per byte of the largest body seen, so after
// a body over 4 MiB they are dropped: one 16 MiB body would otherwise pin some 200 MB per
// event-loop thread for good. The price is paid by such bodies alone: a cold parse of 16 MiB
// faults its buffers in again (about 170 ms instead of 50 on this project's 2-core machine).
// Elements from parse() live until this object goes.
class BodyParser {
 public:
  BodyParser() = default;
  BodyParser(const BodyParser&) = delete;
  BodyParser& operator=(const BodyParser&) = delete;
  ~BodyParser() {
    if (parser().capacity() > kKeptCapacity) parser() = simdjson::dom::parser{};
  }
  simdjson::simdjson_result<element> parse(std::string_view body) {
    // realloc_if_needed: a std::string has no room for simdjson's padding.
    return parser().parse(body.data(), body.size(), true);
  }

 private:
  static constexpr size_t kKeptCapacity = 4 << 20;
  static simdjson::dom::parser& parser() {
    thread_local simdjson::dom::parser instance;
    return instance;
  }
};

// Builds the prompt while counting its bytes. Past the model's context length it stops
// storing and only counts: no body grows beyond what the client sent before it is refused
// (an image part is a few bytes of JSON but 576 tokens), yet the error still names the
// prompt's true length, as vLLM's does. Counting the rest costs a pass over parts the JSON
// parser has already read, so it is bounded by the body limit.
class PromptBuilder {
 public:
  PromptBuilder(PromptText& out, int max_model_len)
      : out_(out),
        // tokens >= max_model_len <=> bytes > (max_model_len - 1) * kBytesPerToken
        max_bytes_(static_cast<uint64_t>(std::max(max_model_len - 1, 0)) * kBytesPerToken) {}

  void text(std::string_view s) {
    bytes_ += s.size();
    if (bytes_ <= max_bytes_) out_.append(s);
  }
  // Bytes past the limit, known only by their number.
  void count_only(uint64_t n) { bytes_ += n; }
  void placeholder(uint64_t n) {
    bytes_ += n;
    if (bytes_ <= max_bytes_) out_.append_placeholder(n);
  }
  // A repeated key replaces the earlier value (the last one wins, as in Python's json).
  void restart() {
    bytes_ = 0;
    out_.clear();
  }
  uint64_t bytes() const { return bytes_; }
  bool over() const { return bytes_ > max_bytes_; }

 private:
  PromptText& out_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
};

// Renders message content: a string, or an array of parts whose text is concatenated.
Result<void> render_content(element content, PromptBuilder& out) {
  switch (content.type()) {
    case element_type::STRING:
      out.text(std::string_view(content));
      return {};
    case element_type::NULL_VALUE:
      return {};
    case element_type::ARRAY:
      break;
    default:
      return fail("must be a string or an array of content parts, not {}",
                  type_name(content.type()));
  }
  for (element part : content.get_array()) {
    if (!part.is_object()) return fail("content parts must be objects");
    std::string_view type;
    if (auto t = part["type"]; !t.error()) {
      if (t.get(type)) return fail("content part 'type' must be a string");
    }
    if (auto text = part["text"]; !text.error()) {
      std::string_view value;
      if (text.get(value)) return fail("content part 'text' must be a string");
      out.text(value);
    }
    // Images and audio cost tokens too: a placeholder keeps their share of the prompt
    // without writing it out.
    if (type == "image_url" || type == "input_audio")
      out.placeholder(uint64_t{kMediaPartTokens} * kBytesPerToken);
  }
  return {};
}

// Renders chat messages through a fixed template. Equal leading messages give equal text,
// so a shared system prompt is a shared prefix of blocks.
Result<void> render_messages(element messages, PromptBuilder& out) {
  if (!messages.is_array()) {
    return fail("'messages' must be an array, not {}", type_name(messages.type()));
  }
  size_t count = 0;
  for (element message : messages.get_array()) {
    if (!message.is_object()) return fail("messages[{}] must be an object", count);
    std::string_view role;
    if (auto r = message["role"]; r.error()) {
      return fail("messages[{}] has no 'role'", count);
    } else if (r.get(role)) {
      return fail("messages[{}].role must be a string", count);
    }
    out.text("<|");
    out.text(role);
    out.text("|>\n");
    if (auto content = message["content"]; !content.error()) {
      if (auto r = render_content(content.value_unsafe(), out); !r) {
        return fail("messages[{}].content {}", count, r.error().message);
      }
    }
    out.text("<|end|>\n");
    ++count;
  }
  if (count == 0) return fail("'messages' must not be empty");
  out.text("<|assistant|>\n");
  return {};
}

// A prompt of token ids becomes 4 bytes per id, so the simulator's tokenizer counts exactly
// one token per id and equal id prefixes share blocks.
Result<void> append_token_id(element value, PromptBuilder& out) {
  int64_t id;
  if (value.get(id)) return fail("a token id list must hold integers");
  if (id < 0 || id > 0xFFFFFFFFLL) return fail("token id {} is out of range", id);
  auto u = static_cast<uint32_t>(id);
  const char bytes[4] = {static_cast<char>(u), static_cast<char>(u >> 8),
                         static_cast<char>(u >> 16), static_cast<char>(u >> 24)};
  out.text(std::string_view(bytes, 4));
  return {};
}

Result<void> render_token_ids(simdjson::dom::array ids, PromptBuilder& out) {
  // simdjson's size() is exact below 0xFFFFFF elements (a 32 MiB body).
  constexpr size_t kSaturated = 0xFFFFFF;
  const size_t size = ids.size();
  size_t done = 0;
  for (element id : ids) {
    if (out.over() && size < kSaturated) {
      // Past the context limit only the count matters: the rest are counted, not read.
      out.count_only(uint64_t{size - done} * kBytesPerToken);
      return {};
    }
    if (auto r = append_token_id(id, out); !r) return r;
    ++done;
  }
  return {};
}

// `prompt` is a string, [string], [int, ...] (one prompt of token ids) or [[int, ...]].
Result<void> render_prompt(element prompt, PromptBuilder& out) {
  if (prompt.is_string()) {
    out.text(std::string_view(prompt));
    if (out.bytes() == 0) return fail("'prompt' must not be empty");
    return {};
  }
  if (!prompt.is_array()) {
    return fail("'prompt' must be a string or an array, not {}", type_name(prompt.type()));
  }
  auto array = prompt.get_array().value_unsafe();
  const size_t size = array.size();
  if (size == 0) return fail("'prompt' must not be empty");
  element first = array.at(0).value_unsafe();
  if (first.is_number()) return render_token_ids(array, out);
  if (size > 1) return fail("batched prompts (more than one prompt) are not supported");
  if (first.is_string()) {
    out.text(std::string_view(first));
  } else if (first.is_array()) {
    if (auto r = render_token_ids(first.get_array().value_unsafe(), out); !r) return r;
  } else {
    return fail("'prompt' array elements must be strings or token ids, not {}",
                type_name(first.type()));
  }
  if (out.bytes() == 0) return fail("'prompt' must not be empty");
  return {};
}

}  // namespace

std::string context_length_message(int max_model_len, int64_t prompt_tokens) {
  return fmt::format(
      "This model's maximum context length is {} tokens. However, your request has {} input "
      "tokens. Please reduce the length of the input messages.",
      max_model_len, prompt_tokens);
}

std::string context_length_message(int max_model_len, int64_t prompt_tokens, int64_t max_tokens) {
  return fmt::format(
      "This model's maximum context length is {} tokens. However, you requested {} tokens ({} "
      "in the messages, {} in the completion). Please reduce the length of the messages or "
      "completion.",
      max_model_len, prompt_tokens + max_tokens, prompt_tokens, max_tokens);
}

std::expected<CompletionRequest, ApiError> parse_completion_request(std::string_view body,
                                                                    bool chat, int max_model_len) {
  BodyParser parser;
  element doc;
  if (auto err = parser.parse(body).get(doc)) {
    return bad(fmt::format("invalid JSON body: {}", simdjson::error_message(err)));
  }
  if (!doc.is_object()) return bad("the request body must be a JSON object");

  CompletionRequest req;
  req.chat = chat;
  PromptBuilder prompt(req.prompt, max_model_len);
  bool has_prompt = false;
  for (auto [key, value] : doc.get_object()) {
    auto wrong_type = [&](const char* expected) {
      return bad(fmt::format("'{}' must be {}, not {}", key, expected, type_name(value.type())),
                 std::string(key));
    };
    if (key == "model") {
      if (!value.is_string()) return wrong_type("a string");
      req.model = std::string_view(value);
    } else if (key == "prompt" && !chat) {
      prompt.restart();
      if (auto r = render_prompt(value, prompt); !r) return bad(r.error().message, "prompt");
      has_prompt = true;
    } else if (key == "messages" && chat) {
      prompt.restart();
      if (auto r = render_messages(value, prompt); !r) {
        return bad(r.error().message, "messages");
      }
      has_prompt = true;
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      if (value.is_null()) continue;
      int64_t n;
      if (value.get(n)) return wrong_type("an integer");
      if (n < 1)
        return bad(fmt::format("'{}' must be at least 1, got {}", key, n), std::string(key));
      req.max_tokens = static_cast<int>(std::min<int64_t>(n, 1 << 30));
    } else if (key == "stream") {
      if (value.is_null()) continue;
      if (value.get(req.stream)) return wrong_type("a boolean");
    } else if (key == "ignore_eos") {
      if (value.is_null()) continue;
      if (value.get(req.ignore_eos)) return wrong_type("a boolean");
    } else if (key == "n") {
      if (value.is_null()) continue;
      int64_t n;
      if (value.get(n)) return wrong_type("an integer");
      if (n != 1) return bad("only n = 1 is supported by kgai sim", "n");
    } else if (key == "best_of") {
      // vLLM's V1 engine has no best_of either; answering one sample would be a silent
      // wrong answer.
      if (value.is_null()) continue;
      int64_t n;
      if (value.get(n)) return wrong_type("an integer");
      if (n != 1) return bad("only best_of = 1 is supported by kgai sim", "best_of");
    } else if (key == "stream_options") {
      if (value.is_null()) continue;
      if (!value.is_object()) return wrong_type("an object");
      if (auto include = value["include_usage"]; !include.error() && !include.is_null()) {
        if (include.get(req.include_usage)) {
          return bad("'stream_options.include_usage' must be a boolean", "stream_options");
        }
      }
    }
    // Other fields (temperature, top_p, stop, ...) do not change the simulation.
  }
  if (!has_prompt) {
    return chat ? bad("'messages' is required", "messages") : bad("'prompt' is required", "prompt");
  }
  // vLLM refuses a prompt that leaves no room for one output token.
  req.prompt_tokens = tokens_for_bytes(prompt.bytes());
  if (req.prompt_tokens >= max_model_len) {
    return bad(context_length_message(max_model_len, req.prompt_tokens),
               chat ? "messages" : "prompt");
  }
  return req;
}

Result<void> check_lora_name(std::string_view name) {
  if (name.empty()) return fail("must not be empty");
  if (name.size() > kMaxLoraNameBytes) {
    return fail("must be at most {} bytes, got {}", kMaxLoraNameBytes, name.size());
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '/' || c == ':';
    if (!ok) {
      // A byte outside printable ASCII is named by value: echoed raw it could break the
      // UTF-8 of the error body.
      const auto u = static_cast<unsigned char>(c);
      return fail("may hold only letters, digits and - _ . / : (got {})",
                  u < 0x20 || u >= 0x7f ? fmt::format("byte 0x{:02x}", u) : fmt::format("'{}'", c));
    }
  }
  return {};
}

std::string shortened(std::string_view name) {
  constexpr size_t kShown = 64;
  if (name.size() <= kShown) return std::string(name);
  // Cut at a character boundary, so valid UTF-8 stays valid.
  return fmt::format("{}... ({} bytes)", utf8_prefix(name, kShown), name.size());
}

std::expected<LoraRequest, ApiError> parse_lora_request(std::string_view body, bool load) {
  // simdjson, as for completions: its depth limit and bounded buffers keep a hostile body
  // (16 MiB of '[') from becoming seconds of work and gigabytes of nested values.
  BodyParser parser;
  element doc;
  if (auto err = parser.parse(body).get(doc)) {
    return bad(fmt::format("invalid JSON body: {}", simdjson::error_message(err)));
  }
  if (!doc.is_object()) return bad("the body must be a JSON object with 'lora_name'");
  LoraRequest req;
  auto name = doc["lora_name"];
  if (name.error()) return bad("'lora_name' is required", "lora_name");
  std::string_view name_text;
  if (name.get(name_text)) {
    return bad(fmt::format("'lora_name' must be a string, not {}", type_name(name.type())),
               "lora_name");
  }
  if (auto ok = check_lora_name(name_text); !ok) {
    return bad(fmt::format("'lora_name' {}", ok.error().message), "lora_name");
  }
  req.name = name_text;
  if (!load) return req;
  if (auto path = doc["lora_path"]; !path.error() && !path.is_null()) {
    std::string_view path_text;
    if (path.get(path_text)) {
      return bad(fmt::format("'lora_path' must be a string, not {}", type_name(path.type())),
                 "lora_path");
    }
    if (path_text.size() > kMaxLoraPathBytes) {
      return bad(fmt::format("'lora_path' must be at most {} bytes, got {}", kMaxLoraPathBytes,
                             path_text.size()),
                 "lora_path");
    }
    if (std::any_of(path_text.begin(), path_text.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return bad("'lora_path' must not hold control characters", "lora_path");
    }
    req.path = std::string(path_text);
  }
  return req;
}

std::string error_body(int status, std::string_view message, std::string_view param) {
  const char* type = "BadRequestError";
  switch (status) {
    case 401:
      type = "AuthenticationError";
      break;
    case 404:
      type = "NotFoundError";
      break;
    case 429:
      type = "RateLimitError";
      break;
    case 500:
      type = "InternalServerError";
      break;
    case 503:
      type = "ServiceUnavailableError";
      break;
    default:
      break;
  }
  std::string out = R"({"error":{"message":")";
  append_json_escaped(out, message);
  fmt::format_to(std::back_inserter(out), R"(","type":"{}","param":)", type);
  if (param.empty()) {
    out += "null";
  } else {
    out += '"';
    append_json_escaped(out, param);
    out += '"';
  }
  fmt::format_to(std::back_inserter(out), R"(,"code":{}}}}})", status);
  return out;
}

std::string_view output_token_text(uint64_t request_seed, int index) {
  // Four-byte pieces of ordinary text, so the output reads like words.
  static constexpr std::array<std::string_view, 32> kTokens = {
      " the", " and", " of ", " to ", " in ", " is ", " it ", " on ", " for", " as ", " by ",
      " at ", " be ", " or ", " an ", " we ", " can", " all", " new", " use", " one", " may",
      " has", " its", " way", " but", " not", " are", " was", " you", " had", " how"};
  uint64_t x =
      request_seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index) * 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  return kTokens[x % kTokens.size()];
}

namespace {

void append_header(std::string& out, const ResponseHeader& h, bool stream) {
  out += R"({"id":")";
  out += h.id;
  out += R"(","object":")";
  out += h.chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  fmt::format_to(std::back_inserter(out), R"(","created":{},"model":")", h.created);
  append_json_escaped(out, h.model);
  out += R"(",)";
}

void append_usage(std::string& out, const Usage& u) {
  fmt::format_to(std::back_inserter(out),
                 R"("usage":{{"prompt_tokens":{},"total_tokens":{},"completion_tokens":{},)"
                 R"("prompt_tokens_details":{{"cached_tokens":{}}}}})",
                 u.prompt_tokens, u.prompt_tokens + u.completion_tokens, u.completion_tokens,
                 u.cached_tokens);
}

void append_finish(std::string& out, const char* finish_reason) {
  if (finish_reason) {
    out += R"("finish_reason":")";
    out += finish_reason;
    out += '"';
  } else {
    out += R"("finish_reason":null)";
  }
}

}  // namespace

StreamChunkWriter::StreamChunkWriter(const ResponseHeader& h) : chat_(h.chat) {
  prefix_ = "data: ";
  append_header(prefix_, h, true);
  if (chat_) {
    first_prefix_ = prefix_ + R"("choices":[{"index":0,"delta":{"role":"assistant","content":")";
    prefix_ += R"("choices":[{"index":0,"delta":{"content":")";
  } else {
    prefix_ += R"("choices":[{"index":0,"text":")";
  }
}

void StreamChunkWriter::append(std::string& out, std::string_view text, const char* finish_reason,
                               bool first) const {
  out += first && chat_ ? first_prefix_ : prefix_;
  append_json_escaped(out, text);
  out += chat_ ? R"("},"logprobs":null,)" : R"(","logprobs":null,)";
  append_finish(out, finish_reason);
  out += "}]}\n\n";
}

void append_stream_chunk(std::string& out, const ResponseHeader& h, std::string_view text,
                         const char* finish_reason, bool first) {
  StreamChunkWriter(h).append(out, text, finish_reason, first);
}

void append_usage_chunk(std::string& out, const ResponseHeader& h, const Usage& usage) {
  out += "data: ";
  append_header(out, h, true);
  out += R"("choices":[],)";
  append_usage(out, usage);
  out += "}\n\n";
}

std::string completion_body(const ResponseHeader& h, std::string_view text,
                            const char* finish_reason, const Usage& usage) {
  std::string out;
  out.reserve(256 + text.size());
  append_header(out, h, false);
  if (h.chat) {
    out += R"("choices":[{"index":0,"message":{"role":"assistant","content":")";
    append_json_escaped(out, text);
    out += R"("},"logprobs":null,)";
  } else {
    out += R"("choices":[{"index":0,"text":")";
    append_json_escaped(out, text);
    out += R"(","logprobs":null,)";
  }
  append_finish(out, finish_reason);
  out += "}],";
  append_usage(out, usage);
  out += '}';
  return out;
}

}  // namespace kgai::sim
