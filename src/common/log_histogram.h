// A histogram with logarithmic buckets: constant memory however many values it sees, and
// percentiles within a known relative error (HdrHistogram's idea). Used where samples are
// too many to keep (the simulator records the send lag of every token it streams).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace kgai::stats {

class LogHistogram {
 public:
  // Values below `min` count in the first bucket, above `max` in the last. Bucket bounds
  // grow by (1 + precision), so a reported percentile is within `precision` of the truth.
  explicit LogHistogram(double min = 1e-6, double max = 1e4, double precision = 0.01);

  void observe(double value, uint64_t weight = 1);
  void merge(const LogHistogram& other);  // must have the same layout

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  double max() const { return max_; }
  // `p` in [0, 100]: the upper bound of the bucket holding that rank (clamped to the max
  // value seen, so p100 is exact).
  double percentile(double p) const;
  // (bucket upper bound, count) for every non-empty bucket, for merging across processes.
  std::vector<std::pair<double, uint64_t>> buckets() const;

 private:
  size_t index_of(double value) const;
  double upper_bound(size_t index) const;

  double min_;
  double log_min_;
  double log_growth_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0.0;
  double max_ = 0.0;
};

}  // namespace kgai::stats
