// The model servers the gateway routes to, and what it knows about each: the signals scraped
// from its /metrics (perf of the engine), its health, and the gateway's own in-flight count.
// The picker sees them as a PoolSnapshot: an immutable copy published by the datastore after
// each scrape round, so a decision reads plain values without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace kgai::gateway {

// Which metric names an endpoint exposes (as each engine documents its /metrics). Kubernetes sets
// it with the pod label inference.networking.k8s.io/engine-type; the default is vllm.
enum class EngineType : uint8_t { kVllm, kSglang, kTrtllm, kTriton };

std::string_view engine_name(EngineType type);
// "vllm", "sglang", "trtllm", "triton" (case-insensitive); nullopt otherwise.
std::optional<EngineType> parse_engine(std::string_view name);

// A model server as configured (--endpoints or the endpoints file).
struct Endpoint {
  std::string address;  // "host:port": the endpoint's identity
  std::string host;
  uint16_t port = 0;
  EngineType engine = EngineType::kVllm;
  std::map<std::string, std::string> labels;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// "host:port" (a name or IPv4 address, or "[v6]:port") into an Endpoint with the default
// engine. Errors name the text: a missing or bad port, an empty host.
Result<Endpoint> parse_endpoint_address(std::string_view text);

// What an endpoint's /metrics said at its last successful scrape. Absent values are metrics
// the engine did not expose.
struct EngineMetrics {
  std::optional<double> waiting;   // queued requests
  std::optional<double> running;   // requests in the running batch
  std::optional<double> kv_usage;  // KV-cache use, 0..1
  // LoRA adapters (vLLM's lora_requests_info): active and queued adapter names, and the
  // server's adapter slots.
  std::vector<std::string> running_loras;
  std::vector<std::string> waiting_loras;
  std::optional<int> max_lora;
  // KV-cache geometry (vLLM's cache_config_info and its peers), to size the prefix index.
  std::optional<int> block_size;      // tokens per block
  std::optional<int64_t> num_blocks;  // blocks on the device

  friend bool operator==(const EngineMetrics&, const EngineMetrics&) = default;
};

// Counters the proxy updates while requests run, shared by every snapshot of one endpoint.
struct EndpointLoad {
  std::atomic<int64_t> in_flight{0};  // requests the gateway sent and not yet finished
  // Outlier detection (gateway/outlier_detector.h): the end of the current ejection as
  // steady-clock ticks (0: never ejected), and how many ejections there were.
  std::atomic<int64_t> ejected_until{0};
  std::atomic<uint64_t> ejections{0};
  // The detector's bookkeeping, under its mutex.
  std::mutex outlier_mutex;
  int consecutive_failures = 0;
  int ejection_level = 0;  // the next ejection lasts base x 2^level
};

// One endpoint in a snapshot.
struct EndpointState {
  uint32_t id = 0;  // stable while the endpoint stays configured (prefix index key)
  std::shared_ptr<const Endpoint> endpoint;
  EngineMetrics metrics;
  SteadyTime scraped_at{};  // last successful scrape (epoch: never)
  bool healthy = false;     // false after failed scrapes or connections, until one succeeds
  std::shared_ptr<EndpointLoad> load;

  int64_t in_flight() const { return load ? load->in_flight.load(std::memory_order_relaxed) : 0; }
  // Ejected by outlier detection at `now` (too many failed requests in a row).
  bool ejected(SteadyTime now) const {
    return load &&
           load->ejected_until.load(std::memory_order_relaxed) > now.time_since_epoch().count();
  }
  // May get traffic: its scrapes succeed and outlier detection has not ejected it.
  bool ready(SteadyTime now) const { return healthy && !ejected(now); }
  // Seconds since the last successful scrape (infinity if never).
  double metrics_age(SteadyTime now) const;
};

struct PoolSnapshot {
  std::vector<EndpointState> endpoints;
  SteadyTime taken_at{};
};

}  // namespace kgai::gateway
