// The standalone data plane of `kgai gateway`: an OpenAI-compatible reverse proxy in front of
// a pool of model servers. HTTP glue around the Director (gateway/director.h), which reads,
// admits, schedules and accounts for each request: the proxy reads POST /v1/completions and
// /v1/chat/completions, forwards to the Director's choice over a keep-alive pool, and streams
// the response back chunk by chunk as it comes, holding the endpoint back when the client
// reads slowly.
//
// Failing endpoints: a connection refused or closed before any response byte, a response
// header that does not come within header_timeout, a 5xx (500/502/503/504) or a 429 moves the
// request to the next endpoint of the ranking while nothing has reached the client yet
// (inference requests change no state, so sending one again is safe).
//
// Errors are OpenAI-shaped JSON ({"error": {"message", "type", "param", "code"}}): 400 bad
// body, 404 unknown model or path, 429 shed or queues full, 503 no ready endpoint or queue TTL
// expired, 502 upstream broke before answering, 504 upstream too slow to answer, 405 a known
// route with the wrong method. GET /health and /readyz answer 503 while no endpoint is ready;
// /healthz is liveness only; GET /v1/models lists what the pool serves.
//
// One proxy per event loop; several (one per thread, SO_REUSEPORT) share one Director.
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
#include "gateway/director.h"

namespace kgai::gateway {

struct ProxyOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;
  size_t max_body_bytes = http::kDefaultMaxBodyBytes;  // 413 beyond
  std::chrono::milliseconds connect_timeout{2'000};
  // Time to first byte: request sent -> response headers. A model server answering a
  // non-streaming request sends its headers only with the whole answer, so this bounds
  // non-streaming generations too. An attempt over it is retried elsewhere (nothing reached
  // the client yet) and counts as a failure for outlier detection.
  std::chrono::milliseconds header_timeout{120'000};
  std::chrono::milliseconds idle_timeout{300'000};  // longest gap inside a response
  double request_timeout = 600;                     // seconds for a whole request; 0 = none
  bool reuse_port = false;                          // several proxies (one per thread) on one port
  // Client connections open at once, in all and per client address (0: no cap); see
  // http::ServerOptions.
  size_t max_connections = 10'000;
  size_t max_connections_per_source = 0;
};

class Proxy {
 public:
  Proxy(EventLoop& loop, ProxyOptions options, std::shared_ptr<Director> director);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds and starts serving. Returns the port.
  // Must run on the loop's thread (or before the loop runs).
  Result<uint16_t> start();
  // Stops accepting, drops connections and in-flight upstream requests. Loop thread.
  void stop();

  // The client side's connection counters (open, refused or paused at the caps). Thread-safe.
  http::Server::Stats connection_stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kgai::gateway
