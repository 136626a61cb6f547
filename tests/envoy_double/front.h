// The HTTP/1.1 front of kgai-envoy-double: a client's request comes in, goes through the ext_proc
// exchange (EnvoyDouble) and on to the endpoint the processor picked, and the response streams
// back chunk by chunk as the processor returns it, so a load generator measures the whole path
// (TTFT included) as it would through Envoy.
//
// The exchanges run on worker threads (blocking gRPC and HTTP calls); the server and the
// client-facing writes stay on the event loop. Responses are written as they come, without
// waiting for a slow client (this is a test tool: no backpressure).
//
// What the client gets when things fail, as Envoy answers: an immediate response as the
// processor sent it; 500 when the processor's stream failed; 503 when there is no destination
// or the endpoint cannot be reached; 504 when the exchange ran out of time; a cut response when
// something broke after the head went out.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/event_loop.h"
#include "common/http.h"
#include "common/http_server.h"
#include "common/result.h"
#include "envoy_double/envoy_double.h"
#include "envoy_double/worker_pool.h"

namespace kgai::envoy_double {

struct FrontOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  std::string ext_proc;  // host:port of the processor
  // Mode, chunk size, protocol config, timeouts; `forward` and the callbacks are the front's.
  ExchangeOptions exchange;
  int channels = 4;
  std::size_t max_workers = 1024;  // exchanges at once; more wait in a queue
  std::size_t max_body_bytes = http::kDefaultMaxBodyBytes;
};

struct FrontStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> immediate{0};
  std::atomic<uint64_t> failed{0};      // 5xx of the double's own, or a cut response
  std::atomic<uint64_t> violations{0};  // protocol violations by the processor, summed
};

class Front {
 public:
  Front(EventLoop& loop, FrontOptions options);
  ~Front();  // waits for the exchanges in flight
  Front(const Front&) = delete;
  Front& operator=(const Front&) = delete;

  Result<uint16_t> listen();
  void stop();  // on the loop's thread

  const FrontStats& stats() const { return stats_; }

 private:
  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream);
  void exchange(HttpRequest request, std::shared_ptr<http::ResponseStream> stream,
                std::shared_ptr<std::atomic<bool>> gone);

  EventLoop& loop_;
  FrontOptions options_;
  FrontStats stats_;
  http::Server server_;
  EnvoyDouble double_;
  WorkerPool workers_;  // last: destroyed (joined) first
};

}  // namespace kgai::envoy_double
