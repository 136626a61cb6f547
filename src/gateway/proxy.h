// The standalone data plane of `kgai gateway`: an OpenAI-compatible reverse proxy in front of
// a pool of model servers. For each POST /v1/completions or /v1/chat/completions it reads the
// body once (gateway/request_info.h), applies model rewrites, sheds or queues by priority
// (saturation, flow control), asks the scheduler for a ranked list of endpoints, forwards to
// the best over a keep-alive pool, and streams the response back chunk by chunk as it comes.
// A connection refused or closed before any response byte moves the request to the next
// endpoint of the ranking (at most max_attempts endpoints in all); a client that goes away
// cancels the upstream request.
//
// Errors are OpenAI-shaped JSON ({"error": {"message", "type", "param", "code"}}): 400 bad
// body, 404 unknown model or path, 429 shed or queues full, 503 no ready endpoint or queue TTL
// expired, 502 upstream broke before answering, 504 upstream too slow to answer, 405 a known
// route with the wrong method.
//
// Failing endpoints: a connection refused or closed before any response byte, a response
// header that does not come within header_timeout, or a 5xx status moves the request to the
// next endpoint of the ranking while nothing has reached the client yet (inference requests
// change no state, so sending one again is safe), and counts towards the endpoint's ejection
// (gateway/outlier_detector.h). GET /health and /readyz answer 503 while no endpoint is ready;
// /healthz is liveness only.
//
// Single-threaded: everything runs on the EventLoop given (one core serves tens of thousands
// of requests per second; the picker's state is shared and thread-safe for more loops later).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/event_loop.h"
#include "common/http.h"
#include "common/http_server.h"
#include "common/result.h"
#include "gateway/config.h"
#include "gateway/datastore.h"
#include "gateway/flow_control.h"
#include "gateway/outlier_detector.h"

namespace kgai::gateway {

struct ProxyOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;
  size_t max_body_bytes = http::kDefaultMaxBodyBytes;  // 413 beyond
  int max_attempts = 3;                                // endpoints tried for one request
  std::chrono::milliseconds connect_timeout{2'000};
  // Time to first byte: request sent -> response headers. A model server answering a
  // non-streaming request sends its headers only with the whole answer, so this bounds
  // non-streaming generations too. An attempt over it is retried elsewhere (nothing reached
  // the client yet) and counts as a failure for outlier detection.
  std::chrono::milliseconds header_timeout{120'000};
  std::chrono::milliseconds idle_timeout{300'000};  // longest gap inside a response
  double request_timeout = 600;                     // seconds for a whole request; 0 = none
  std::chrono::milliseconds models_refresh{5'000};  // how often /v1/models is re-read
  bool reuse_port = false;                          // several proxies (one per thread) on one port
  // What a client may learn about the pool: the decision trace (x-kgai-debug: 1 ->
  // x-kgai-decision), the x-gateway-destination-endpoint-served response header, and endpoint
  // addresses in error bodies. Off by default: they map the pool for whoever asks.
  bool expose_debug = false;
  // The header whose value names the request's objective (and so its priority). Whoever can
  // set it can raise their own priority: behind a Gateway, name a header that the Gateway
  // sets and strips from client requests. Empty: no objective is read (priority 0 for all).
  std::string objective_header = "x-gateway-inference-objective";
  OutlierOptions outliers;
  // Client connections open at once, in all and per client address (0: no cap); see
  // http::ServerOptions.
  size_t max_connections = 10'000;
  size_t max_connections_per_source = 0;
};

// What the proxy reports as it works (the gateway's /metrics implements it).
class ProxyEvents {
 public:
  virtual ~ProxyEvents() = default;
  // code: the status sent to the client; 499 when the client went away first.
  virtual void request_done(std::string_view model, std::string_view objective, int code,
                            double seconds, std::optional<double> ttft, int64_t input_tokens,
                            int64_t output_tokens) = 0;
  virtual void decision(std::string_view endpoint, double seconds) = 0;
  virtual void retry(std::string_view endpoint) = 0;
  virtual void shed(std::string_view model) = 0;
};

class Proxy {
 public:
  // `datastore` and `events` (may be null) must outlive the proxy.
  Proxy(EventLoop& loop, ProxyOptions options, GatewayConfig config, Datastore& datastore,
        ProxyEvents* events);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds and starts serving (and the flow-control and model-list timers). Returns the port.
  // Must run on the loop's thread (or before the loop runs).
  Result<uint16_t> start();
  // Stops accepting, drops connections and in-flight upstream requests. Loop thread.
  void stop();

  // Flow-control queue state and the pool's saturation, for /metrics. Thread-safe.
  FlowController::Stats flow_stats() const;
  double saturation() const;
  // The client side's connection counters (open, refused or paused at the caps). Thread-safe.
  http::Server::Stats connection_stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kgai::gateway
