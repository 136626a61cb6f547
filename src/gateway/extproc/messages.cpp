#include "gateway/extproc/messages.h"

#include <charconv>

#include "common/ascii.h"

namespace kgai::gateway::extproc {

std::vector<http::Header> read_headers(const core::HeaderMap& map) {
  std::vector<http::Header> out;
  out.reserve(static_cast<size_t>(map.headers_size()));
  for (const auto& h : map.headers()) {
    out.push_back({h.key(), h.raw_value().empty() ? h.value() : h.raw_value()});
  }
  return out;
}

namespace {

const google::protobuf::Value* field(const core::Metadata& metadata, std::string_view ns,
                                     std::string_view key) {
  auto s = metadata.filter_metadata().find(std::string(ns));
  if (s == metadata.filter_metadata().end()) return nullptr;
  auto f = s->second.fields().find(std::string(key));
  return f == s->second.fields().end() ? nullptr : &f->second;
}

void split_addresses(std::string_view text, std::vector<std::string>& out) {
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = ascii_trim(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace

std::vector<std::string> subset_hint(const core::Metadata& metadata) {
  std::vector<std::string> out;
  const google::protobuf::Value* v = field(metadata, kSubsetNamespace, kSubsetKey);
  if (!v) return out;
  if (v->has_list_value()) {
    for (const auto& item : v->list_value().values()) {
      if (item.has_string_value()) split_addresses(item.string_value(), out);
    }
  } else if (v->has_string_value()) {
    split_addresses(v->string_value(), out);
  }
  return out;
}

std::optional<std::string> served_endpoint(const core::Metadata& metadata) {
  const google::protobuf::Value* v = field(metadata, kLbNamespace, kServedKey);
  if (!v || !v->has_string_value() || v->string_value().empty()) return std::nullopt;
  return v->string_value();
}

void set_header(pb::HeaderMutation* mutation, std::string_view name, std::string_view value) {
  auto* option = mutation->add_set_headers();
  option->set_append_action(core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
  option->mutable_header()->set_key(std::string(name));
  option->mutable_header()->set_raw_value(std::string(value));
}

void set_destination(pb::ProcessingResponse* response, pb::CommonResponse* common,
                     std::string_view destination) {
  common->set_clear_route_cache(true);
  set_header(common->mutable_header_mutation(), kDestinationHeader, destination);
  auto& lb = (*response->mutable_dynamic_metadata()->mutable_fields())[std::string(kLbNamespace)];
  (*lb.mutable_struct_value()->mutable_fields())[std::string(kDestinationHeader)].set_string_value(
      std::string(destination));
}

void append_streamed_body(std::vector<pb::ProcessingResponse>& out, std::string_view body,
                          bool end_of_stream, bool request) {
  do {
    const std::string_view piece = body.substr(0, kMaxStreamedChunk);
    body.remove_prefix(piece.size());
    pb::ProcessingResponse& r = out.emplace_back();
    pb::BodyResponse* b = request ? r.mutable_request_body() : r.mutable_response_body();
    auto* streamed = b->mutable_response()->mutable_body_mutation()->mutable_streamed_response();
    streamed->set_body(std::string(piece));
    streamed->set_end_of_stream(end_of_stream && body.empty());
  } while (!body.empty());
}

pb::ProcessingResponse immediate_response(const http::Response& answer) {
  pb::ProcessingResponse r;
  auto* immediate = r.mutable_immediate_response();
  // Proto3 enums are open: any HTTP status travels, named in the enum or not.
  immediate->mutable_status()->set_code(static_cast<::envoy::type::v3::StatusCode>(answer.status));
  for (const auto& h : answer.headers) {
    set_header(immediate->mutable_headers(), ascii_lower(h.name), h.value);
  }
  immediate->set_body(answer.body);
  immediate->set_details("kgai_endpoint_picker");
  return r;
}

int status_of(const std::vector<http::Header>& headers) {
  const std::string_view text = http::find_header(headers, ":status");
  int status = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
  return ec == std::errc{} && end == text.data() + text.size() ? status : 0;
}

}  // namespace kgai::gateway::extproc
