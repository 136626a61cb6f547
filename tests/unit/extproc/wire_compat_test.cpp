// Wire compatibility of kgai's ext_proc protos with Envoy's: bytes built from Envoy's field
// numbers (by hand, not by the generated code) must parse into the right fields, and kgai's
// messages must serialize to exactly those bytes. A wrong field number here would make the
// endpoint picker talk past Envoy while every in-process test still passed.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "unit/extproc/wire_format.h"

namespace kgai {
namespace {

namespace ext_proc = envoy::service::ext_proc::v3;
namespace core = envoy::config::core::v3;
using ProcessingMode = envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;
using test::wire::bytes_field;
using test::wire::varint_field;

template <typename Message>
Message parse(const std::string& bytes) {
  Message message;
  EXPECT_TRUE(message.ParseFromString(bytes));
  return message;
}

TEST(ExtProcWire, RequestHeadersWithRawValueAndEndOfStream) {
  // ProcessingRequest{request_headers(2): HttpHeaders{headers(1): HeaderMap{headers(1):
  // HeaderValue{key(1), raw_value(3)}}, end_of_stream(3)}}, spelled out byte by byte.
  const std::string bytes(
      "\x12\x0e\x0a\x0a\x0a\x08\x0a\x03x-a\x1a\x01"
      "b\x18\x01",
      16);
  auto request = parse<ext_proc::ProcessingRequest>(bytes);
  ASSERT_EQ(request.request_case(), ext_proc::ProcessingRequest::kRequestHeaders);
  ASSERT_EQ(request.request_headers().headers().headers_size(), 1);
  EXPECT_EQ(request.request_headers().headers().headers(0).key(), "x-a");
  EXPECT_EQ(request.request_headers().headers().headers(0).raw_value(), "b");
  EXPECT_EQ(request.request_headers().headers().headers(0).value(), "");
  EXPECT_TRUE(request.request_headers().end_of_stream());

  ext_proc::ProcessingRequest built;
  auto* header = built.mutable_request_headers()->mutable_headers()->add_headers();
  header->set_key("x-a");
  header->set_raw_value("b");
  built.mutable_request_headers()->set_end_of_stream(true);
  EXPECT_EQ(built.SerializeAsString(), bytes);
}

TEST(ExtProcWire, HeaderValueKeepsValueAndRawValueApart) {
  const std::string bytes =
      bytes_field(1, "k") + bytes_field(2, "text") + bytes_field(3, std::string("\xff\x00", 2));
  auto value = parse<core::HeaderValue>(bytes);
  EXPECT_EQ(value.value(), "text");
  EXPECT_EQ(value.raw_value(), std::string("\xff\x00", 2));  // raw bytes, not UTF-8
}

TEST(ExtProcWire, BodyChunksAndTheirDirection) {
  const std::string body = bytes_field(1, "hello") + varint_field(2, 1);
  auto request = parse<ext_proc::ProcessingRequest>(bytes_field(4, body));
  ASSERT_EQ(request.request_case(), ext_proc::ProcessingRequest::kRequestBody);
  EXPECT_EQ(request.request_body().body(), "hello");
  EXPECT_TRUE(request.request_body().end_of_stream());

  request = parse<ext_proc::ProcessingRequest>(bytes_field(5, body));
  EXPECT_EQ(request.request_case(), ext_proc::ProcessingRequest::kResponseBody);
  request = parse<ext_proc::ProcessingRequest>(bytes_field(3, ""));
  EXPECT_EQ(request.request_case(), ext_proc::ProcessingRequest::kResponseHeaders);
  request = parse<ext_proc::ProcessingRequest>(bytes_field(6, ""));
  EXPECT_EQ(request.request_case(), ext_proc::ProcessingRequest::kRequestTrailers);
  request = parse<ext_proc::ProcessingRequest>(bytes_field(7, ""));
  EXPECT_EQ(request.request_case(), ext_proc::ProcessingRequest::kResponseTrailers);
}

TEST(ExtProcWire, MetadataContextProtocolConfigAndObservabilityMode) {
  // Struct{fields(1): map entry{key(1), value(2): Value{string_value(3)}}}
  const std::string served =
      bytes_field(1, bytes_field(1, "x-gateway-destination-endpoint-served") +
                         bytes_field(2, bytes_field(3, "10.0.0.1:8000")));
  const std::string metadata = bytes_field(1, bytes_field(1, "envoy.lb") + bytes_field(2, served));
  const std::string bytes =
      bytes_field(3, bytes_field(1, "")) + bytes_field(8, metadata) + varint_field(10, 1) +
      bytes_field(11, varint_field(1, 4) + varint_field(2, 2) + varint_field(3, 1));
  auto request = parse<ext_proc::ProcessingRequest>(bytes);
  const auto& lb = request.metadata_context().filter_metadata().at("envoy.lb");
  EXPECT_EQ(lb.fields().at("x-gateway-destination-endpoint-served").string_value(),
            "10.0.0.1:8000");
  EXPECT_TRUE(request.observability_mode());
  EXPECT_EQ(request.protocol_config().request_body_mode(), ProcessingMode::FULL_DUPLEX_STREAMED);
  EXPECT_EQ(request.protocol_config().response_body_mode(), ProcessingMode::BUFFERED);
  EXPECT_TRUE(request.protocol_config().send_body_without_waiting_for_header_response());
}

TEST(ExtProcWire, HeadersResponseWithDestinationAndClearRouteCache) {
  // ProcessingResponse{request_headers(1): HeadersResponse{response(1): CommonResponse{
  // header_mutation(2): HeaderMutation{set_headers(1): HeaderValueOption{header(1),
  // append_action(3)}}, clear_route_cache(5)}}}
  const std::string option = bytes_field(1, bytes_field(1, "x-gateway-destination-endpoint") +
                                                bytes_field(3, "10.0.0.1:8000")) +
                             varint_field(3, 2);
  const std::string common = bytes_field(2, bytes_field(1, option)) + varint_field(5, 1);
  const std::string bytes = bytes_field(1, bytes_field(1, common));

  auto response = parse<ext_proc::ProcessingResponse>(bytes);
  ASSERT_EQ(response.response_case(), ext_proc::ProcessingResponse::kRequestHeaders);
  const auto& parsed = response.request_headers().response();
  EXPECT_TRUE(parsed.clear_route_cache());
  ASSERT_EQ(parsed.header_mutation().set_headers_size(), 1);
  const auto& set = parsed.header_mutation().set_headers(0);
  EXPECT_EQ(set.header().key(), "x-gateway-destination-endpoint");
  EXPECT_EQ(set.header().raw_value(), "10.0.0.1:8000");
  EXPECT_EQ(set.append_action(), core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);

  ext_proc::ProcessingResponse built;
  auto* common_built = built.mutable_request_headers()->mutable_response();
  auto* option_built = common_built->mutable_header_mutation()->add_set_headers();
  option_built->mutable_header()->set_key("x-gateway-destination-endpoint");
  option_built->mutable_header()->set_raw_value("10.0.0.1:8000");
  option_built->set_append_action(core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
  common_built->set_clear_route_cache(true);
  EXPECT_EQ(built.SerializeAsString(), bytes);
}

TEST(ExtProcWire, ImmediateResponseTooManyRequests) {
  // immediate_response(7): ImmediateResponse{status(1): HttpStatus{code(1)}, headers(2),
  // body(3), grpc_status(4): GrpcStatus{status(1)}, details(5)}
  const std::string immediate =
      bytes_field(1, varint_field(1, 429)) +
      bytes_field(
          2, bytes_field(1, bytes_field(1, bytes_field(1, "retry-after") + bytes_field(3, "1")))) +
      bytes_field(3, "busy") + bytes_field(4, varint_field(1, 8)) + bytes_field(5, "shed");
  const std::string bytes = bytes_field(7, immediate);

  auto response = parse<ext_proc::ProcessingResponse>(bytes);
  ASSERT_EQ(response.response_case(), ext_proc::ProcessingResponse::kImmediateResponse);
  const auto& parsed = response.immediate_response();
  EXPECT_EQ(parsed.status().code(), envoy::type::v3::TooManyRequests);
  EXPECT_EQ(parsed.headers().set_headers(0).header().key(), "retry-after");
  EXPECT_EQ(parsed.body(), "busy");
  EXPECT_EQ(parsed.grpc_status().status(), 8u);
  EXPECT_EQ(parsed.details(), "shed");

  ext_proc::ProcessingResponse built;
  auto* immediate_built = built.mutable_immediate_response();
  immediate_built->mutable_status()->set_code(envoy::type::v3::TooManyRequests);
  auto* header = immediate_built->mutable_headers()->add_set_headers()->mutable_header();
  header->set_key("retry-after");
  header->set_raw_value("1");
  immediate_built->set_body("busy");
  immediate_built->mutable_grpc_status()->set_status(8);
  immediate_built->set_details("shed");
  EXPECT_EQ(built.SerializeAsString(), bytes);
}

TEST(ExtProcWire, StatusCodesNotListedTravelAsNumbers) {
  auto status = parse<envoy::type::v3::HttpStatus>(varint_field(1, 418));
  EXPECT_EQ(static_cast<int>(status.code()), 418);
  EXPECT_EQ(status.SerializeAsString(), varint_field(1, 418));
}

TEST(ExtProcWire, StreamedBodyResponseChunk) {
  // request_body(3): BodyResponse{response(1): CommonResponse{body_mutation(3): BodyMutation{
  // streamed_response(3): StreamedBodyResponse{body(1), end_of_stream(2)}}}}
  const std::string streamed = bytes_field(1, "chunk") + varint_field(2, 1);
  const std::string bytes =
      bytes_field(3, bytes_field(1, bytes_field(3, bytes_field(3, streamed))));
  auto response = parse<ext_proc::ProcessingResponse>(bytes);
  ASSERT_EQ(response.response_case(), ext_proc::ProcessingResponse::kRequestBody);
  const auto& mutation = response.request_body().response().body_mutation();
  ASSERT_EQ(mutation.mutation_case(), ext_proc::BodyMutation::kStreamedResponse);
  EXPECT_EQ(mutation.streamed_response().body(), "chunk");
  EXPECT_TRUE(mutation.streamed_response().end_of_stream());

  ext_proc::ProcessingResponse built;
  auto* chunk = built.mutable_request_body()
                    ->mutable_response()
                    ->mutable_body_mutation()
                    ->mutable_streamed_response();
  chunk->set_body("chunk");
  chunk->set_end_of_stream(true);
  EXPECT_EQ(built.SerializeAsString(), bytes);

  // The buffered forms: body(1) and clear_body(2).
  auto whole = parse<ext_proc::BodyMutation>(bytes_field(1, "new body"));
  EXPECT_EQ(whole.body(), "new body");
  // The const getter: the non-const clear_body() is the clearer of `body`.
  const auto cleared = parse<ext_proc::BodyMutation>(varint_field(2, 1));
  EXPECT_TRUE(cleared.clear_body());
}

TEST(ExtProcWire, ResponseLevelFields) {
  // dynamic_metadata(8), mode_override(9), override_message_timeout(10), and a
  // response_body(4) answer with CONTINUE_AND_REPLACE status(1) and remove_headers.
  const std::string bytes =
      bytes_field(4, bytes_field(1, varint_field(1, 1) + bytes_field(2, bytes_field(2, "x-b")))) +
      bytes_field(8,
                  bytes_field(1, bytes_field(1, "envoy.lb") + bytes_field(2, bytes_field(5, "")))) +
      bytes_field(9, varint_field(1, 2) + varint_field(4, 4) + varint_field(6, 1)) +
      bytes_field(10, varint_field(1, 2));
  auto response = parse<ext_proc::ProcessingResponse>(bytes);
  ASSERT_EQ(response.response_case(), ext_proc::ProcessingResponse::kResponseBody);
  EXPECT_EQ(response.response_body().response().status(),
            ext_proc::CommonResponse::CONTINUE_AND_REPLACE);
  EXPECT_EQ(response.response_body().response().header_mutation().remove_headers(0), "x-b");
  EXPECT_TRUE(response.dynamic_metadata().fields().contains("envoy.lb"));
  EXPECT_EQ(response.mode_override().request_header_mode(), ProcessingMode::SKIP);
  EXPECT_EQ(response.mode_override().response_body_mode(), ProcessingMode::FULL_DUPLEX_STREAMED);
  EXPECT_EQ(response.mode_override().response_trailer_mode(), ProcessingMode::SEND);
  EXPECT_EQ(response.override_message_timeout().seconds(), 2);
}

TEST(ExtProcWire, TrailersResponseAndOtherDirections) {
  auto response = parse<ext_proc::ProcessingResponse>(
      bytes_field(6, bytes_field(1, bytes_field(2, "grpc-status"))));
  ASSERT_EQ(response.response_case(), ext_proc::ProcessingResponse::kResponseTrailers);
  EXPECT_EQ(response.response_trailers().header_mutation().remove_headers(0), "grpc-status");
  EXPECT_EQ(parse<ext_proc::ProcessingResponse>(bytes_field(2, "")).response_case(),
            ext_proc::ProcessingResponse::kResponseHeaders);
  EXPECT_EQ(parse<ext_proc::ProcessingResponse>(bytes_field(5, "")).response_case(),
            ext_proc::ProcessingResponse::kRequestTrailers);
}

TEST(ExtProcWire, UnknownFieldsAreKeptAndIgnored) {
  // A newer Envoy may send fields kgai does not know, at any depth: the known ones still parse
  // and the unknown ones survive a re-serialization.
  const std::string headers =
      bytes_field(1,
                  bytes_field(1, bytes_field(1, "a") + bytes_field(3, "b") + varint_field(77, 5))) +
      varint_field(3, 1) + bytes_field(99, "future");
  const std::string bytes = varint_field(1, 1) +  // the removed async_mode
                            bytes_field(2, headers) + varint_field(12345, 7);
  auto request = parse<ext_proc::ProcessingRequest>(bytes);
  EXPECT_EQ(request.request_headers().headers().headers(0).raw_value(), "b");
  EXPECT_TRUE(request.request_headers().end_of_stream());
  const auto& unknown = request.GetReflection()->GetUnknownFields(request);
  ASSERT_EQ(unknown.field_count(), 2);
  EXPECT_EQ(unknown.field(0).number(), 1);
  EXPECT_EQ(unknown.field(1).number(), 12345);

  auto again = parse<ext_proc::ProcessingRequest>(request.SerializeAsString());
  EXPECT_EQ(again.SerializeAsString(), request.SerializeAsString());
  EXPECT_EQ(again.request_headers()
                .GetReflection()
                ->GetUnknownFields(again.request_headers())
                .field_count(),
            1);
}

TEST(ExtProcWire, StreamedImmediateResponseIsUnknownHere) {
  // Field 11 (streamed_immediate_response in newer Envoy APIs) is reserved in kgai's proto: it
  // parses, sets no known member, and stays in the unknown fields.
  auto response = parse<ext_proc::ProcessingResponse>(bytes_field(11, bytes_field(1, "x")));
  EXPECT_EQ(response.response_case(), ext_proc::ProcessingResponse::RESPONSE_NOT_SET);
  EXPECT_EQ(response.GetReflection()->GetUnknownFields(response).field_count(), 1);
}

TEST(HealthWire, CheckRequestAndResponse) {
  auto request = parse<grpc::health::v1::HealthCheckRequest>(bytes_field(1, "svc"));
  EXPECT_EQ(request.service(), "svc");
  grpc::health::v1::HealthCheckResponse response;
  response.set_status(grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN);
  EXPECT_EQ(response.SerializeAsString(), varint_field(1, 3));
  EXPECT_EQ(parse<grpc::health::v1::HealthCheckResponse>(varint_field(1, 2)).status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
}

// Every field kgai relies on, by full name and number, as Envoy's API defines them: a change
// to a .proto that moves a number fails here with the field's name.
TEST(ExtProcWire, FieldNumbersMatchEnvoy) {
  const std::tuple<const char*, const char*, int> fields[] = {
      {"envoy.service.ext_proc.v3.ProcessingRequest", "request_headers", 2},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "response_headers", 3},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "request_body", 4},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "response_body", 5},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "request_trailers", 6},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "response_trailers", 7},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "metadata_context", 8},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "attributes", 9},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "observability_mode", 10},
      {"envoy.service.ext_proc.v3.ProcessingRequest", "protocol_config", 11},
      {"envoy.service.ext_proc.v3.ProtocolConfiguration", "request_body_mode", 1},
      {"envoy.service.ext_proc.v3.ProtocolConfiguration", "response_body_mode", 2},
      {"envoy.service.ext_proc.v3.ProtocolConfiguration",
       "send_body_without_waiting_for_header_response", 3},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "request_headers", 1},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "response_headers", 2},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "request_body", 3},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "response_body", 4},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "request_trailers", 5},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "response_trailers", 6},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "immediate_response", 7},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "dynamic_metadata", 8},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "mode_override", 9},
      {"envoy.service.ext_proc.v3.ProcessingResponse", "override_message_timeout", 10},
      {"envoy.service.ext_proc.v3.HttpHeaders", "headers", 1},
      {"envoy.service.ext_proc.v3.HttpHeaders", "attributes", 2},
      {"envoy.service.ext_proc.v3.HttpHeaders", "end_of_stream", 3},
      {"envoy.service.ext_proc.v3.HttpBody", "body", 1},
      {"envoy.service.ext_proc.v3.HttpBody", "end_of_stream", 2},
      {"envoy.service.ext_proc.v3.HttpTrailers", "trailers", 1},
      {"envoy.service.ext_proc.v3.HeadersResponse", "response", 1},
      {"envoy.service.ext_proc.v3.BodyResponse", "response", 1},
      {"envoy.service.ext_proc.v3.TrailersResponse", "header_mutation", 1},
      {"envoy.service.ext_proc.v3.CommonResponse", "status", 1},
      {"envoy.service.ext_proc.v3.CommonResponse", "header_mutation", 2},
      {"envoy.service.ext_proc.v3.CommonResponse", "body_mutation", 3},
      {"envoy.service.ext_proc.v3.CommonResponse", "trailers", 4},
      {"envoy.service.ext_proc.v3.CommonResponse", "clear_route_cache", 5},
      {"envoy.service.ext_proc.v3.ImmediateResponse", "status", 1},
      {"envoy.service.ext_proc.v3.ImmediateResponse", "headers", 2},
      {"envoy.service.ext_proc.v3.ImmediateResponse", "body", 3},
      {"envoy.service.ext_proc.v3.ImmediateResponse", "grpc_status", 4},
      {"envoy.service.ext_proc.v3.ImmediateResponse", "details", 5},
      {"envoy.service.ext_proc.v3.GrpcStatus", "status", 1},
      {"envoy.service.ext_proc.v3.HeaderMutation", "set_headers", 1},
      {"envoy.service.ext_proc.v3.HeaderMutation", "remove_headers", 2},
      {"envoy.service.ext_proc.v3.BodyMutation", "body", 1},
      {"envoy.service.ext_proc.v3.BodyMutation", "clear_body", 2},
      {"envoy.service.ext_proc.v3.BodyMutation", "streamed_response", 3},
      {"envoy.service.ext_proc.v3.StreamedBodyResponse", "body", 1},
      {"envoy.service.ext_proc.v3.StreamedBodyResponse", "end_of_stream", 2},
      {"envoy.config.core.v3.HeaderValue", "key", 1},
      {"envoy.config.core.v3.HeaderValue", "value", 2},
      {"envoy.config.core.v3.HeaderValue", "raw_value", 3},
      {"envoy.config.core.v3.HeaderValueOption", "header", 1},
      {"envoy.config.core.v3.HeaderValueOption", "append", 2},
      {"envoy.config.core.v3.HeaderValueOption", "append_action", 3},
      {"envoy.config.core.v3.HeaderValueOption", "keep_empty_value", 4},
      {"envoy.config.core.v3.HeaderMap", "headers", 1},
      {"envoy.config.core.v3.Metadata", "filter_metadata", 1},
      {"envoy.config.core.v3.Metadata", "typed_filter_metadata", 2},
      {"envoy.type.v3.HttpStatus", "code", 1},
      {"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode", "request_header_mode", 1},
      {"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode", "response_header_mode", 2},
      {"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode", "request_body_mode", 3},
      {"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode", "response_body_mode", 4},
      {"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode", "request_trailer_mode", 5},
      {"envoy.extensions.filters.http.ext_proc.v3.ProcessingMode", "response_trailer_mode", 6},
      {"grpc.health.v1.HealthCheckRequest", "service", 1},
      {"grpc.health.v1.HealthCheckResponse", "status", 1},
  };
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  // Linking the messages in: the pool only knows files whose generated code is in the binary.
  ext_proc::ProcessingRequest link_request;
  grpc::health::v1::HealthCheckRequest link_health;
  for (const auto& [message, field, number] : fields) {
    const auto* descriptor = pool->FindMessageTypeByName(message);
    ASSERT_NE(descriptor, nullptr) << message;
    const auto* found = descriptor->FindFieldByName(field);
    ASSERT_NE(found, nullptr) << message << "." << field;
    EXPECT_EQ(found->number(), number) << message << "." << field;
  }
}

TEST(ExtProcWire, EnumValuesMatchEnvoy) {
  EXPECT_EQ(ProcessingMode::NONE, 0);
  EXPECT_EQ(ProcessingMode::STREAMED, 1);
  EXPECT_EQ(ProcessingMode::BUFFERED, 2);
  EXPECT_EQ(ProcessingMode::BUFFERED_PARTIAL, 3);
  EXPECT_EQ(ProcessingMode::FULL_DUPLEX_STREAMED, 4);
  EXPECT_EQ(ProcessingMode::DEFAULT, 0);
  EXPECT_EQ(ProcessingMode::SEND, 1);
  EXPECT_EQ(ProcessingMode::SKIP, 2);
  EXPECT_EQ(ext_proc::CommonResponse::CONTINUE, 0);
  EXPECT_EQ(ext_proc::CommonResponse::CONTINUE_AND_REPLACE, 1);
  EXPECT_EQ(core::HeaderValueOption::APPEND_IF_EXISTS_OR_ADD, 0);
  EXPECT_EQ(core::HeaderValueOption::ADD_IF_ABSENT, 1);
  EXPECT_EQ(core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD, 2);
  EXPECT_EQ(core::HeaderValueOption::OVERWRITE_IF_EXISTS, 3);
  EXPECT_EQ(envoy::type::v3::Empty, 0);
  EXPECT_EQ(envoy::type::v3::OK, 200);
  EXPECT_EQ(envoy::type::v3::BadRequest, 400);
  EXPECT_EQ(envoy::type::v3::NotFound, 404);
  EXPECT_EQ(envoy::type::v3::PayloadTooLarge, 413);
  EXPECT_EQ(envoy::type::v3::TooManyRequests, 429);
  EXPECT_EQ(envoy::type::v3::InternalServerError, 500);
  EXPECT_EQ(envoy::type::v3::BadGateway, 502);
  EXPECT_EQ(envoy::type::v3::ServiceUnavailable, 503);
  EXPECT_EQ(envoy::type::v3::GatewayTimeout, 504);
  using Health = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(Health::UNKNOWN, 0);
  EXPECT_EQ(Health::SERVING, 1);
  EXPECT_EQ(Health::NOT_SERVING, 2);
  EXPECT_EQ(Health::SERVICE_UNKNOWN, 3);
}

// The gRPC method paths are part of the wire too (HTTP/2 :path).
TEST(ExtProcWire, ServiceAndMethodNames) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  const auto* ext_proc_service =
      pool->FindServiceByName("envoy.service.ext_proc.v3.ExternalProcessor");
  ASSERT_NE(ext_proc_service, nullptr);
  const auto* process = ext_proc_service->FindMethodByName("Process");
  ASSERT_NE(process, nullptr);
  EXPECT_TRUE(process->client_streaming());
  EXPECT_TRUE(process->server_streaming());
  EXPECT_EQ(process->input_type()->full_name(), "envoy.service.ext_proc.v3.ProcessingRequest");
  EXPECT_EQ(process->output_type()->full_name(), "envoy.service.ext_proc.v3.ProcessingResponse");

  const auto* health = pool->FindServiceByName("grpc.health.v1.Health");
  ASSERT_NE(health, nullptr);
  ASSERT_NE(health->FindMethodByName("Check"), nullptr);
  EXPECT_FALSE(health->FindMethodByName("Check")->server_streaming());
  ASSERT_NE(health->FindMethodByName("Watch"), nullptr);
  EXPECT_TRUE(health->FindMethodByName("Watch")->server_streaming());
}

}  // namespace
}  // namespace kgai
