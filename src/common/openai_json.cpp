#include "common/openai_json.h"

#include <cstdint>
#include <optional>

#include <fmt/core.h>
#include <simdjson.h>

#include "common/excerpt.h"

namespace kgai {

struct OpenAiJson::Impl {
  simdjson::dom::parser parser;  // the exact path: any shape, any error, full validation
  simdjson::ondemand::parser fast;
  std::string padded;  // the text copied with room for simdjson's padding (keeps its capacity)
};

namespace {

using simdjson::dom::element;

int int_field(element object, std::string_view key) {
  int64_t value = 0;
  if (object[key].get_int64().get(value) != simdjson::SUCCESS) return 0;
  return static_cast<int>(value);
}

UsageFields usage_of(element doc) {
  UsageFields usage;
  element u;
  if (doc["usage"].get(u) != simdjson::SUCCESS || !u.is_object()) return usage;
  usage.reported = true;
  usage.prompt_tokens = int_field(u, "prompt_tokens");
  usage.completion_tokens = int_field(u, "completion_tokens");
  element details;
  if (u["prompt_tokens_details"].get(details) == simdjson::SUCCESS && details.is_object()) {
    usage.cached_tokens = int_field(details, "cached_tokens");
  }
  return usage;
}

std::optional<std::string_view> string_at(simdjson::simdjson_result<element> value) {
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return s;
}

// The error text of {"error": {"message": ...}} or {"error": "..."}; nullopt without "error".
std::optional<std::string> error_of(element doc) {
  element error;
  if (doc["error"].get(error) != simdjson::SUCCESS || error.is_null()) return std::nullopt;
  if (error.is_string()) return std::string(std::string_view(error));
  if (auto s = string_at(error["message"])) return std::string(*s);
  return std::string(simdjson::to_string(error));
}

// The fields of a chunk or body as servers send them, read in one forward pass with simdjson's
// on-demand API, which costs far less than building a DOM for them. It gives up (false) on
// anything unusual, so that the DOM path answers with its exact semantics and error messages:
// text that is not a JSON object, a non-null "error", a token count that is not an integer,
// trailing bytes. Values it does not read are checked for balance only, not full syntax.
struct FastFields {
  int64_t text = -1;             // choices[0].text's length in bytes; -1: absent or not a string
  int64_t delta_content = -1;    // choices[0].delta.content
  int64_t message_content = -1;  // choices[0].message.content
  UsageFields usage;
};

namespace od = simdjson::ondemand;
using od::json_type;

bool is_type(od::value v, json_type want) {
  json_type t;
  return v.type().get(t) == simdjson::SUCCESS && t == want;
}

// Calls on_field(key, value) for each field of `v` when it is an object (else nothing, as the
// DOM path reads a missing object); false when the JSON is malformed or on_field says so.
template <typename OnField>
bool for_each_field(od::value v, OnField&& on_field) {
  if (!is_type(v, json_type::object)) return true;
  od::object object;
  if (v.get_object().get(object) != simdjson::SUCCESS) return false;
  for (auto result : object) {
    od::field field;
    if (std::move(result).get(field) != simdjson::SUCCESS ||
        !on_field(field.key(), field.value())) {
      return false;
    }
  }
  return true;
}

// The length of `v` when it is a string, else -1.
bool string_size(od::value v, int64_t* size) {
  *size = -1;
  if (!is_type(v, json_type::string)) return true;
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return false;
  *size = static_cast<int64_t>(s.size());
  return true;
}

// {"content": ...} of a delta or message.
bool content_size(od::value v, int64_t* size) {
  *size = -1;
  return for_each_field(v, [&](od::raw_json_string key, od::value value) {
    return key != "content" || string_size(value, size);
  });
}

bool first_choice(od::value v, FastFields* out) {
  if (!is_type(v, json_type::array)) return true;
  od::array choices;
  if (v.get_array().get(choices) != simdjson::SUCCESS) return false;
  for (auto result : choices) {
    od::value choice;
    if (result.get(choice) != simdjson::SUCCESS) return false;
    // Only choices[0] matters: the caller's loop skips the rest of the array.
    return for_each_field(choice, [&](od::raw_json_string key, od::value value) {
      if (key == "text") return string_size(value, &out->text);
      if (key == "delta") return content_size(value, &out->delta_content);
      if (key == "message") return content_size(value, &out->message_content);
      return true;
    });
  }
  return true;
}

// A token count: an integer (a number of another kind gives up; the DOM path reads it as 0).
bool count(od::value v, int* out) {
  if (!is_type(v, json_type::number)) return true;
  int64_t n = 0;
  if (v.get_int64().get(n) != simdjson::SUCCESS) return false;
  *out = static_cast<int>(n);
  return true;
}

bool usage_fields(od::value v, UsageFields* usage) {
  usage->reported = is_type(v, json_type::object);
  return for_each_field(v, [&](od::raw_json_string key, od::value value) {
    if (key == "prompt_tokens") return count(value, &usage->prompt_tokens);
    if (key == "completion_tokens") return count(value, &usage->completion_tokens);
    if (key == "prompt_tokens_details") {
      return for_each_field(value, [&](od::raw_json_string k, od::value inner) {
        return k != "cached_tokens" || count(inner, &usage->cached_tokens);
      });
    }
    return true;
  });
}

bool fast_fields(od::parser& parser, std::string& padded, std::string_view text, FastFields* out) {
  padded.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(text);
  od::document doc;
  od::object object;
  if (parser.iterate(padded.data(), padded.size(), padded.capacity()).get(doc) !=
          simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return false;
  }
  // Keys are compared as they are on the wire, unescaped ("us\\u0061ge" is not "usage"), and a
  // key given twice is read twice (the DOM path takes the first); servers send neither.
  for (auto result : object) {
    od::field field;
    if (std::move(result).get(field) != simdjson::SUCCESS) return false;
    const od::raw_json_string key = field.key();
    bool ok = true;
    if (key == "choices") ok = first_choice(field.value(), out);
    if (key == "usage") ok = usage_fields(field.value(), &out->usage);
    if (key == "error") ok = is_type(field.value(), json_type::null);
    if (!ok) return false;
  }
  // Past the object's end, the only answer that means "nothing follows".
  const char* trailing = nullptr;
  return doc.current_location().get(trailing) == simdjson::OUT_OF_BOUNDS;
}

}  // namespace

OpenAiJson::OpenAiJson() : impl_(std::make_unique<Impl>()) {}
OpenAiJson::~OpenAiJson() = default;

bool OpenAiJson::parse_chunk(std::string_view data, ChunkFields* out, std::string* error) {
  if (FastFields fast; fast_fields(impl_->fast, impl_->padded, data, &fast)) {
    *out = ChunkFields{};
    out->has_text = fast.text > 0 || (fast.text < 0 && fast.delta_content > 0);
    out->usage = fast.usage;
    return true;
  }
  element doc;
  if (auto code = impl_->parser.parse(data.data(), data.size()).get(doc); code) {
    *error = fmt::format("stream event is not JSON ({}): '{}'", simdjson::error_message(code),
                         excerpt(data, 100));
    return false;
  }
  *out = ChunkFields{};
  if (auto message = error_of(doc)) {
    out->is_error = true;
    out->error_message = std::move(*message);
    return true;
  }
  element choice;
  if (doc["choices"].at(0).get(choice) == simdjson::SUCCESS) {
    auto text = string_at(choice["text"]);
    if (!text) text = string_at(choice["delta"]["content"]);
    out->has_text = text && !text->empty();
  }
  out->usage = usage_of(doc);
  return true;
}

bool OpenAiJson::parse_body(std::string_view body, BodyFields* out, std::string* error) {
  if (FastFields fast; fast_fields(impl_->fast, impl_->padded, body, &fast)) {
    *out = BodyFields{};
    const int64_t text = fast.text >= 0 ? fast.text : fast.message_content;
    out->text_bytes = text > 0 ? static_cast<size_t>(text) : 0;
    out->usage = fast.usage;
    return true;
  }
  element doc;
  if (auto code = impl_->parser.parse(body.data(), body.size()).get(doc); code) {
    *error = fmt::format("response body is not JSON ({}): '{}'", simdjson::error_message(code),
                         excerpt(body, 100));
    return false;
  }
  *out = BodyFields{};
  element choice;
  if (doc["choices"].at(0).get(choice) == simdjson::SUCCESS) {
    auto text = string_at(choice["text"]);
    if (!text) text = string_at(choice["message"]["content"]);
    out->text_bytes = text ? text->size() : 0;
  }
  out->usage = usage_of(doc);
  return true;
}

std::string OpenAiJson::error_message(std::string_view body) {
  element doc;
  if (impl_->parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS) {
    if (auto message = error_of(doc)) return std::move(*message);
    if (auto message = string_at(doc["message"])) return std::string(*message);
  }
  return excerpt(body, kMaxErrorBody);
}

}  // namespace kgai
