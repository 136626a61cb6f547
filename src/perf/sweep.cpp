#include "perf/sweep.h"

#include <algorithm>

#include "common/log.h"
#include "perf/load_plan.h"

namespace kgai::perf {

namespace {

constexpr double kBurstSeconds = 5.0;
constexpr double kSampleInterval = 0.5;

}  // namespace

Result<double> measure_saturation(Client& client, const SweepConfig& sweep,
                                  const RequestSource& source, SteadyTime run_start) {
  if (sweep.num_requests < 2) return fail("load.sweep.num_requests must be at least 2");
  StageRun burst;
  burst.stage = -1;
  burst.offsets.reserve(static_cast<size_t>(sweep.num_requests));
  for (int64_t i = 0; i < sweep.num_requests; ++i) {
    burst.offsets.push_back(kBurstSeconds * static_cast<double>(i) /
                            static_cast<double>(sweep.num_requests));
  }
  // Progress arrives about every 250 ms; keep the latest count per 0.5 s slot of the requests
  // not yet finished (sent or not). Its drain rate is the completion rate: once the burst
  // outruns the server that is the server's capacity, which is what Inference Perf's in-flight
  // drain measures after the sends stop; unlike the in-flight count it also reads right while
  // requests are still being sent.
  std::vector<int64_t> remaining;
  auto progress = [&](const Progress& p) {
    if (p.elapsed > sweep.timeout) return;
    const auto slot = static_cast<size_t>(p.elapsed / kSampleInterval);
    if (remaining.size() <= slot) remaining.resize(slot + 1, -1);
    remaining[slot] = sweep.num_requests - static_cast<int64_t>(p.done);
  };
  const SteadyTime start = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  auto records = client.run_stage(burst, source, run_start, start, progress);
  if (!records) return fail("sweep burst: {}", records.error().message);
  const auto failed = std::count_if(records->begin(), records->end(),
                                    [](const RequestRecord& r) { return !r.ok(); });
  if (failed * 2 > static_cast<int64_t>(records->size())) {
    return fail("sweep burst: {} of {} requests failed; cannot find the saturation point", failed,
                records->size());
  }
  // Fill slots the progress callback skipped with the previous sample.
  for (size_t i = 0; i < remaining.size(); ++i) {
    if (remaining[i] < 0) remaining[i] = i ? remaining[i - 1] : sweep.num_requests;
  }
  const double rate =
      saturation_from_samples(remaining, kSampleInterval, sweep.saturation_percentile);
  if (!(rate > 0)) return fail("sweep burst: no completions measured; raise load.sweep.timeout");
  const double send_rate = static_cast<double>(sweep.num_requests) / kBurstSeconds;
  if (rate >= 0.9 * send_rate) {
    log::warn(
        "sweep: the burst ({:.0f} req/s) did not saturate the server; its saturation is at "
        "least {:.1f} req/s: raise load.sweep.num_requests",
        send_rate, rate);
  }
  log::info("sweep: saturation at {:.2f} req/s ({} requests, p{} of drain rates)", rate,
            records->size(), sweep.saturation_percentile);
  return rate;
}

}  // namespace kgai::perf
