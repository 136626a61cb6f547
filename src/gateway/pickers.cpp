// The pickers. Each ranks at most kRanked endpoints: the pick and fallbacks for retries; a
// full sort of 1,024 candidates per request would cost more than the rest of the decision.
#include <algorithm>
#include <atomic>
#include <cmath>

#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

constexpr size_t kRanked = 4;

// splitmix64's finalizer: a well-mixed 64-bit value from a counter.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// max-score-picker: highest total first. Ties are broken at random (a random key per
// candidate), so equal endpoints share the load instead of the first one taking it all. The
// keys hash one draw of the rng with the candidate's position: a mt19937_64 draw per candidate
// was a third of a 1,024-endpoint decision (bench/gateway_decision_bench.cpp).
class MaxScorePicker final : public Picker {
 public:
  std::string_view type() const override { return "max-score-picker"; }
  void pick(SchedulingContext& context, std::span<const uint32_t> candidates,
            std::span<const double> totals, std::vector<uint32_t>& ranked) override {
    struct Entry {
      double total;
      uint64_t tie;
      uint32_t index;
    };
    thread_local std::vector<Entry> best;
    best.clear();
    const size_t keep = std::min(kRanked, candidates.size());
    auto better = [](const Entry& a, const Entry& b) {
      return a.total != b.total ? a.total > b.total : a.tie > b.tie;
    };
    const uint64_t seed = (*context.rng)();
    for (size_t i = 0; i < candidates.size(); ++i) {
      Entry e{totals[i], mix64(seed + i * 0x9E3779B97F4A7C15ull), candidates[i]};
      if (best.size() < keep) {
        best.push_back(e);
        std::push_heap(best.begin(), best.end(), better);  // worst kept on top
      } else if (better(e, best.front())) {
        std::pop_heap(best.begin(), best.end(), better);
        best.back() = e;
        std::push_heap(best.begin(), best.end(), better);
      }
    }
    std::sort(best.begin(), best.end(), better);
    ranked.clear();
    for (const Entry& e : best) ranked.push_back(e.index);
  }
};

// random-picker: uniform, ignoring the scores.
class RandomPicker final : public Picker {
 public:
  std::string_view type() const override { return "random-picker"; }
  void pick(SchedulingContext& context, std::span<const uint32_t> candidates,
            std::span<const double>, std::vector<uint32_t>& ranked) override {
    ranked.clear();
    const size_t keep = std::min(kRanked, candidates.size());
    // Partial Fisher-Yates over positions.
    thread_local std::vector<uint32_t> order;
    order.assign(candidates.begin(), candidates.end());
    for (size_t i = 0; i < keep; ++i) {
      std::uniform_int_distribution<size_t> d(i, order.size() - 1);
      std::swap(order[i], order[d(*context.rng)]);
      ranked.push_back(order[i]);
    }
  }
};

// weighted-random-picker: probability proportional to the total score (A-ES, weighted
// sampling without replacement: key = u^(1/w), the largest keys win). Zero totals are picked
// only when every total is zero.
class WeightedRandomPicker final : public Picker {
 public:
  std::string_view type() const override { return "weighted-random-picker"; }
  void pick(SchedulingContext& context, std::span<const uint32_t> candidates,
            std::span<const double> totals, std::vector<uint32_t>& ranked) override {
    thread_local std::vector<std::pair<double, uint32_t>> keys;
    keys.clear();
    const bool all_zero =
        std::all_of(totals.begin(), totals.end(), [](double t) { return t <= 0; });
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (size_t i = 0; i < candidates.size(); ++i) {
      const double w = all_zero ? 1.0 : totals[i];
      if (w <= 0) continue;
      keys.emplace_back(std::log(std::max(u(*context.rng), 1e-300)) / w, candidates[i]);
    }
    const size_t keep = std::min(kRanked, keys.size());
    std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(keep), keys.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    ranked.clear();
    for (size_t i = 0; i < keep; ++i) ranked.push_back(keys[i].second);
  }
};

// round-robin-picker: candidates in turn (by their position in the pool), ignoring scores.
class RoundRobinPicker final : public Picker {
 public:
  std::string_view type() const override { return "round-robin-picker"; }
  void pick(SchedulingContext&, std::span<const uint32_t> candidates, std::span<const double>,
            std::vector<uint32_t>& ranked) override {
    ranked.clear();
    if (candidates.empty()) return;
    const uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
    const size_t keep = std::min(kRanked, candidates.size());
    for (size_t i = 0; i < keep; ++i) ranked.push_back(candidates[(start + i) % candidates.size()]);
  }

 private:
  std::atomic<uint64_t> next_{0};
};

}  // namespace

std::shared_ptr<Plugin> make_max_score_picker(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<MaxScorePicker>();
}
std::shared_ptr<Plugin> make_random_picker(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<RandomPicker>();
}
std::shared_ptr<Plugin> make_weighted_random_picker(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<WeightedRandomPicker>();
}
std::shared_ptr<Plugin> make_round_robin_picker(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<RoundRobinPicker>();
}

}  // namespace kgai::gateway
