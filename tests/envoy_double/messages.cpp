#include "envoy_double/messages.h"

#include <atomic>
#include <chrono>
#include <cstdint>

#include <fmt/core.h>

#include "common/ascii.h"

namespace kgai::envoy_double::internal {
namespace {

namespace core = envoy::config::core::v3;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool has(const std::vector<http::Header>& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (ascii_iequals(header.name, name)) return true;
  }
  return false;
}

// Envoy generates an x-request-id (a UUID) for each request that lacks one; the endpoint
// picker logs and tracks requests by it.
std::string make_request_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t process_salt =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  return fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", process_salt & 0xffffffff,
                     (process_salt >> 32) & 0xffff, (n >> 48) & 0xfff, (n >> 36) & 0xfff,
                     n & 0xffffffffffff);
}

void erase_all(std::vector<http::Header>& headers, std::string_view name) {
  std::erase_if(headers, [&](const http::Header& h) { return ascii_iequals(h.name, name); });
}

}  // namespace

std::vector<http::Header> request_header_list(const HttpRequest& request) {
  std::vector<http::Header> out = {
      {":authority", request.authority},
      {":path", request.path},
      {":method", request.method},
      {":scheme", "http"},
  };
  for (const auto& header : request.headers) out.push_back({lower(header.name), header.value});
  const bool has_body = !request.body.empty();
  if (has_body && !has(out, "content-type")) out.push_back({"content-type", "application/json"});
  const bool sends_length =
      has_body || request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  if (sends_length && !has(out, "content-length")) {
    out.push_back({"content-length", std::to_string(request.body.size())});
  }
  if (!has(out, "x-request-id")) out.push_back({"x-request-id", make_request_id()});
  return out;
}

std::string header_value(const core::HeaderValue& header) {
  return header.raw_value().empty() ? header.value() : header.raw_value();
}

void apply_mutation(const ext_proc::HeaderMutation& mutation, std::vector<http::Header>& headers) {
  for (const auto& option : mutation.set_headers()) {
    const std::string name = lower(option.header().key());
    const std::string value = header_value(option.header());
    if (value.empty() && !option.keep_empty_value()) continue;  // Envoy skips empty values
    auto action = option.append_action();
    // The deprecated flag is still what older processors send, and Envoy still honours it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (option.has_append()) {
      action = option.append().value() ? core::HeaderValueOption::APPEND_IF_EXISTS_OR_ADD
                                       : core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD;
    }
#pragma GCC diagnostic pop
    const bool exists = has(headers, name);
    switch (action) {
      case core::HeaderValueOption::ADD_IF_ABSENT:
        if (!exists) headers.push_back({name, value});
        break;
      case core::HeaderValueOption::OVERWRITE_IF_EXISTS:
        if (!exists) break;
        [[fallthrough]];
      case core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD:
        erase_all(headers, name);
        headers.push_back({name, value});
        break;
      default:  // APPEND_IF_EXISTS_OR_ADD
        headers.push_back({name, value});
        break;
    }
  }
  for (const auto& name : mutation.remove_headers()) {
    if (name.starts_with(':') || ascii_iequals(name, "host")) continue;
    erase_all(headers, name);
  }
}

std::vector<std::string> split_endpoints(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

void fill_header_map(const std::vector<http::Header>& headers, bool raw_values,
                     core::HeaderMap* map) {
  for (const auto& header : headers) {
    core::HeaderValue* value = map->add_headers();
    value->set_key(header.name);
    if (raw_values) {
      value->set_raw_value(header.value);
    } else {
      value->set_value(header.value);
    }
  }
}

ext_proc::ProcessingRequest headers_message(const std::vector<http::Header>& headers,
                                            bool end_of_stream, bool raw_values, bool request) {
  ext_proc::ProcessingRequest message;
  ext_proc::HttpHeaders* http_headers =
      request ? message.mutable_request_headers() : message.mutable_response_headers();
  fill_header_map(headers, raw_values, http_headers->mutable_headers());
  http_headers->set_end_of_stream(end_of_stream);
  return message;
}

ext_proc::ProcessingRequest body_message(std::string_view bytes, bool end_of_stream, bool request) {
  ext_proc::ProcessingRequest message;
  ext_proc::HttpBody* body =
      request ? message.mutable_request_body() : message.mutable_response_body();
  body->set_body(std::string(bytes));
  body->set_end_of_stream(end_of_stream);
  return message;
}

void add_protocol_config(BodyMode mode, ext_proc::ProcessingRequest& message) {
  using ProcessingMode = envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;
  const auto body_mode = mode == BodyMode::kFullDuplexStreamed
                             ? ProcessingMode::FULL_DUPLEX_STREAMED
                             : ProcessingMode::BUFFERED;
  auto* config = message.mutable_protocol_config();
  config->set_request_body_mode(body_mode);
  config->set_response_body_mode(body_mode);
}

void add_metadata(ext_proc::ProcessingRequest& message, std::string_view ns, std::string_view key,
                  const std::vector<std::string>& values, bool as_list) {
  auto& fields = (*message.mutable_metadata_context()->mutable_filter_metadata())[std::string(ns)];
  auto& value = (*fields.mutable_fields())[std::string(key)];
  if (as_list) {
    for (const auto& item : values)
      value.mutable_list_value()->add_values()->set_string_value(item);
  } else {
    value.set_string_value(values.empty() ? "" : values.front());
  }
}

void add_unknown_fields(ext_proc::ProcessingRequest& message) {
  // Numbers far above Envoy's (which stop at 11): a newer peer's fields, as far as the
  // processor can tell.
  auto* unknown = message.GetReflection()->MutableUnknownFields(&message);
  unknown->AddVarint(9'999, 1);
  unknown->AddLengthDelimited(10'000, "kgai-envoy-double");
  google::protobuf::Message* inner = nullptr;
  switch (message.request_case()) {
    case ext_proc::ProcessingRequest::kRequestHeaders:
      inner = message.mutable_request_headers();
      break;
    case ext_proc::ProcessingRequest::kResponseHeaders:
      inner = message.mutable_response_headers();
      break;
    case ext_proc::ProcessingRequest::kRequestBody:
      inner = message.mutable_request_body();
      break;
    case ext_proc::ProcessingRequest::kResponseBody:
      inner = message.mutable_response_body();
      break;
    default:
      break;
  }
  if (inner != nullptr) {
    inner->GetReflection()->MutableUnknownFields(inner)->AddVarint(4'242, 42);
  }
}

}  // namespace kgai::envoy_double::internal
