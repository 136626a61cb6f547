// Outlier detection, as Envoy does it for a cluster: an endpoint whose requests fail several
// times in a row (connection refused or reset, no answer in time, a 5xx status) is ejected
// from scheduling for a while, so traffic moves to the others at once instead of waiting for
// its metrics to go stale (an endpoint answering 500s still serves its /metrics happily).
//
// Each ejection lasts base_ejection x 2^level, up to max_ejection; the level grows by one per
// ejection and drops by one for each base_ejection the endpoint then spends without being
// ejected, so a flapping endpoint stays out longer and longer and a recovered one is soon
// forgiven. At most max_ejection_percent of the pool is ejected at once: past that,
// failures are counted but nobody more is ejected (a pool-wide outage must not empty the pool
// on the gateway's side as well).
//
// Thread-safe: state lives in each endpoint's EndpointLoad (shared by every snapshot and every
// proxy thread); a report locks that endpoint's mutex only.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/clock.h"
#include "gateway/endpoint.h"

namespace kgai::gateway {

struct OutlierOptions {
  int consecutive_failures = 5;  // 0 turns ejection off
  std::chrono::milliseconds base_ejection{5'000};
  std::chrono::milliseconds max_ejection{300'000};
  int max_ejection_percent = 50;
};

class OutlierDetector {
 public:
  explicit OutlierDetector(OutlierOptions options = {}) : options_(options) {}

  const OutlierOptions& options() const { return options_; }

  // The endpoint answered (any status below 500): its run of failures ends.
  void success(const EndpointState& endpoint) const;
  // A request to pool.endpoints[index] failed. Returns true when this failure ejected it.
  bool failure(const PoolSnapshot& pool, uint32_t index, SteadyTime now) const;

 private:
  OutlierOptions options_;
};

}  // namespace kgai::gateway
