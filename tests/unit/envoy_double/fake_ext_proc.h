// A small ext_proc processor for the Envoy double's tests: it picks a fixed destination and
// echoes bodies back, the way the Inference Gateway's endpoint picker does (headers answered
// once the whole request body is in, then the body streamed back), and can be told to break
// the protocol in one way or another. It records what it saw, so tests can check what the
// double sent.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"

namespace kgai::testing {

namespace ext_proc = envoy::service::ext_proc::v3;

struct FakeProcessorConfig {
  bool buffered = false;  // answer as for BUFFERED (one body answer with a mutation)
  std::string destination;
  // FULL_DUPLEX: streamed chunk size of the echoed request body.
  std::size_t echo_chunk = 62'000;
  // Replaces the first occurrence of `rewrite_from` in the request body.
  std::string rewrite_from;
  std::string rewrite_to;
  bool immediate_429 = false;
  bool destination_in_value = false;  // `value` instead of `raw_value`
  // Protocol breaks.
  bool body_before_headers_answer = false;
  bool two_headers_answers = false;
  bool no_end_of_stream = false;  // the echo's last chunk lacks end_of_stream; then it ends
  bool linger_after_half_close = false;
};

// What the processor saw on its latest stream.
struct FakeProcessorRecord {
  std::vector<std::string> events;
  std::map<std::string, std::string> request_headers;
  bool protocol_config = false;
  int protocol_request_body_mode = -1;
  std::string served_endpoint;
  std::vector<std::string> subset_hint;
  std::string request_body;
  int unknown_fields = 0;
  bool cancelled = false;
  int streams = 0;
};

class FakeProcessor final : public ext_proc::ExternalProcessor::Service {
 public:
  explicit FakeProcessor(FakeProcessorConfig config) : config_(std::move(config)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(-1);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeProcessor() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  std::string target() const { return fmt::format("127.0.0.1:{}", port_); }
  void set_destination(std::string destination) {
    std::lock_guard lock(mu_);
    config_.destination = std::move(destination);
  }
  FakeProcessorRecord record() const {
    std::lock_guard lock(mu_);
    return record_;
  }

  grpc::Status Process(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<ext_proc::ProcessingResponse,
                                                ext_proc::ProcessingRequest>* stream) override {
    FakeProcessorConfig config;
    {
      std::lock_guard lock(mu_);
      config = config_;
      record_ = FakeProcessorRecord{};
      record_.streams = ++streams_;
    }
    Stream s{config, context, stream};
    grpc::Status status = run(s);
    std::lock_guard lock(mu_);
    record_.cancelled = context->IsCancelled();
    return status;
  }

 private:
  struct Stream {
    const FakeProcessorConfig& config;
    grpc::ServerContext* context;
    grpc::ServerReaderWriter<ext_proc::ProcessingResponse, ext_proc::ProcessingRequest>* io;
    bool headers_seen = false;
    bool headers_answered = false;
    bool body_expected = false;
    bool body_complete = false;
    std::string body;
  };

  void event(std::string text) {
    std::lock_guard lock(mu_);
    record_.events.push_back(std::move(text));
  }

  static int unknown_count(const google::protobuf::Message& message) {
    return message.GetReflection()->GetUnknownFields(message).field_count();
  }

  // Each handler returns the status to end the stream with, or nothing to go on.
  using Next = std::optional<grpc::Status>;

  grpc::Status run(Stream& s) {
    ext_proc::ProcessingRequest request;
    while (s.io->Read(&request)) {
      note(request);
      std::optional<grpc::Status> end;
      switch (request.request_case()) {
        case ext_proc::ProcessingRequest::kRequestHeaders:
          end = on_request_headers(s, request.request_headers());
          break;
        case ext_proc::ProcessingRequest::kRequestBody:
          end = on_request_body(s, request.request_body());
          break;
        case ext_proc::ProcessingRequest::kResponseHeaders:
          end = on_response_headers(s, request);
          break;
        case ext_proc::ProcessingRequest::kResponseBody:
          end = on_response_body(s, request.response_body());
          break;
        default:
          end = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unexpected message");
          break;
      }
      if (end) return *end;
      request.Clear();
    }
    event("half-close");
    if (s.config.linger_after_half_close) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!s.context->IsCancelled() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (s.body_expected && !s.body_complete) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "request body ended without end_of_stream");
    }
    return grpc::Status::OK;
  }

  void note(const ext_proc::ProcessingRequest& request) {
    std::lock_guard lock(mu_);
    record_.unknown_fields += unknown_count(request);
    if (request.has_request_headers())
      record_.unknown_fields += unknown_count(request.request_headers());
    if (request.has_request_body()) record_.unknown_fields += unknown_count(request.request_body());
    const auto& metadata = request.metadata_context().filter_metadata();
    if (auto hint = metadata.find("envoy.lb.subset_hint"); hint != metadata.end()) {
      auto it = hint->second.fields().find("x-gateway-destination-endpoint-subset");
      if (it != hint->second.fields().end()) {
        for (const auto& v : it->second.list_value().values()) {
          record_.subset_hint.push_back(v.string_value());
        }
      }
    }
    if (request.has_protocol_config()) {
      record_.protocol_config = true;
      record_.protocol_request_body_mode = request.protocol_config().request_body_mode();
    }
  }

  static std::string value_of(const envoy::config::core::v3::HeaderValue& header) {
    return header.raw_value().empty() ? header.value() : header.raw_value();
  }

  bool send(Stream& s, const ext_proc::ProcessingResponse& response) {
    return s.io->Write(response);
  }

  Next on_request_headers(Stream& s, const ext_proc::HttpHeaders& headers) {
    event(fmt::format("request_headers eos={}", headers.end_of_stream() ? 1 : 0));
    if (s.headers_seen) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "second request_headers");
    }
    s.headers_seen = true;
    s.body_expected = !headers.end_of_stream();
    {
      std::lock_guard lock(mu_);
      for (const auto& header : headers.headers().headers()) {
        record_.request_headers[header.key()] = value_of(header);
      }
    }
    if (!s.body_expected || s.config.buffered) return answer_headers(s);
    return std::nullopt;  // full duplex: answered once the body is in, as the picker does
  }

  Next answer_headers(Stream& s) {
    ext_proc::ProcessingResponse response;
    if (s.config.immediate_429) {
      auto* immediate = response.mutable_immediate_response();
      immediate->mutable_status()->set_code(envoy::type::v3::TooManyRequests);
      auto* header = immediate->mutable_headers()->add_set_headers()->mutable_header();
      header->set_key("retry-after");
      header->set_raw_value("1");
      immediate->set_body("busy");
      immediate->set_details("shed");
      send(s, response);
      event("answer immediate");
      return grpc::Status::OK;
    }
    auto* common = response.mutable_request_headers()->mutable_response();
    common->set_clear_route_cache(true);
    auto* option = common->mutable_header_mutation()->add_set_headers();
    option->mutable_header()->set_key("x-gateway-destination-endpoint");
    if (s.config.destination_in_value) {
      option->mutable_header()->set_value(s.config.destination);
    } else {
      option->mutable_header()->set_raw_value(s.config.destination);
    }
    option->set_append_action(
        envoy::config::core::v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
    auto& lb = (*response.mutable_dynamic_metadata()->mutable_fields())["envoy.lb"];
    (*lb.mutable_struct_value()->mutable_fields())["x-gateway-destination-endpoint"]
        .set_string_value(s.config.destination);
    send(s, response);
    if (s.config.two_headers_answers) send(s, response);
    s.headers_answered = true;
    event("answer request_headers");
    return std::nullopt;
  }

  std::string rewritten(const Stream& s) const {
    std::string body = s.body;
    if (!s.config.rewrite_from.empty()) {
      if (auto at = body.find(s.config.rewrite_from); at != std::string::npos) {
        body.replace(at, s.config.rewrite_from.size(), s.config.rewrite_to);
      }
    }
    return body;
  }

  Next on_request_body(Stream& s, const ext_proc::HttpBody& body) {
    event(fmt::format("request_body {} eos={}", body.body().size(), body.end_of_stream() ? 1 : 0));
    if (!s.headers_seen) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "request_body before request_headers");
    }
    s.body += body.body();
    if (!body.end_of_stream()) return std::nullopt;
    s.body_complete = true;
    {
      std::lock_guard lock(mu_);
      record_.request_body = s.body;
    }
    const std::string out = rewritten(s);
    if (s.config.buffered) {
      ext_proc::ProcessingResponse response;
      auto* common = response.mutable_request_body()->mutable_response();
      if (out != s.body) common->mutable_body_mutation()->set_body(out);
      send(s, response);
      event("answer request_body");
      return std::nullopt;
    }
    if (s.config.body_before_headers_answer) stream_body(s, out, /*request=*/true);
    if (Next end = answer_headers(s)) return end;
    if (!s.config.body_before_headers_answer) stream_body(s, out, /*request=*/true);
    if (s.config.no_end_of_stream) return grpc::Status::OK;  // ends without the last chunk's flag
    return std::nullopt;
  }

  void stream_body(Stream& s, const std::string& body, bool request) {
    const std::size_t size = std::max<std::size_t>(1, s.config.echo_chunk);
    std::size_t offset = 0;
    do {
      const std::string piece = body.substr(offset, size);
      offset += size;
      const bool last = offset >= body.size();
      ext_proc::ProcessingResponse response;
      auto* common = request ? response.mutable_request_body()->mutable_response()
                             : response.mutable_response_body()->mutable_response();
      auto* chunk = common->mutable_body_mutation()->mutable_streamed_response();
      chunk->set_body(piece);
      chunk->set_end_of_stream(last && !s.config.no_end_of_stream);
      send(s, response);
    } while (offset < body.size());
  }

  Next on_response_headers(Stream& s, const ext_proc::ProcessingRequest& request) {
    event(
        fmt::format("response_headers eos={}", request.response_headers().end_of_stream() ? 1 : 0));
    {
      std::lock_guard lock(mu_);
      const auto& metadata = request.metadata_context().filter_metadata();
      if (auto lb = metadata.find("envoy.lb"); lb != metadata.end()) {
        auto it = lb->second.fields().find("x-gateway-destination-endpoint-served");
        if (it != lb->second.fields().end()) record_.served_endpoint = it->second.string_value();
      }
    }
    ext_proc::ProcessingResponse response;
    auto* option = response.mutable_response_headers()
                       ->mutable_response()
                       ->mutable_header_mutation()
                       ->add_set_headers();
    option->mutable_header()->set_key("x-fake-processor");
    option->mutable_header()->set_raw_value("seen");
    send(s, response);
    return std::nullopt;
  }

  Next on_response_body(Stream& s, const ext_proc::HttpBody& body) {
    event(fmt::format("response_body {} eos={}", body.body().size(), body.end_of_stream() ? 1 : 0));
    ext_proc::ProcessingResponse response;
    auto* common = response.mutable_response_body()->mutable_response();
    if (!s.config.buffered) {
      auto* chunk = common->mutable_body_mutation()->mutable_streamed_response();
      chunk->set_body(body.body());
      chunk->set_end_of_stream(body.end_of_stream());
    }
    send(s, response);
    return std::nullopt;
  }

  mutable std::mutex mu_;
  FakeProcessorConfig config_;
  FakeProcessorRecord record_;
  int streams_ = 0;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace kgai::testing
