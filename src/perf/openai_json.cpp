#include "perf/openai_json.h"

#include <cstdint>
#include <optional>

#include <simdjson.h>

#include "perf/response_parser.h"

namespace kgai::perf {

struct OpenAiJson::Impl {
  simdjson::dom::parser parser;
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

}  // namespace

OpenAiJson::OpenAiJson() : impl_(std::make_unique<Impl>()) {}
OpenAiJson::~OpenAiJson() = default;

bool OpenAiJson::parse_chunk(std::string_view data, ChunkFields* out, std::string* error) {
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

}  // namespace kgai::perf
