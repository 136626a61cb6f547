#include "gateway/extproc/ext_proc_server.h"

#include <grpcpp/grpcpp.h>

#include <fmt/format.h>

#include "common/prometheus.h"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "gateway/extproc/health_service.h"
#include "gateway/extproc/process_stream.h"

namespace kgai::gateway::extproc {

namespace {

using Mode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;

class ExternalProcessorService final : public pb::ExternalProcessor::CallbackService {
 public:
  explicit ExternalProcessorService(std::shared_ptr<StreamContext> context)
      : context_(std::move(context)) {}

  grpc::ServerBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse>* Process(
      grpc::CallbackServerContext*) override {
    return ProcessStream::start(context_);
  }

 private:
  std::shared_ptr<StreamContext> context_;
};

// A listening address for gRPC: "host:port", IPv6 hosts in brackets.
std::string grpc_address(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return fmt::format("[{}]:{}", host, port);
  }
  return fmt::format("{}:{}", host, port);
}

}  // namespace

struct ExtProcServer::Impl {
  ExtProcOptions options;
  std::shared_ptr<StreamContext> context;
  std::unique_ptr<ExternalProcessorService> service;
  HealthService health;
  // The same status on the ext_proc port as well: some gateways health-check the picker
  // where they talk to it (a gRPC service can be registered on one server only).
  HealthService ext_proc_health;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::Server> health_server;
  bool shut_down = false;
};

ExtProcServer::ExtProcServer(ExtProcOptions options, std::shared_ptr<Director> director)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->context = std::make_shared<StreamContext>();
  impl_->context->director = std::move(director);
  StreamOptions& s = impl_->context->options;
  s.max_body_bytes = impl_->options.max_body_bytes;
  s.request_body_mode = impl_->options.assumed_body_mode == BodyModeOption::kBuffered
                            ? Mode::BUFFERED
                            : Mode::FULL_DUPLEX_STREAMED;
  s.response_body_mode = s.request_body_mode;
  impl_->service = std::make_unique<ExternalProcessorService>(impl_->context);
}

ExtProcServer::~ExtProcServer() { shutdown(std::chrono::milliseconds(0)); }

Result<ExtProcServer::Ports> ExtProcServer::start() {
  Ports ports;
  int bound = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(grpc_address(impl_->options.address, impl_->options.port),
                           grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(impl_->service.get());
  register_health_service(builder, impl_->ext_proc_health);
  // A BUFFERED body arrives as one message: room for the largest body the gateway accepts.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<size_t>(impl_->options.max_body_bytes + (1 << 20), INT32_MAX)));
  // Envoy keeps one HTTP/2 connection with many streams: do not let gRPC's default cap on
  // concurrent streams per connection (100 in some versions) throttle it.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1 << 20);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || bound == 0) {
    return fail("--ext-proc-listen {}:{}: cannot listen there (address in use or not local?)",
                impl_->options.address, impl_->options.port);
  }
  ports.ext_proc = static_cast<uint16_t>(bound);
  if (!impl_->options.health_address.empty()) {
    int health_bound = 0;
    grpc::ServerBuilder hb;
    hb.AddListeningPort(grpc_address(impl_->options.health_address, impl_->options.health_port),
                        grpc::InsecureServerCredentials(), &health_bound);
    register_health_service(hb, impl_->health);
    impl_->health_server = hb.BuildAndStart();
    if (!impl_->health_server || health_bound == 0) {
      impl_->server->Shutdown();
      return fail("--health-listen {}:{}: cannot listen there (address in use or not local?)",
                  impl_->options.health_address, impl_->options.health_port);
    }
    ports.health = static_cast<uint16_t>(health_bound);
  }
  return ports;
}

void ExtProcServer::set_serving(bool serving) {
  impl_->health.set_serving(serving);
  impl_->ext_proc_health.set_serving(serving);
}

void ExtProcServer::shutdown(std::chrono::milliseconds drain) {
  if (!impl_ || impl_->shut_down) return;
  impl_->shut_down = true;
  // Readiness first: load balancers stop sending while open streams finish.
  impl_->health.set_serving(false);
  impl_->ext_proc_health.set_serving(false);
  // Watch streams never end on their own; the server waits for open streams.
  impl_->ext_proc_health.shutdown();
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + drain);
    impl_->server->Wait();
  }
  impl_->health.shutdown();
  if (impl_->health_server) {
    impl_->health_server->Shutdown(std::chrono::system_clock::now());
    impl_->health_server->Wait();
  }
}

ExtProcServer::Stats ExtProcServer::stats() const {
  const StreamCounters& c = impl_->context->counters;
  return {c.open.load(std::memory_order_relaxed), c.total.load(std::memory_order_relaxed),
          c.protocol_errors.load(std::memory_order_relaxed),
          c.immediate_responses.load(std::memory_order_relaxed)};
}

std::string render_ext_proc_metrics(const ExtProcServer::Stats& stats) {
  using prom::MetricType;
  prom::TextWriter w;
  auto gauge = [&](const char* name, const char* help, double value) {
    w.family(name, MetricType::kGauge, help);
    w.sample(name, {}, value);
  };
  auto counter = [&](const char* name, const char* help, double value) {
    w.family(name, MetricType::kCounter, help);
    w.sample(name, {}, value);
  };
  gauge("kgai_gateway_ext_proc_streams", "ext_proc streams open now (one per request in Envoy).",
        static_cast<double>(stats.open_streams));
  counter("kgai_gateway_ext_proc_streams_total", "ext_proc streams opened.",
          static_cast<double>(stats.streams_total));
  counter("kgai_gateway_ext_proc_protocol_errors_total",
          "ext_proc streams ended with INVALID_ARGUMENT for breaking the protocol (a body before "
          "headers, two header messages, a message without a phase).",
          static_cast<double>(stats.protocol_errors));
  counter("kgai_gateway_ext_proc_immediate_responses_total",
          "Requests the picker answered itself through Envoy (OpenAI-shaped errors: 400, 404, "
          "413, 429, 503).",
          static_cast<double>(stats.immediate_responses));
  return w.take();
}

}  // namespace kgai::gateway::extproc
