// `kgai quickstart calibrate`: fit the latency model's efficiency factors to a measured run.
// Each stage of the run is replayed in virtual time (the same engine `kgai sim` runs) with
// candidate factors, and the factors that the stages can tell apart are moved until the
// replays' median TTFT, median TPOT and output throughput match the measured ones. The result
// is a catalog overlay (`--catalog FILE`) for the accelerator, so the simulator and the
// planner advise from the measured server: measure, refit, advise again.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "common/result.h"
#include "quickstart/measured_run.h"
#include "sim/setup.h"

namespace kgai::quickstart {

struct CalibrateOptions {
  sim::SetupRequest setup;  // model, accelerator, TP and the server settings of the run
  // Requests replayed per stage (a closed-loop stage gets at least 2x its concurrency): fewer
  // is faster, more follows the measured medians more closely.
  int requests_per_stage = 400;
  int max_simulations = 150;  // candidate factor sets tried by the fit (each replays all stages)
  uint64_t seed = 1;
  // A line now and then for a person watching (may be empty).
  std::function<void(const std::string&)> progress;
};

// What calibration compares, per stage: medians in seconds, output tokens/s.
struct StageFigures {
  std::optional<double> ttft;
  std::optional<double> tpot;
  std::optional<double> output_tokens_per_sec;
};

struct StageComparison {
  int index = 0;
  double rate = 0;
  int concurrency = 0;
  int64_t requests = 0;  // measured
  int64_t replayed = 0;  // simulated per replay
  StageFigures measured, before, after;
  // How much each figure (TTFT, TPOT, throughput) scatters between replays with different
  // seeds, as a share (log units); errors count in units of it. 0 where not measured.
  double noise[3] = {0, 0, 0};
};

struct FactorResult {
  std::string key;   // the catalog's efficiency key: memory, step_fixed_us, ...
  std::string unit;  // "", "us" or "ms": the value as the catalog writes it
  double before = 0;
  double after = 0;
  bool fitted = false;
  std::string why;  // why fitted or kept
};

struct Calibration {
  std::string model;  // catalog names
  std::string accelerator;
  int tensor_parallel = 1;
  catalog::Efficiency before;
  catalog::Efficiency after;
  std::vector<FactorResult> factors;
  std::vector<StageComparison> stages;
  // Mean of |predicted / measured - 1| over every measured figure of every stage.
  double error_before = 0;
  double error_after = 0;
  int figures = 0;
  int simulations = 0;  // candidate factor sets replayed, screening included
  int replays = 0;      // stage replays in all (each candidate replays every stage a few times)
  double wall_seconds = 0;
  std::vector<std::string> notes;
};

// Fits the factors of `options.setup.accelerator` in `catalog` to `run`. Errors: unknown model
// or accelerator (the message lists what exists), settings the simulator refuses.
Result<Calibration> calibrate(const catalog::Catalog& catalog, const MeasuredRun& run,
                              const CalibrateOptions& options);

// The overlay as catalog YAML: one accelerator entry with every efficiency key (fitted and
// kept), and comments saying when, from which report, with which errors. `written_at` is a
// timestamp for the comment.
std::string overlay_yaml(const Calibration& c, const MeasuredRun& run,
                         const std::string& written_at);

// For scripts: model, accelerator, stages (measured, before, after), factors, errors.
nlohmann::ordered_json calibration_json(const Calibration& c, const MeasuredRun& run);

// For people: per stage and figure measured vs predicted before and after with the errors,
// then the factors, then the totals.
std::string calibration_table(const Calibration& c, const MeasuredRun& run);

}  // namespace kgai::quickstart
