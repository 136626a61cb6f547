#include "gateway/request_info.h"

#include <cstring>

#include <simdjson.h>

namespace kgai::gateway {
namespace {

namespace od = simdjson::ondemand;
using od::json_type;

constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

std::unexpected<Error> not_json(simdjson::error_code code) {
  return fail("request body is not valid JSON: {}", simdjson::error_message(code));
}

std::unexpected<Error> duplicate(std::string_view key) {
  return fail("duplicate key '{}' in the request body", key);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The type of `value`, or an error when it is not even the start of a JSON value.
Result<json_type> type_of(od::value& value) {
  json_type type;
  if (auto code = value.type().get(type)) return not_json(code);
  return type;
}

// "stream": true | false | null (absent).
Result<void> read_stream(od::value value, RequestInfo* info) {
  auto type = type_of(value);
  if (!type) return std::unexpected(std::move(type.error()));
  if (*type == json_type::null) {
    bool null = false;
    if (value.is_null().get(null) || !null) return fail("'stream' must be a boolean");
    return {};
  }
  if (*type != json_type::boolean || value.get_bool().get(info->stream)) {
    return fail("'stream' must be a boolean");
  }
  return {};
}

// "max_tokens" / "max_completion_tokens": a non-negative integer or null (absent).
Result<std::optional<int64_t>> read_token_limit(od::value value, std::string_view key) {
  auto type = type_of(value);
  if (!type) return std::unexpected(std::move(type.error()));
  if (*type == json_type::null) {
    bool null = false;
    if (value.is_null().get(null) || !null) {
      return fail("'{}' must be a non-negative integer", key);
    }
    return std::optional<int64_t>{};
  }
  int64_t n = 0;
  if (*type != json_type::number || value.get_int64().get(n) || n < 0) {
    return fail("'{}' must be a non-negative integer", key);
  }
  return std::optional<int64_t>{n};
}

constexpr std::string_view kPromptShape =
    "'prompt' must be a string, an array of strings, an array of token ids, or an array of "
    "token-id arrays";

// One element of a prompt array: a string, a token id, or an array of token ids.
Result<void> check_prompt_element(od::value element) {
  auto type = type_of(element);
  if (!type) return std::unexpected(std::move(type.error()));
  switch (*type) {
    case json_type::string: {
      std::string_view s;
      if (auto code = element.get_string().get(s)) return not_json(code);
      return {};
    }
    case json_type::number: {
      uint64_t id = 0;
      if (element.get_uint64().get(id)) return fail("{}", kPromptShape);
      return {};
    }
    case json_type::array: {
      od::array ids;
      if (auto code = element.get_array().get(ids)) return not_json(code);
      for (auto result : ids) {
        od::value id_value;
        if (auto code = result.get(id_value)) return not_json(code);
        uint64_t id = 0;
        if (id_value.get_uint64().get(id)) return fail("{}", kPromptShape);
      }
      return {};
    }
    default:
      return fail("{}", kPromptShape);
  }
}

// "prompt": for a string, the characters between its quotes (escapes kept); for an array, its
// raw JSON text. Views point into the padded buffer; the caller rebases them.
Result<std::string_view> read_prompt(od::document& doc, od::value value) {
  auto type = type_of(value);
  if (!type) return std::unexpected(std::move(type.error()));
  if (*type == json_type::string) {
    const std::string_view token = trim_right(value.raw_json_token());
    // Not unescaped: that would cost about as much as the rest of the parse for a 200 KB
    // prompt, and the model server validates the escapes itself (a bad one is its 400). The
    // view keeps them as sent, which is what a stable prefix hash needs.
    if (token.size() < 2 || token.back() != '"') return not_json(simdjson::STRING_ERROR);
    return token.substr(1, token.size() - 2);
  }
  if (*type != json_type::array) return fail("{}", kPromptShape);
  const char* start = value.raw_json_token().data();
  od::array elements;
  if (auto code = value.get_array().get(elements)) return not_json(code);
  size_t count = 0;
  for (auto result : elements) {
    od::value element;
    if (auto code = result.get(element)) return not_json(code);
    if (auto ok = check_prompt_element(element); !ok) return std::unexpected(std::move(ok.error()));
    ++count;
  }
  if (count == 0) return fail("'prompt' must not be empty");
  // on-demand has no raw_json() for an array it has iterated: the array ends before the next
  // token, which is where the document's iterator now stands.
  const char* end = nullptr;
  if (auto code = doc.current_location().get(end)) return not_json(code);
  const std::string_view text = trim_right(std::string_view(start, end - start));
  if (text.empty() || text.back() != ']') return not_json(simdjson::TAPE_ERROR);
  return text;
}

// "messages": a non-empty array; its raw JSON text (contents checked for balance only).
Result<std::string_view> read_messages(od::value value) {
  auto type = type_of(value);
  if (!type) return std::unexpected(std::move(type.error()));
  if (*type != json_type::array) return fail("'messages' must be an array");
  od::array messages;
  if (auto code = value.get_array().get(messages)) return not_json(code);
  std::string_view raw;
  if (auto code = messages.raw_json().get(raw)) return not_json(code);
  raw = trim_right(raw);
  std::string_view inside = raw.substr(1);
  while (!inside.empty() && is_space(inside.front())) inside.remove_prefix(1);
  if (!inside.empty() && inside.front() == ']') return fail("'messages' must not be empty");
  return raw;
}

// Parses `size` bytes at `data`, readable up to `capacity` (>= size + padding). Views into the
// body are rebased from `data` to `origin`, the caller's copy of the same bytes.
Result<RequestInfo> parse_padded(const char* data, size_t size, size_t capacity, const char* origin,
                                 ApiKind api) {
  RequestInfo info;
  info.api = api;
  info.body_bytes = size;
  {
    std::string_view all(data, size);
    while (!all.empty() && is_space(all.front())) all.remove_prefix(1);
    if (all.empty()) return fail("request body is empty");
  }
  // One parser per thread: it keeps its buffers (about the size of the largest body seen) so a
  // parse allocates nothing once warm.
  thread_local od::parser parser;
  od::document doc;
  if (auto code = parser.iterate(data, size, capacity).get(doc)) return not_json(code);
  json_type type;
  if (auto code = doc.type().get(type)) return not_json(code);
  if (type != json_type::object) return fail("request body must be a JSON object");
  od::object object;
  if (auto code = doc.get_object().get(object)) return not_json(code);

  bool seen_model = false, seen_stream = false, seen_max_tokens = false,
       seen_max_completion_tokens = false, seen_prefix = false;
  std::optional<int64_t> max_tokens, max_completion_tokens;
  const std::string_view prefix_key = api == ApiKind::kChatCompletions ? "messages" : "prompt";
  for (auto result : object) {
    od::field field;
    if (auto code = std::move(result).get(field)) return not_json(code);
    std::string_view key;
    // Unescaped, as the server reads it; top-level keys are few and short.
    if (auto code = field.unescaped_key().get(key)) return not_json(code);
    if (key == "model") {
      if (seen_model) return duplicate(key);
      seen_model = true;
      od::value value = field.value();
      auto t = type_of(value);
      if (!t) return std::unexpected(std::move(t.error()));
      std::string_view model;
      if (*t != json_type::string) return fail("'model' must be a string");
      const std::string_view token = trim_right(value.raw_json_token());
      if (auto code = value.get_string().get(model)) return not_json(code);
      info.model_offset = static_cast<size_t>(token.data() - data);
      info.model_length = token.size();
      if (model.empty()) return fail("'model' must not be empty");
      info.model = model;
    } else if (key == "stream") {
      if (seen_stream) return duplicate(key);
      seen_stream = true;
      if (auto ok = read_stream(field.value(), &info); !ok) return std::unexpected(ok.error());
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      const bool completion = key == "max_completion_tokens";
      bool& seen = completion ? seen_max_completion_tokens : seen_max_tokens;
      if (seen) return duplicate(key);
      seen = true;
      auto limit = read_token_limit(field.value(), key);
      if (!limit) return std::unexpected(std::move(limit.error()));
      (completion ? max_completion_tokens : max_tokens) = *limit;
    } else if (key == prefix_key) {
      if (seen_prefix) return duplicate(key);
      seen_prefix = true;
      auto text = api == ApiKind::kChatCompletions ? read_messages(field.value())
                                                   : read_prompt(doc, field.value());
      if (!text) return std::unexpected(std::move(text.error()));
      info.prefix_text = std::string_view(origin + (text->data() - data), text->size());
    }
  }
  // Past the object's end is the only answer that means "nothing follows".
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) {
    return fail("request body is not valid JSON: content after the top-level object");
  }
  if (!seen_model) return fail("'model' is required");
  if (!seen_prefix) {
    return api == ApiKind::kChatCompletions
               ? fail("'messages' is required for /v1/chat/completions")
               : fail("'prompt' is required for /v1/completions");
  }
  info.target_model = info.model;
  info.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  return info;
}

}  // namespace

Result<RequestInfo> parse_request_body(std::string_view body, ApiKind api) {
  // Resized, never shrunk: a warm thread copies without allocating.
  thread_local std::string padded;
  if (padded.size() < body.size() + kPadding) padded.resize(body.size() + kPadding);
  if (!body.empty()) std::memcpy(padded.data(), body.data(), body.size());
  // on-demand reads atoms a few bytes past the end ("tru" + "e" left by an earlier body would
  // read as true): zeros make the answer for a truncated body the same on both paths.
  std::memset(padded.data() + body.size(), 0, kPadding);
  return parse_padded(padded.data(), body.size(), padded.size(), body.data(), api);
}

Result<RequestInfo> parse_request_body(std::string& body, ApiKind api) {
  const size_t size = body.size();
  // Growing then shrinking writes zeros into the padding (64 bytes) and keeps the capacity;
  // std::string's capacity excludes its terminator, so capacity() bytes are readable.
  body.resize(size + kPadding);
  body.resize(size);
  return parse_padded(body.data(), size, body.capacity(), body.data(), api);
}

}  // namespace kgai::gateway
