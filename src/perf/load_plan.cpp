#include "perf/load_plan.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/stats.h"
#include "perf/random.h"

namespace kgai::perf {
namespace {

// A stage this large (about 800 MB of send times) is a typo, not a benchmark; failing here
// beats running out of memory.
constexpr double kMaxRequestsPerStage = 1e8;

bool positive(double x) { return std::isfinite(x) && x > 0; }

Result<void> check_open_loop_type(const std::string& type) {
  if (type == "constant" || type == "poisson") return {};
  if (type == "trace_replay") return fail("load type trace_replay is not supported");
  return fail("unknown load type '{}' (expected constant, poisson or concurrent)", type);
}

}  // namespace

Result<std::vector<double>> send_offsets(const std::string& type, double rate, double duration,
                                         double burstiness, uint64_t seed) {
  if (auto ok = check_open_loop_type(type); !ok) return fail(ok.error());
  if (!positive(rate)) return fail("rate must be a positive number of requests/s, got {}", rate);
  if (!positive(duration))
    return fail("duration must be a positive number of seconds, got {}", duration);
  const double expected = rate * duration;
  if (expected > kMaxRequestsPerStage) {
    return fail("rate {} for {} s is {} requests, more than the {} a stage may have", rate,
                duration, expected, kMaxRequestsPerStage);
  }

  std::vector<double> offsets;
  if (type == "constant") {
    // floor(rate * duration), so the achieved rate never exceeds the requested one; the
    // relative slack absorbs products such as 0.29 * 100 = 28.999999999999996.
    const auto count = static_cast<int64_t>(std::floor(expected * (1 + 1e-12)));
    offsets.reserve(static_cast<size_t>(count));
    // i / rate rather than a running sum, so the spacing carries no accumulated error.
    for (int64_t i = 0; i < count; ++i) offsets.push_back(static_cast<double>(i) / rate);
    return offsets;
  }

  if (!positive(burstiness))
    return fail("burstiness must be a positive number, got {}", burstiness);
  std::mt19937_64 rng(seed);
  offsets.reserve(static_cast<size_t>(expected + 4 * std::sqrt(expected) + 16));
  // A renewal process on [0, duration): the first arrival is one gap in, as in a Poisson
  // process, so the expected count is rate * duration rather than one more.
  const double gamma_scale = 1.0 / (rate * burstiness);  // keeps the mean gap at 1 / rate
  double t = 0;
  while (true) {
    t += burstiness == 1.0 ? rnd::exponential(rng) / rate
                           : rnd::gamma(rng, burstiness) * gamma_scale;
    if (t >= duration) break;
    offsets.push_back(t);
  }
  return offsets;
}

Result<std::vector<StagePlan>> plan_stages(const LoadConfig& load) {
  if (load.sweep) {
    return fail(
        "load.sweep is set: sweep stages are planned by plan_sweep once the saturation rate "
        "is measured");
  }
  if (load.stages.empty()) return fail("load.stages: no stages");
  const bool closed_loop = load.type == "concurrent";
  if (!closed_loop) {
    if (auto ok = check_open_loop_type(load.type); !ok) {
      return fail("load.type: {}", ok.error().message);
    }
  }

  std::vector<StagePlan> plans;
  plans.reserve(load.stages.size());
  for (size_t i = 0; i < load.stages.size(); ++i) {
    const StageConfig& stage = load.stages[i];
    StagePlan plan;
    plan.index = static_cast<int>(i);
    if (closed_loop) {
      if (stage.concurrency_level <= 0) {
        return fail("load.stages[{}].concurrency_level: must be positive, got {}", i,
                    stage.concurrency_level);
      }
      if (stage.num_requests <= 0) {
        return fail("load.stages[{}].num_requests: must be positive, got {}", i,
                    stage.num_requests);
      }
      plan.concurrency = stage.concurrency_level;
      plan.num_requests = stage.num_requests;
    } else {
      if (!positive(stage.rate)) {
        return fail("load.stages[{}].rate: must be a positive number, got {}", i, stage.rate);
      }
      if (!positive(stage.duration)) {
        return fail("load.stages[{}].duration: must be a positive number, got {}", i,
                    stage.duration);
      }
      auto offsets =
          send_offsets(load.type, stage.rate, stage.duration, load.burstiness, load.base_seed + i);
      if (!offsets) return fail("load.stages[{}]: {}", i, offsets.error().message);
      plan.rate = stage.rate;
      plan.duration = stage.duration;
      plan.offsets = std::move(*offsets);
      plan.num_requests = static_cast<int64_t>(plan.offsets.size());
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

Result<std::vector<StagePlan>> plan_sweep(const LoadConfig& load, double saturation_rate) {
  if (!load.sweep) return fail("load.sweep: not set");
  const SweepConfig& sweep = *load.sweep;
  if (load.type == "concurrent") {
    return fail("load.sweep: a sweep needs an open-loop load type (constant or poisson)");
  }
  if (auto ok = check_open_loop_type(load.type); !ok) {
    return fail("load.type: {}", ok.error().message);
  }
  if (sweep.type != "linear" && sweep.type != "geometric") {
    return fail("load.sweep.type: unknown type '{}' (expected linear or geometric)", sweep.type);
  }
  if (sweep.num_stages < 1) {
    return fail("load.sweep.num_stages: must be at least 1, got {}", sweep.num_stages);
  }
  if (!positive(sweep.stage_duration)) {
    return fail("load.sweep.stage_duration: must be a positive number, got {}",
                sweep.stage_duration);
  }
  if (!positive(saturation_rate)) {
    return fail("saturation rate must be a positive number of requests/s, got {}", saturation_rate);
  }

  // Inference Perf sweeps from 1 req/s up to saturation. A server that saturates below
  // 1 req/s would make that range run backwards, so it starts at saturation / num_stages.
  const int n = sweep.num_stages;
  const double low = saturation_rate >= 1.0 ? 1.0 : saturation_rate / n;
  std::vector<double> rates(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    // numpy's linspace(low, sat, n) / geomspace(low, sat, n); one stage runs at saturation,
    // as a single stage at 1 req/s would say nothing about the server.
    const double f = n == 1 ? 1.0 : static_cast<double>(i) / (n - 1);
    rates[i] = sweep.type == "linear" ? low + (saturation_rate - low) * f
                                      : low * std::pow(saturation_rate / low, f);
  }
  rates.back() = saturation_rate;  // exactly, whatever the rounding above

  std::vector<StagePlan> plans;
  plans.reserve(rates.size());
  for (int i = 0; i < n; ++i) {
    auto offsets = send_offsets(load.type, rates[i], sweep.stage_duration, load.burstiness,
                                load.base_seed + static_cast<uint64_t>(i));
    if (!offsets) return fail("load.sweep stage {}: {}", i, offsets.error().message);
    StagePlan plan;
    plan.index = i;
    plan.rate = rates[i];
    plan.duration = sweep.stage_duration;
    plan.offsets = std::move(*offsets);
    plan.num_requests = static_cast<int64_t>(plan.offsets.size());
    plans.push_back(std::move(plan));
  }
  return plans;
}

double saturation_from_samples(const std::vector<int64_t>& in_flight, double interval,
                               double percentile) {
  if (in_flight.size() < 2 || !positive(interval)) return 0;
  stats::Samples rates;
  for (size_t i = 0; i + 1 < in_flight.size(); ++i) {
    // Rises (new arrivals during the burst) are not drain, so they count as 0, not negative.
    const double drained = static_cast<double>(in_flight[i] - in_flight[i + 1]);
    rates.add(std::max(0.0, drained / interval));
  }
  return rates.percentile(std::clamp(percentile, 0.0, 100.0));
}

}  // namespace kgai::perf
