#include "common/stats.h"

#include <algorithm>
#include <cmath>

namespace kgai::stats {

void Samples::add(double value, uint64_t weight) {
  if (weight == 0) return;
  if (!entries_.empty() && value < entries_.back().value) sorted_ = false;
  entries_.push_back({value, weight});
  cumulative_.clear();
  count_ += weight;
  sum_ += value * static_cast<double>(weight);
}

void Samples::merge(const Samples& other) {
  // Appending while iterating our own entries would read freed memory on reallocation.
  if (&other == this) {
    Samples copy = other;
    merge(copy);
    return;
  }
  entries_.reserve(entries_.size() + other.entries_.size());
  for (const auto& e : other.entries_) add(e.value, e.weight);
}

void Samples::clear() { *this = Samples(); }

double Samples::mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

void Samples::sort() const {
  if (!sorted_) {
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.value < b.value; });
    sorted_ = true;
  }
  if (cumulative_.size() != entries_.size()) {
    cumulative_.resize(entries_.size());
    uint64_t running = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      running += entries_[i].weight;
      cumulative_[i] = running;
    }
  }
}

double Samples::min() const {
  if (empty()) return 0.0;
  sort();
  return entries_.front().value;
}

double Samples::max() const {
  if (empty()) return 0.0;
  sort();
  return entries_.back().value;
}

double Samples::percentile(double p) const {
  if (empty()) return 0.0;
  sort();
  p = std::clamp(p, 0.0, 100.0);
  // Position in the expanded, sorted multiset (0-based), as numpy's "linear" method.
  double position = p / 100.0 * static_cast<double>(count_ - 1);
  auto lower_rank = static_cast<uint64_t>(std::floor(position));
  double fraction = position - static_cast<double>(lower_rank);
  auto value_at = [&](uint64_t rank) {
    // First entry whose cumulative weight exceeds `rank`.
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), rank);
    return entries_[static_cast<size_t>(it - cumulative_.begin())].value;
  };
  double lower = value_at(lower_rank);
  if (fraction == 0.0 || lower_rank + 1 >= count_) return lower;
  double upper = value_at(lower_rank + 1);
  return lower + (upper - lower) * fraction;
}

BucketHistogram::BucketHistogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void BucketHistogram::observe(double value, uint64_t weight) {
  // Prometheus buckets are "less than or equal": lower_bound finds the first bound >= value.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  counts_[static_cast<size_t>(it - bounds_.begin())] += weight;
  count_ += weight;
  sum_ += value * static_cast<double>(weight);
}

}  // namespace kgai::stats
