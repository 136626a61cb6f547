// active-request-scorer: fewer requests in flight from this gateway scores higher, normalised
// like the queue scorer. It reacts at once, between scrapes (50 ms apart by default), which a
// burst needs: every request of a burst would otherwise see the same scraped queues.
#include <vector>

#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

class ActiveRequestScorer final : public Scorer {
 public:
  std::string_view type() const override { return "active-request-scorer"; }
  void score(SchedulingContext& context, std::span<const uint32_t> candidates,
             std::span<double> scores) override {
    thread_local std::vector<double> active;
    active.resize(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
      active[i] = static_cast<double>(context.endpoint(candidates[i]).in_flight());
    }
    score_lower_is_better(active, scores);
  }
};

}  // namespace

std::shared_ptr<Plugin> make_active_request_scorer(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<ActiveRequestScorer>();
}

}  // namespace kgai::gateway
