// The double's side of the ext_proc messages: building what Envoy sends, reading header values
// and applying header mutations the way Envoy does. Internal to the double.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"
#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "envoy_double/envoy_double.h"

namespace kgai::envoy_double::internal {

namespace ext_proc = envoy::service::ext_proc::v3;

// The largest StreamedBodyResponse chunk Envoy accepts from a processor.
inline constexpr std::size_t kMaxStreamedChunk = 62'000;

inline constexpr std::string_view kDestinationHeader = "x-gateway-destination-endpoint";
inline constexpr std::string_view kServedKey = "x-gateway-destination-endpoint-served";
inline constexpr std::string_view kLbNamespace = "envoy.lb";

// The request headers as Envoy's ext_proc filter sees them: pseudo-headers first, then the
// caller's (lower-cased), with content-type, content-length and x-request-id added when missing.
std::vector<http::Header> request_header_list(const HttpRequest& request);

// A value as a processor sent it: raw_value when set (Envoy's choice), else value.
std::string header_value(const envoy::config::core::v3::HeaderValue& header);

// Applies set_headers (with each append_action, or the deprecated append flag) and
// remove_headers to `headers`, names compared case-insensitively. Like Envoy, it ignores
// attempts to remove pseudo-headers and host.
void apply_mutation(const ext_proc::HeaderMutation& mutation, std::vector<http::Header>& headers);

// "a, b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_endpoints(std::string_view value);

void fill_header_map(const std::vector<http::Header>& headers, bool raw_values,
                     envoy::config::core::v3::HeaderMap* map);

ext_proc::ProcessingRequest headers_message(const std::vector<http::Header>& headers,
                                            bool end_of_stream, bool raw_values, bool request);
ext_proc::ProcessingRequest body_message(std::string_view bytes, bool end_of_stream, bool request);
// protocol_config for the first message of a stream.
void add_protocol_config(BodyMode mode, ext_proc::ProcessingRequest& message);
// metadata_context.filter_metadata[ns][key] = value (a string, or a list of strings).
void add_metadata(ext_proc::ProcessingRequest& message, std::string_view ns, std::string_view key,
                  const std::vector<std::string>& values, bool as_list);
// Extra fields with numbers ext_proc does not use, on the message and on its headers or body.
void add_unknown_fields(ext_proc::ProcessingRequest& message);

}  // namespace kgai::envoy_double::internal
