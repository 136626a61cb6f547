// What kgai-extproc-load records of the streams it measures: counts by outcome, and the decision
// time, request phases and whole stream as distributions over every sample (exact percentiles),
// for the console and, with log buckets (the full histogram), for the JSON report.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log_histogram.h"
#include "common/stats.h"
#include "extproc_load_stream.h"

namespace kgai::bench {

inline double to_ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// One distribution in milliseconds: exact percentiles, and 1 %-wide log buckets for the JSON.
struct Distribution {
  stats::Samples samples;
  stats::LogHistogram buckets{1e-3, 1e6, 0.01};

  void add(double value_ms) {
    samples.add(value_ms);
    buckets.observe(value_ms);
  }
  std::string line() const;
  nlohmann::json to_json() const;
};

// What the measured streams did. Thread-safe: gRPC's threads add to it as streams end.
class Recorder {
 public:
  void add(const StreamResult& r);
  void add_schedule_delay(double delay_ms);
  uint64_t ok() const;
  uint64_t failed() const;

  // `window_s`: the measured seconds, for the rate.
  void print(double window_s) const;
  nlohmann::json to_json(double window_s) const;

 private:
  mutable std::mutex mutex_;
  uint64_t streams_ = 0, ok_ = 0, no_destination_ = 0, protocol_errors_ = 0;
  std::map<int, uint64_t> immediate_, grpc_errors_;
  std::map<std::string, uint64_t> destinations_;  // primaries
  std::vector<std::string> examples_;             // the first failures, for the console
  Distribution decision_, request_, stream_, schedule_delay_;
};

}  // namespace kgai::bench
