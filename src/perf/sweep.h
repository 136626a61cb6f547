// Inference Perf's sweep: find the server's saturation rate with a burst, then plan stages up
// to it (plan_sweep in load_plan.h).
#pragma once

#include "common/clock.h"
#include "common/result.h"
#include "perf/client.h"
#include "perf/config.h"

namespace kgai::perf {

// Sends sweep.num_requests evenly over 5 s, samples every 0.5 s how many are unfinished until
// the burst drained (or sweep.timeout passed), and returns the sweep.saturation_percentile-th
// completion rate in requests/s. At saturation this equals Inference Perf's drain rate of the
// in-flight count; a burst too small to saturate the server is reported with a warning. Errors
// when most of the burst failed.
Result<double> measure_saturation(Client& client, const SweepConfig& sweep,
                                  const RequestSource& source, SteadyTime run_start);

}  // namespace kgai::perf
