// Lifecycle metrics of a set of requests, in Inference Perf's report layout
// (as Inference Perf writes its reports): load summary, successes (latencies, throughput, lengths),
// failures, and goodput against the configured constraints. Percentiles are exact: every
// sample is kept.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/stats.h"
#include "perf/config.h"
#include "perf/record.h"

namespace kgai::perf {

// Everything a report needs from a set of requests; mergeable, so stages add up to the run
// (and shards to a whole) without averaging percentiles.
struct LifecycleSamples {
  stats::Samples schedule_delay;
  stats::Samples request_latency;  // successes
  stats::Samples ttft, tpot, ntpot, itl;
  stats::Samples prompt_len, output_len;
  stats::Samples failed_latency, failed_prompt_len;
  std::map<std::string, uint64_t> failures_by_label;
  uint64_t count = 0;
  uint64_t successes = 0;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  uint64_t good_requests = 0;  // successes meeting every goodput constraint
  uint64_t good_output_tokens = 0;
  double first_sent = -1;  // seconds since run start
  double last_sent = -1;
  double last_end = -1;
  double requested_rate = 0;  // the plan's rate (0 for closed loop)
  double planned_duration = 0;

  void add(const RequestRecord& r, const GoodputConstraints& goodput);
  void merge(const LifecycleSamples& other);
};

// The report object: {load_summary, successes, failures, goodput?}.
nlohmann::json lifecycle_json(const LifecycleSamples& s, const std::vector<double>& percentiles,
                              const GoodputConstraints& goodput);

// A distribution with Inference Perf's keys: mean, min, p0.1 ... median ... p99.9, max.
nlohmann::json distribution_json(const stats::Samples& s, const std::vector<double>& percentiles);

// One record as a per-request report entry.
nlohmann::json request_json(const RequestRecord& r);

}  // namespace kgai::perf
