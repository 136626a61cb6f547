// One benchmark run: discover the model, build the dataset and the stages, send each stage
// through the client, pause `interval` between stages, and collect the records.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "perf/client.h"
#include "perf/config.h"
#include "perf/lifecycle.h"
#include "perf/load_plan.h"
#include "perf/shard.h"

namespace kgai::perf {

struct StageResult {
  StagePlan plan;   // what this generator sent: its shard's share when sharded
  StagePlan whole;  // the stage over all shards (== plan unsharded), without send offsets
  std::vector<RequestRecord> records;
  LifecycleSamples samples;
  double start = 0;  // seconds since the run start
  double end = 0;
  // What the model server reported during the stage (perf/server_metrics.h); null when no
  // prometheus report was asked for.
  nlohmann::json server_metrics;
};

struct RunResult {
  std::string model;
  std::string base_url;
  std::vector<StageResult> stages;
  LifecycleSamples summary;  // all stages merged
  double wall_seconds = 0;
  double saturation_rate = 0;     // measured by a sweep's burst (0 without a sweep)
  nlohmann::json server_metrics;  // all stages; null as in StageResult
  Shard shard;                    // which share of the run this is
  double start_at = 0;            // the agreed start, Unix seconds (0: none agreed)
  // Extra keys for kgai_run.json (e.g. what a merge combined); null for none.
  nlohmann::json run_info;
};

struct RunOptions {
  Shard shard;
  // Unix time (seconds) to start the first stage at, agreed by every shard; 0 = as soon as
  // the run is set up. With it, stage k starts at a time every shard computes alike (see
  // docs/perf.md, "Scale out") and record times count from it.
  double start_at = 0;
};

struct RunHooks {
  // Called about every 250 ms while a stage runs.
  std::function<void(const StagePlan&, const Progress&)> progress;
  // Called when a stage ends.
  std::function<void(const StageResult&)> stage_done;
};

// Runs `config` (already validated). Errors before any request is sent for a bad URL, an
// unreachable server during model discovery, or a dataset that cannot be built.
// With `options.shard` active, sends only its share of every stage (perf/shard.h); it then
// needs `start_at`, cannot run a sweep (the shards could not agree on the saturation point),
// and only shard 0 collects server-side metrics (the others would only add scrape load).
Result<RunResult> run_benchmark(const PerfConfig& config, const RunHooks& hooks,
                                const RunOptions& options = {});

// The JSON body of one request for `prompt`.
struct Prompt;
std::string request_body(const PerfConfig& config, const std::string& model, const Prompt& prompt);

// GET {base_url}/v1/models and the first model's id.
Result<std::string> discover_model(const std::string& base_url);

}  // namespace kgai::perf
