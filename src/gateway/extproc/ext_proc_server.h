// The Envoy data plane of `kgai gateway`: an external processor (envoy.service.ext_proc.v3,
// the endpoint-picker protocol of the Gateway API Inference Extension) that Envoy-based
// gateways call for each request to an InferencePool. For each stream it reads the request's
// headers and body, asks the Director for a decision, and answers with the destination header
// Envoy routes on (x-gateway-destination-endpoint: primary, then fallbacks), or with an
// OpenAI-shaped immediate error; it then follows the response for accounting. The standard
// gRPC health service (SERVING while some endpoint is ready) answers on a port of its own and
// on the ext_proc port too.
//
// Threads: gRPC's own (its callback API); every stream is a reactor, so 10,000 open streams
// cost memory, not threads. No gRPC types in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/http.h"
#include "common/result.h"
#include "gateway/director.h"

namespace kgai::gateway::extproc {

// Envoy's ProcessingMode.BodySendMode values that the picker can work with.
enum class BodyModeOption : uint8_t { kFullDuplexStreamed, kBuffered };

struct ExtProcOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 9002;  // the Inference Gateway's endpoint-picker port
  // The gRPC health service; port 0 picks a free one. Empty address: no health server.
  std::string health_address = "0.0.0.0";
  uint16_t health_port = 9003;
  size_t max_body_bytes = http::kDefaultMaxBodyBytes;  // 413 beyond
  // The request body mode to assume when Envoy does not say in protocol_config (Envoy before
  // 1.34): as the filter is configured.
  BodyModeOption assumed_body_mode = BodyModeOption::kFullDuplexStreamed;
};

class ExtProcServer {
 public:
  ExtProcServer(ExtProcOptions options, std::shared_ptr<Director> director);
  ~ExtProcServer();  // shutdown(0)
  ExtProcServer(const ExtProcServer&) = delete;
  ExtProcServer& operator=(const ExtProcServer&) = delete;

  struct Ports {
    uint16_t ext_proc = 0;
    uint16_t health = 0;  // 0 without a health server
  };
  // Binds and serves. Errors name the address that could not be bound.
  Result<Ports> start();

  // Readiness as the health service reports it. Thread-safe.
  void set_serving(bool serving);

  // Graceful drain: health turns NOT_SERVING, no new stream is accepted, open streams may
  // finish until `drain` has passed, then they are cancelled. Idempotent.
  void shutdown(std::chrono::milliseconds drain);

  struct Stats {
    int64_t open_streams = 0;
    uint64_t streams_total = 0;
    uint64_t protocol_errors = 0;      // streams ended for breaking the protocol
    uint64_t immediate_responses = 0;  // requests answered by the picker itself (errors)
  };
  Stats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The server's counters in the Prometheus text format (kgai_gateway_ext_proc_*), for the
// gateway's /metrics.
std::string render_ext_proc_metrics(const ExtProcServer::Stats& stats);

}  // namespace kgai::gateway::extproc
