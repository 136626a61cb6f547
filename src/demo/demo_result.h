// What `kgai demo` measured: the pool, the workload, and per routing policy the results of
// each load stage, the prefix-cache hit rate and each replica's load over time. The
// orchestrator (demo_runner) fills it; demo_report writes it as summary.json and index.html.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kgai::demo {

struct PoolInfo {
  int replicas = 4;
  std::string model;        // catalog name, e.g. "llama-3.1-8b"
  std::string accelerator;  // catalog name, e.g. "h100"
  double time_scale = 1;    // the simulator's --time-scale (simulated seconds per real second)
  int max_num_seqs = 0;     // per replica
};

struct WorkloadInfo {
  std::string kind;         // shared_prefix | sharegpt | mixed
  std::string description;  // one line for humans, e.g. "9 groups x 4,000-token prefixes ..."
  uint64_t seed = 1;
  std::vector<double> rates;  // offered request rates of the stages, requests/s
  double stage_seconds = 0;   // duration of each stage
};

// One load stage of one policy. Times in seconds (as summary.json); NaN where nothing
// completed.
struct StageResult {
  double rate = 0;           // offered requests/s
  double achieved_rate = 0;  // completed requests/s
  double ttft_p50 = 0;
  double ttft_p90 = 0;
  double ntpot_p50 = 0;
  double output_tokens_per_sec = 0;
  double goodput = 0;  // requests/s that met the SLO (TTFT and NTPOT thresholds)
  int64_t requests = 0;
  int64_t errors = 0;
};

// One replica's load, sampled from its /metrics during a policy's run.
struct ReplicaSeries {
  std::string name;             // e.g. "replica 1 (127.0.0.1:8001)"
  std::vector<double> seconds;  // since the policy's first stage began
  std::vector<double> running;  // vllm:num_requests_running
  std::vector<double> waiting;  // vllm:num_requests_waiting
};

struct PolicyResult {
  std::string name;         // round-robin | least-request | kgai | nginx | haproxy
  std::string description;  // how it routes, one line
  bool skipped = false;     // an optional baseline that is not installed
  std::string skip_reason;
  std::vector<StageResult> stages;
  std::optional<double> prefix_hit_rate;  // hits / queries over the whole run, all replicas
  std::vector<int64_t> requests_per_replica;
  std::vector<ReplicaSeries> replica_load;
};

// The direct-to-pool check run before the policies: is the host or the load generator the
// bottleneck? `ok` false puts a warning at the top of the report.
struct HostCheck {
  bool ok = true;
  std::string message;            // what was checked and what was found, one or two sentences
  double schedule_delay_p99 = 0;  // seconds, the load generator's lateness at the top rate
  double cpu_load_average = 0;
};

struct DemoResult {
  std::string started_at;  // ISO 8601, UTC
  std::string machine;     // "2 cores, AMD EPYC ..."
  std::string command;     // the kgai demo command line
  PoolInfo pool;
  WorkloadInfo workload;
  HostCheck host_check;
  std::vector<PolicyResult> policies;
  // kgai against round-robin at the highest rate round-robin sustains (every request of the
  // stage completed, none failed); absent when there is no such stage in both.
  struct Headline {
    std::string baseline = "round-robin";  // the policy kgai is compared with
    double rate = 0;
    double ttft_p90_ratio = 0;    // round-robin's TTFT p90 / kgai's (higher: kgai better)
    double throughput_ratio = 0;  // kgai's output tokens/s / round-robin's
  };
  std::optional<Headline> headline;
  // The same comparison against every other policy that ran (round-robin included), where
  // the baseline sustained some stage.
  std::vector<Headline> comparisons;
};

}  // namespace kgai::demo
