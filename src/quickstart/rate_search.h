// The load a setup can carry: its saturation point (every batch slot busy), or the highest
// request rate at which it still meets latency targets (bisection on the rate).
//
// Kept apart from the simulator through `MeasureLoad`, so the search itself is tested on
// functions whose answer is known.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "quickstart/load_point.h"
#include "quickstart/profile.h"

namespace kgai::quickstart {

using MeasureLoad = std::function<Result<OperatingPoint>(const Load&)>;

struct RateSearchOptions {
  // Clients of the saturation run: as many as the engine runs at once (max-num-seqs, or fewer
  // when the KV cache holds fewer requests of the workload's mean length).
  int saturation_concurrency = 1;
  int64_t requests_per_run = 1000;
  // The bisection stops when the bracket is this share of the rate wide.
  double tolerance = 0.04;
  int max_iterations = 10;
  // With targets: the estimated capacity (requests/s) bracketing the rate search in place of a
  // saturation run (which then is not made); 0 makes the run.
  double capacity_estimate = 0;
  // With targets, a rate counts only when the engine keeps up with it: in the measured window
  // it finishes this share of the requests that arrive, or more (less when the window is too
  // short to tell: three standard deviations of kept_up's steady-state noise).
  double sustained_share = 0.95;
  // With targets: a rate near the expected answer (e.g. a sibling setup's), tried first.
  double hint_rate = 0;
  // The low-load probe, as a share of the saturation throughput.
  double low_load_share = 0.02;
  // Without targets, the answer is the knee: the fewest clients reaching this share of the
  // saturation throughput (GIQ's "inflection point"). Past it, more clients add latency, not
  // throughput.
  double knee_share = 0.95;
  // The knee search stops when the bracket of client counts is this ratio wide.
  double knee_ratio = 1.25;
};

struct RateSearchResult {
  bool feasible = false;
  bool at_saturation = false;  // no latency target: the knee of the saturation curve
  OperatingPoint point;        // the answer when feasible
  // The closed-loop run with every batch slot busy (not made with targets and an estimate).
  OperatingPoint saturation;
  // When infeasible: the lowest load's figures (the best achievable) and the target missed.
  OperatingPoint best;
  std::string why;
  int runs = 0;
};

Result<RateSearchResult> search_rate(const MeasureLoad& measure, const Targets& targets,
                                     const RateSearchOptions& options);

}  // namespace kgai::quickstart
