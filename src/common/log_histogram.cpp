#include "common/log_histogram.h"

#include <algorithm>
#include <cmath>

namespace kgai::stats {

LogHistogram::LogHistogram(double min, double max, double precision)
    : min_(min), log_min_(std::log(min)), log_growth_(std::log1p(precision)) {
  auto n = static_cast<size_t>(std::ceil((std::log(max) - log_min_) / log_growth_)) + 2;
  counts_.assign(n, 0);
}

size_t LogHistogram::index_of(double value) const {
  if (!(value > min_)) return 0;
  auto i = static_cast<size_t>(std::ceil((std::log(value) - log_min_) / log_growth_));
  return std::min(i, counts_.size() - 1);
}

double LogHistogram::upper_bound(size_t index) const {
  return std::exp(log_min_ + static_cast<double>(index) * log_growth_);
}

void LogHistogram::observe(double value, uint64_t weight) {
  counts_[index_of(value)] += weight;
  count_ += weight;
  sum_ += value * static_cast<double>(weight);
  max_ = std::max(max_, value);
}

void LogHistogram::merge(const LogHistogram& other) {
  for (size_t i = 0; i < counts_.size() && i < other.counts_.size(); ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

double LogHistogram::percentile(double p) const {
  if (count_ == 0) return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(upper_bound(i), max_);
  }
  return max_;
}

std::vector<std::pair<double, uint64_t>> LogHistogram::buckets() const {
  std::vector<std::pair<double, uint64_t>> out;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i]) out.emplace_back(upper_bound(i), counts_[i]);
  }
  return out;
}

}  // namespace kgai::stats
