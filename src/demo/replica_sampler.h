// Watches the simulated replicas while a policy runs: every interval it reads each replica's
// /metrics (vLLM's names) for its running and waiting requests, and at the end the counters
// that tell how the policy spread the load: prefix-cache hits and queries, requests served.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "demo/demo_result.h"

namespace kgai::demo {

// The counters of one replica's /metrics page that the demo reads.
struct ReplicaCounters {
  double running = 0;
  double waiting = 0;
  double prefix_hits = 0;     // tokens
  double prefix_queries = 0;  // tokens
  double requests = 0;        // vllm:request_success_total, all finish reasons
};

// Reads them from exposition text; an error for a page that does not parse.
Result<ReplicaCounters> read_replica_counters(std::string_view page);

class ReplicaSampler {
 public:
  // `urls`: each replica's base URL (http://host:port).
  ReplicaSampler(std::vector<std::string> urls, std::chrono::milliseconds interval);
  ~ReplicaSampler();
  ReplicaSampler(const ReplicaSampler&) = delete;
  ReplicaSampler& operator=(const ReplicaSampler&) = delete;

  // Reads the counters once (the baseline of the deltas), then samples in the background.
  Result<void> start();
  // Stops sampling and reads the counters once more.
  Result<void> stop();

  // After stop(): the load series, hit rate and requests per replica since start().
  std::vector<ReplicaSeries> series() const;
  std::optional<double> prefix_hit_rate() const;
  std::vector<int64_t> requests_per_replica() const;

 private:
  Result<std::vector<ReplicaCounters>> read_all() const;
  void run();

  std::vector<std::string> urls_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point started_;
  std::vector<ReplicaCounters> first_, last_;
  mutable std::mutex mutex_;
  std::vector<ReplicaSeries> series_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kgai::demo
