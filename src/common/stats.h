// Distributions with exact percentiles, and fixed-bucket histograms for Prometheus.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kgai::stats {

// Every sample is kept, so percentiles are exact. Samples may carry a weight (a count of
// equal values): the simulator records "k requests saw a gap of exactly d seconds" as one
// entry, which keeps a million-request run small without approximating anything.
//
// Percentiles interpolate linearly between order statistics, as numpy.percentile does
// (Inference Perf and vLLM's benchmark use numpy), over the multiset the weights expand to.
class Samples {
 public:
  void add(double value, uint64_t weight = 1);
  void merge(const Samples& other);
  void clear();

  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  double sum() const { return sum_; }
  double mean() const;
  double min() const;
  double max() const;
  // `p` in [0, 100]. Returns 0 for an empty set.
  double percentile(double p) const;

 private:
  void sort() const;

  struct Entry {
    double value;
    uint64_t weight;
  };
  mutable std::vector<Entry> entries_;
  mutable bool sorted_ = true;
  // Prefix sums of weights over the sorted entries, built lazily for percentile queries.
  mutable std::vector<uint64_t> cumulative_;
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

// A Prometheus-style histogram: cumulative counts per upper bound (plus +Inf), sum, count.
class BucketHistogram {
 public:
  explicit BucketHistogram(std::vector<double> upper_bounds);

  void observe(double value, uint64_t weight = 1);

  const std::vector<double>& upper_bounds() const { return bounds_; }
  // counts()[i] is the number of observations <= upper_bounds()[i] (not cumulative);
  // counts().back() holds those above the last bound.
  const std::vector<uint64_t>& counts() const { return counts_; }
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

}  // namespace kgai::stats
