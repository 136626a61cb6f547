// One simulated vLLM server: an engine driven on the wall clock, its metrics, and the
// OpenAI-compatible HTTP API on its own port. Everything of a replica runs on one event
// loop thread; `kgai sim --replicas N` spreads N replicas over a few loops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "catalog/latency_model.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/http_server.h"
#include "common/result.h"
#include "sim/engine.h"
#include "sim/vllm_metrics.h"
#include "sim/workload.h"

namespace kgai::sim {

struct ReplicaOptions {
  int index = 0;                  // replica number, for logs and seeds
  std::string served_model_name;  // the name clients send as "model"
  std::string model_path;         // the catalog's full name, shown as "root" in /v1/models
  EngineConfig engine;
  CacheConfigInfo cache;
  std::vector<std::string> lora_modules;
  // Most adapters loaded at once (startup and /v1/load_lora_adapter together).
  int max_lora_adapters = 256;
  // Share of requests answered with an injected error (429, 500 or 503).
  double failure_rate = 0;
  // Whether the request header `x-kgai-fail: CODE` forces that error (tests of retries).
  bool allow_failure_header = false;
  uint64_t seed = 0;
  // Length at which the simulated model stops on its own when ignore_eos is not set.
  LengthDistribution natural_output = LengthDistribution::fixed(256);
  http::ServerOptions http;
};

class Replica {
 public:
  // `loop`, `clock` and `latency` must outlive the replica.
  Replica(EventLoop& loop, const RealClock& clock, const catalog::LatencyModel& latency,
          ReplicaOptions options);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Binds the port. Returns the bound port.
  Result<uint16_t> start();
  // Closes the listener and every connection; must run on the loop's thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kgai::sim
