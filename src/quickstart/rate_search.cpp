#include "quickstart/rate_search.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace kgai::quickstart {

Result<RateSearchResult> search_rate(const MeasureLoad& measure, const Targets& targets,
                                     const RateSearchOptions& options) {
  if (options.saturation_concurrency < 1) return fail("the saturation run needs a client");
  RateSearchResult result;
  const int64_t n = std::max<int64_t>(options.requests_per_run, 10);
  const auto run = [&](const Load& load) {
    ++result.runs;
    return measure(load);
  };

  // A closed loop needs a few rounds of its clients to reach a steady state.
  const auto saturate = [&]() -> Result<OperatingPoint> {
    Load load;
    load.concurrency = options.saturation_concurrency;
    load.num_requests = std::max<int64_t>(n, 5 * int64_t{options.saturation_concurrency} / 2);
    auto point = run(load);
    if (point) result.saturation = *point;
    return point;
  };
  if (!targets.any_latency()) {
    auto saturation = saturate();
    if (!saturation) return fail(saturation.error());
    // Bisection on the client count, geometric: throughput grows roughly with its log.
    result.feasible = true;
    result.at_saturation = true;
    result.point = *saturation;
    const double goal = options.knee_share * saturation->requests_per_second;
    int good = options.saturation_concurrency;  // reaches the goal
    int bad = 0;                                // does not (0: none found yet)
    while (good > 1 && static_cast<double>(good) / std::max(bad, 1) > options.knee_ratio) {
      const int clients =
          bad == 0 ? std::max(1, good / 4)
                   : static_cast<int>(std::lround(std::sqrt(static_cast<double>(good) * bad)));
      if (clients >= good || clients <= bad) break;
      Load load;
      load.concurrency = clients;
      load.num_requests = std::max<int64_t>(n / 2, int64_t{4} * clients);
      auto point = run(load);
      if (!point) return fail(point.error());
      if (point->requests_per_second >= goal) {
        good = clients;
        result.point = *point;
      } else {
        bad = clients;
      }
    }
    return result;
  }
  double capacity = options.capacity_estimate;
  double measured_capacity = 0;
  if (!(capacity > 0)) {
    auto saturation = saturate();
    if (!saturation) return fail(saturation.error());
    capacity = saturation->requests_per_second;
    if (!(capacity > 0)) return fail("the saturation run finished no request");
    measured_capacity = capacity;
  }

  Load probe;
  probe.num_requests = n;
  std::optional<OperatingPoint> good;  // the highest rate known to meet the targets
  double good_rate = 0;
  double bad_rate = 0;  // the lowest rate known to miss them (0: none yet)
  OperatingPoint last;
  const auto try_rate = [&](double rate, int64_t requests) -> Result<bool> {
    probe.rate = rate;
    probe.num_requests = requests;
    auto point = run(probe);
    if (!point) return fail(point.error());
    last = *point;
    // An open loop the engine falls behind on is no steady state: its queue (or batch) grows
    // for as long as the run lasts, so its percentiles say more about the run's length than
    // about the setup.
    // Stable when the arrivals stay below what the engine serves with every slot busy (the
    // closed-loop saturation run): a finite open-loop run near capacity cannot show a slowly
    // building queue by itself. Without that run, the finishes must keep up with arrivals.
    const bool sustained =
        point->requests_per_second > 0 &&
        (measured_capacity > 0
             ? point->offered_rate <= options.sustained_share * measured_capacity
             : point->kept_up >= std::min(options.sustained_share, 1 - 3 * point->kept_up_noise));
    if (sustained && meets_targets(*point, targets)) {
      if (!good || rate > good_rate) {
        good = *point;
        good_rate = rate;
      }
      return true;
    }
    if (bad_rate == 0 || rate < bad_rate) bad_rate = rate;
    return false;
  };

  // A hint (a sibling setup's answer) brackets the answer in a few runs.
  if (options.hint_rate > 0) {
    auto ok = try_rate(options.hint_rate, n);
    if (!ok) return fail(ok.error());
    const double step = 1.25;
    for (int i = 0; i < 4; ++i) {
      if (*ok) {
        ok = try_rate(good_rate * step, n);
      } else if (!good) {
        ok = try_rate(bad_rate / step, n);
      } else {
        break;
      }
      if (!ok) return fail(ok.error());
      if (good && bad_rate > 0) break;
    }
  }

  // The lightest load: if it misses a target, no load meets it.
  if (!good) {
    auto ok = try_rate(capacity * options.low_load_share, std::min<int64_t>(n, 200));
    if (!ok) return fail(ok.error());
    if (!*ok) {
      result.best = last;
      result.why = missed_target(last, targets);
      return result;
    }
  }
  result.feasible = true;

  // The top: an estimate may fall short, so raise it until it misses or the engine stops
  // keeping up.
  if (bad_rate == 0) {
    double rate = std::max(capacity, good_rate * 1.25);
    for (int raise = 0; raise < 4; ++raise) {
      auto ok = try_rate(rate, n);
      if (!ok) return fail(ok.error());
      if (!*ok) break;
      rate *= 2;
    }
    if (bad_rate == 0) {
      result.point = *good;
      return result;
    }
  }
  for (int i = 0; i < options.max_iterations && bad_rate - good_rate > options.tolerance * bad_rate;
       ++i) {
    auto ok = try_rate((good_rate + bad_rate) / 2, n);
    if (!ok) return fail(ok.error());
  }
  result.point = *good;
  return result;
}

}  // namespace kgai::quickstart
