// A measured benchmark run as calibration needs it: per stage, the load that was offered, the
// request lengths, and what the client measured. Read from the report folder `kgai perf` writes
// (Inference Perf's layout plus kgai_run.json) or one Inference Perf wrote itself.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"
#include "sim/workload.h"

namespace kgai::quickstart {

struct MeasuredStage {
  int index = 0;
  std::string file;  // the stage's report file, for messages
  // The load: exactly one of rate (open loop, requests/s) or concurrency (closed loop).
  double rate = 0;
  int concurrency = 0;
  int64_t requests = 0;  // sent in the stage (load_summary.count)
  uint64_t successes = 0;
  // Prompt and output lengths rebuilt from the reported percentiles (inputs and outputs drawn
  // independently: the report keeps no pairs). Prompts exclude a shared prefix, if any.
  std::shared_ptr<const std::vector<sim::LengthSample>> lengths;
  double mean_prompt = 0;
  double mean_output = 0;
  // What the client measured (seconds, output tokens/s); absent when the report lacks it
  // (TTFT and TPOT need a streamed run).
  std::optional<double> ttft_median;
  std::optional<double> tpot_median;
  std::optional<double> output_tokens_per_sec;
};

struct MeasuredRun {
  std::string dir;
  std::string source;  // "kgai perf" or "Inference Perf"
  std::string model;   // the served model's name from the report, "" when unknown
  // Requests round-robin over this many groups sharing a system prompt of shared_prefix_len
  // tokens (config.yaml's data.shared_prefix); 0 when the data had no shared prefix.
  int shared_prefix_groups = 0;
  int shared_prefix_len = 0;
  std::vector<MeasuredStage> stages;  // usable stages only, by index
  std::vector<std::string> warnings;  // skipped stages, fallbacks taken
};

struct ReadOptions {
  // The run was measured against `kgai sim --time-scale X`: the client saw latencies X times
  // shorter and rates X times higher than the simulated ones. 1 for real servers.
  double time_scale = 1;
};

// Reads a report folder. Errors name the folder, or the file and key: no folder, no stage
// files, malformed JSON, a missing or non-numeric length distribution, no usable stage.
Result<MeasuredRun> read_measured_run(const std::string& dir, const ReadOptions& options = {});

// Lengths whose percentiles follow a reported distribution ({min, p0.1, ..., median, ...,
// max}, any subset with at least a mean): `count` values at evenly spaced quantiles,
// interpolated linearly between the reported points, each at least 1.
Result<std::vector<int>> lengths_from_distribution(const nlohmann::json& distribution, int count);

}  // namespace kgai::quickstart
