// When requests are sent: the stages of a run, and the send times of an open-loop stage.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "perf/config.h"

namespace kgai::perf {

struct StagePlan {
  int index = 0;
  double rate = 0;           // requested requests/s (open loop); 0 for closed loop
  double duration = 0;       // seconds (open loop)
  int concurrency = 0;       // closed loop: streams kept busy
  int64_t num_requests = 0;  // closed loop: requests to send; open loop: offsets.size()
  // Open loop: send times in seconds from the stage start, sorted.
  std::vector<double> offsets;
};

// Send times for one open-loop stage of `duration` seconds at `rate`:
//   "constant": evenly spaced, 1/rate apart (the first at 0);
//   "poisson": exponential gaps (burstiness 1) or gamma gaps with shape `burstiness` and mean
//              1/rate (vLLM's --burstiness: < 1 burstier, > 1 smoother).
// Deterministic for a seed. Errors for unknown types or non-positive rate/duration.
Result<std::vector<double>> send_offsets(const std::string& type, double rate, double duration,
                                         double burstiness, uint64_t seed);

// The stages of a run from `load.stages` (sweeps are planned by plan_sweep once the
// saturation point is known). Stage i's seed is base_seed + i.
Result<std::vector<StagePlan>> plan_stages(const LoadConfig& load);

// Sweep stages once the saturation rate is measured, as Inference Perf plans them: num_stages
// rates from 1 req/s up to saturation, linear = evenly spaced (numpy's linspace), geometric =
// growing by a constant factor (geomspace). The last stage runs at saturation exactly, a single
// stage too; a saturation below 1 req/s starts the range at saturation / num_stages instead.
// Each stage lasts sweep.stage_duration; stage i's seed is base_seed + i.
Result<std::vector<StagePlan>> plan_sweep(const LoadConfig& load, double saturation_rate);

// Inference Perf's saturation estimate: given the in-flight counts sampled every `interval`
// seconds while a burst drains, the drain rates between samples, and their
// `percentile`-th value (requests/s).
double saturation_from_samples(const std::vector<int64_t>& in_flight, double interval,
                               double percentile);

}  // namespace kgai::perf
