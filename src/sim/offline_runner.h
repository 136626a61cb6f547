// Virtual time: the engine against a generated workload on a discrete-event clock, as fast
// as the CPU allows. The summary uses Inference Perf's stage layout so the same tooling
// reads simulated and measured runs.
#pragma once

#include <cstdint>
#include <functional>

#include <nlohmann/json_fwd.hpp>

#include "catalog/latency_model.h"
#include "common/result.h"
#include "common/stats.h"
#include "sim/engine.h"
#include "sim/workload.h"

namespace kgai::sim {

struct OfflineOptions {
  EngineConfig engine;
  WorkloadSpec workload;
  // Called about once per simulated second of progress with (simulated seconds, finished
  // requests); may be empty.
  std::function<void(double, uint64_t)> progress;
  // Called for every finished request (e.g. to count those meeting latency targets); may be
  // empty.
  std::function<void(const FinishedRequest&)> on_finished;
  // Called with every gap between two tokens of a request as its client sees them (seconds,
  // and how many gaps had that value); may be empty.
  std::function<void(double, uint64_t)> on_token_gap;
  // Whether OfflineRun's distributions (ttft ... output_len) are filled. A caller that keeps
  // its own through on_finished / on_token_gap saves their cost (a sort per percentile asked).
  bool collect_samples = true;
  // Skip hashing prompts that cannot hit the prefix cache (no shared prefix, one turn): the
  // run is the same but its prefix-cache counters read 0 queries.
  bool skip_unmatchable_hashes = false;
};

// What one virtual-time run measured: full distributions (seconds) and engine-wide figures.
struct OfflineRun {
  stats::Samples ttft, tpot, ntpot, itl, e2e, queue, prompt_len, output_len;
  uint64_t generated = 0;
  uint64_t successes = 0;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  double span = 0;  // simulated seconds from t = 0 to the last request's end
  uint64_t steps = 0;
  double busy_time = 0;
  double batch_sum = 0;
  double kv_peak = 0;
  // Integrals over simulated time (value x seconds), for time averages over `span`.
  double kv_time_weighted = 0;  // over busy time only
  double running_time_weighted = 0;
  double waiting_time_weighted = 0;
  EngineCounters counters;
  // Prompt tokens served from the prefix cache, summed over requests (usage.cached_tokens).
  uint64_t prefix_cached_tokens = 0;
  // CPU seconds of the API server's work (sim/frontend.h).
  double frontend_busy = 0;
  double wall_seconds = 0;

  double requests_per_second() const { return span > 0 ? successes / span : 0.0; }
  double input_tokens_per_second() const { return span > 0 ? input_tokens / span : 0.0; }
  double output_tokens_per_second() const { return span > 0 ? output_tokens / span : 0.0; }
  double mean_running() const { return span > 0 ? running_time_weighted / span : 0.0; }
  double mean_waiting() const { return span > 0 ? waiting_time_weighted / span : 0.0; }
};

// Runs the workload to completion (every generated request finishes). Latencies are what a
// client sees: requests reach the engine after the API server takes them in, and tokens reach
// the client after it streams them (sim/frontend.h); engine counters stay the engine's.
Result<OfflineRun> simulate(const OfflineOptions& options, const catalog::LatencyModel& latency);

// The run in Inference Perf's stage layout (load_summary, successes{latency, throughput},
// failures) plus kgai's engine and runtime figures.
nlohmann::json summarize(const OfflineRun& run, const OfflineOptions& options);

// simulate() then summarize().
Result<nlohmann::json> run_offline(const OfflineOptions& options,
                                   const catalog::LatencyModel& latency);

}  // namespace kgai::sim
