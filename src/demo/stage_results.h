// Reading what `kgai perf` wrote (stage_N_lifecycle_metrics.json) into the demo's stage rows,
// and the headline comparison of two policies.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "demo/demo_result.h"

namespace kgai::demo {

// One stage file's figures. Missing values (no request completed) are NaN; `rate` is the
// stage's offered rate.
StageResult stage_from_lifecycle(const nlohmann::json& stage, double rate);

// Every stage_N_lifecycle_metrics.json of a kgai perf output folder, in stage order, with
// the offered rates the stages were given. An error names the folder or the file.
Result<std::vector<StageResult>> read_stage_results(const std::string& dir,
                                                    const std::vector<double>& rates);

// The highest rate at which `baseline` completed every request without an error, and the
// two ratios of `candidate` against it there: baseline TTFT p90 / candidate's, candidate
// output tokens/s / baseline's. Empty when there is no such rate in both, or a figure is
// missing.
std::optional<DemoResult::Headline> compare_policies(const PolicyResult& candidate,
                                                     const PolicyResult& baseline);

}  // namespace kgai::demo
