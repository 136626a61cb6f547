#include "sim/openai_api.h"

#include <array>

#include <fmt/format.h>
#include <simdjson.h>

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

// Renders message content: a string, or an array of parts whose text is concatenated.
Result<void> render_content(element content, std::string& out) {
  switch (content.type()) {
    case element_type::STRING:
      out += std::string_view(content);
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
      out += value;
    }
    // Images and audio cost tokens too; a fixed stand-in keeps their share of the prompt.
    if (type == "image_url" || type == "input_audio") out.append(576 * 4, '#');
  }
  return {};
}

// Renders chat messages through a fixed template. Equal leading messages give equal text,
// so a shared system prompt is a shared prefix of blocks.
Result<void> render_messages(element messages, std::string& out) {
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
    out += "<|";
    out += role;
    out += "|>\n";
    if (auto content = message["content"]; !content.error()) {
      if (auto r = render_content(content.value_unsafe(), out); !r) {
        return fail("messages[{}].content {}", count, r.error().message);
      }
    }
    out += "<|end|>\n";
    ++count;
  }
  if (count == 0) return fail("'messages' must not be empty");
  out += "<|assistant|>\n";
  return {};
}

// A prompt of token ids becomes 4 bytes per id, so the simulator's tokenizer counts exactly
// one token per id and equal id prefixes share blocks.
Result<void> append_token_id(element value, std::string& out) {
  int64_t id;
  if (value.get(id)) return fail("a token id list must hold integers");
  if (id < 0 || id > 0xFFFFFFFFLL) return fail("token id {} is out of range", id);
  auto u = static_cast<uint32_t>(id);
  const char bytes[4] = {static_cast<char>(u), static_cast<char>(u >> 8),
                         static_cast<char>(u >> 16), static_cast<char>(u >> 24)};
  out.append(bytes, 4);
  return {};
}

// `prompt` is a string, [string], [int, ...] (one prompt of token ids) or [[int, ...]].
Result<void> render_prompt(element prompt, std::string& out) {
  if (prompt.is_string()) {
    out += std::string_view(prompt);
    if (out.empty()) return fail("'prompt' must not be empty");
    return {};
  }
  if (!prompt.is_array()) {
    return fail("'prompt' must be a string or an array, not {}", type_name(prompt.type()));
  }
  auto array = prompt.get_array().value_unsafe();
  const size_t size = array.size();
  if (size == 0) return fail("'prompt' must not be empty");
  element first = array.at(0).value_unsafe();
  if (first.is_number()) {
    for (element id : array) {
      if (auto r = append_token_id(id, out); !r) return r;
    }
    return {};
  }
  if (size > 1) return fail("batched prompts (more than one prompt) are not supported");
  if (first.is_string()) {
    out += std::string_view(first);
  } else if (first.is_array()) {
    for (element id : first.get_array()) {
      if (auto r = append_token_id(id, out); !r) return r;
    }
  } else {
    return fail("'prompt' array elements must be strings or token ids, not {}",
                type_name(first.type()));
  }
  if (out.empty()) return fail("'prompt' must not be empty");
  return {};
}

}  // namespace

std::expected<CompletionRequest, ApiError> parse_completion_request(std::string_view body,
                                                                    bool chat) {
  // One parser per thread, reused: it keeps its buffers between requests.
  thread_local simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(body.data(), body.size(), true).get(doc)) {
    return bad(fmt::format("invalid JSON body: {}", simdjson::error_message(err)));
  }
  if (!doc.is_object()) return bad("the request body must be a JSON object");

  CompletionRequest req;
  req.chat = chat;
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
      if (auto r = render_prompt(value, req.prompt_text); !r)
        return bad(r.error().message, "prompt");
      has_prompt = true;
    } else if (key == "messages" && chat) {
      if (auto r = render_messages(value, req.prompt_text); !r) {
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
  return req;
}

void append_json_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    } else {
      out += c;
    }
  }
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
