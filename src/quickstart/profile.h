// What the quickstart search answers for one setup: a model on N accelerators with chosen
// server settings, measured (in virtual time) at one operating point, and priced. Plain data,
// shared by `profiles list`, `benchmarks list`, `manifests create` and `report`.
#pragma once

#include <optional>
#include <string>

#include "quickstart/cost.h"

namespace kgai::quickstart {

// The vLLM flags a setup runs with (the ones the search chooses or that the manifests write).
struct ServerSettings {
  int tensor_parallel_size = 1;
  int max_num_seqs = 0;
  int max_num_batched_tokens = 0;
  int max_model_len = 0;
  double gpu_memory_utilization = 0.9;
  int block_size = 16;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
};

// Latency objectives, each checked at `percentile` of its distribution over the run's requests.
// A target left empty is not checked.
struct Targets {
  std::optional<double> ttft_ms;
  std::optional<double> ntpot_ms;  // request latency / output tokens
  std::optional<double> itl_ms;    // the gap between consecutive tokens
  int percentile = 50;             // 50, 90 or 99
  bool any_latency() const { return ttft_ms || ntpot_ms || itl_ms; }
};

// The workload the figures are for. Lengths are tokens; the means are what GIQ calls average
// input and output length.
struct WorkloadShape {
  std::string name;  // a use case id, "lengths" (--input-len/--output-len) or a dataset path
  std::string input_length;   // as sim::LengthDistribution text, e.g. "128" or "lognormal:230,0.8"
  std::string output_length;  // same
  double mean_input_tokens = 0;
  double mean_output_tokens = 0;
  int max_input_tokens = 0;  // the longest request the setup must hold
  int max_output_tokens = 0;
};

// A latency distribution reduced to the percentiles GIQ and Inference Perf print (ms).
struct LatencyPercentiles {
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double mean = 0;
};

// One simulated load level: its throughput and latency percentiles.
struct OperatingPoint {
  // Requests/s sent in the measured window (0 for a closed loop): a finite Poisson sample's
  // arrival rate, which differs from its nominal rate by a few percent.
  double offered_rate = 0;
  int concurrency = 0;             // clients (closed loop), 0 for an open loop
  double requests_per_second = 0;  // achieved
  // Answers finished per request arrived in the measured window: below 1 the engine fell
  // behind the load (its queue grew for the whole run), so the point is no steady state.
  double kept_up = 1;
  // The standard deviation kept_up has in a steady state (the swing of the number of requests
  // in the system at the window's ends over the requests counted).
  double kept_up_noise = 0;
  double input_tokens_per_second = 0;
  double output_tokens_per_second = 0;
  // At the targets' percentile.
  double ttft_ms = 0;
  double ntpot_ms = 0;
  double itl_ms = 0;
  double e2e_ms = 0;
  // The whole distributions (for benchmark curves and reports).
  LatencyPercentiles ttft, ntpot, itl, e2e;
  // Requests/s that met every latency target (= requests_per_second without targets).
  double goodput_rps = 0;
  // Engine state, time-averaged over the run: what an autoscaler on vLLM's metrics would see.
  double mean_running = 0;  // vllm:num_requests_running
  double mean_waiting = 0;  // vllm:num_requests_waiting
  double mean_kv_cache_usage = 0;
  double preemptions = 0;
};

struct Profile {
  std::string model;  // the catalog's full name
  std::string model_server = "vllm";
  std::string accelerator;  // the catalog's full name
  int accelerator_count = 1;
  std::string instance_type;  // e.g. a3-highgpu-1g; empty when the cloud has none on record
  std::string cloud;
  std::string pricing_model;
  ServerSettings settings;
  WorkloadShape workload;
  Targets targets;
  // Saturation (no latency target) or the highest load meeting the targets.
  bool at_saturation = true;
  OperatingPoint point;
  TokenCost cost;  // cost.inputs.price_per_hour is per chip
  // With a request rate to serve (--rate): replicas of this setup and their cost per month
  // (730 hours).
  std::optional<int> replicas;
  std::optional<double> monthly_cost;
};

}  // namespace kgai::quickstart
