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

namespace kgai::perf {

struct StageResult {
  StagePlan plan;
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
};

struct RunHooks {
  // Called about every 250 ms while a stage runs.
  std::function<void(const StagePlan&, const Progress&)> progress;
  // Called when a stage ends.
  std::function<void(const StageResult&)> stage_done;
};

// Runs `config` (already validated). Errors before any request is sent for a bad URL, an
// unreachable server during model discovery, or a dataset that cannot be built.
Result<RunResult> run_benchmark(const PerfConfig& config, const RunHooks& hooks);

// The JSON body of one request for `prompt`.
struct Prompt;
std::string request_body(const PerfConfig& config, const std::string& model, const Prompt& prompt);

// GET {base_url}/v1/models and the first model's id.
Result<std::string> discover_model(const std::string& base_url);

}  // namespace kgai::perf
