// Reading and writing the ext_proc messages the endpoint picker deals in (Envoy's
// envoy.service.ext_proc.v3 protocol): headers out of a HeaderMap, the subset hint and the
// served endpoint out of metadata, and the answers: the destination header with its dynamic
// metadata, a body returned as streamed chunks, an OpenAI-shaped immediate response.
// Private to the ext_proc data plane: it includes the generated protobuf headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"
#include "envoy/service/ext_proc/v3/external_processor.pb.h"

namespace kgai::gateway::extproc {

namespace pb = ::envoy::service::ext_proc::v3;
namespace core = ::envoy::config::core::v3;
using BodyMode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::BodySendMode;

// Envoy's limit for one streamed body chunk an external processor sends back.
inline constexpr size_t kMaxStreamedChunk = 62'000;

// The header the picker sets, and where it also goes in dynamic metadata.
inline constexpr std::string_view kDestinationHeader = "x-gateway-destination-endpoint";
inline constexpr std::string_view kServedKey = "x-gateway-destination-endpoint-served";
inline constexpr std::string_view kLbNamespace = "envoy.lb";
inline constexpr std::string_view kSubsetNamespace = "envoy.lb.subset_hint";
inline constexpr std::string_view kSubsetKey = "x-gateway-destination-endpoint-subset";

// Each header's value from raw_value (what Envoy sends today) or value (older Envoys). Names
// as sent (Envoy lowercases them); pseudo-headers (":path", ":method", ":status") included.
std::vector<http::Header> read_headers(const core::HeaderMap& map);

// The endpoints the gateway allows (metadata_context["envoy.lb.subset_hint"]
// ["x-gateway-destination-endpoint-subset"]): a list of "ip:port" or "ip" strings, or one
// comma-separated string. Empty when absent.
std::vector<std::string> subset_hint(const core::Metadata& metadata);

// The endpoint Envoy reports having sent the request to
// (metadata_context["envoy.lb"]["x-gateway-destination-endpoint-served"]), if any.
std::optional<std::string> served_endpoint(const core::Metadata& metadata);

// Sets `name: value` (raw_value, overwriting) in `mutation`.
void set_header(pb::HeaderMutation* mutation, std::string_view name, std::string_view value);

// The routing answer carried by `common`: the destination header ("ip:port[,ip:port...]",
// primary first) and clear_route_cache, so Envoy routes on it; the same value goes into
// `response`'s dynamic metadata under envoy.lb for ORIGINAL_DST clusters that read metadata.
void set_destination(pb::ProcessingResponse* response, pb::CommonResponse* common,
                     std::string_view destination);

// Appends `body` as streamed_response chunks of at most kMaxStreamedChunk bytes, for the
// request phase (`request` true) or the response phase, the last one with `end_of_stream`.
// An empty body still gives one (empty) chunk, which carries end_of_stream.
void append_streamed_body(std::vector<pb::ProcessingResponse>& out, std::string_view body,
                          bool end_of_stream, bool request);

// An immediate response with the given HTTP answer (status, headers, body).
pb::ProcessingResponse immediate_response(const http::Response& answer);

// ":status" of response headers as a number, or 0.
int status_of(const std::vector<http::Header>& headers);

}  // namespace kgai::gateway::extproc
