// kv-cache-utilization-scorer: 1 - KV-cache use. An endpoint filling its cache will soon queue
// or preempt; one that does not report its use scores as half full (neither favoured nor
// avoided).
#include <algorithm>

#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

class KvCacheScorer final : public Scorer {
 public:
  std::string_view type() const override { return "kv-cache-utilization-scorer"; }
  void score(SchedulingContext& context, std::span<const uint32_t> candidates,
             std::span<double> scores) override {
    for (size_t i = 0; i < candidates.size(); ++i) {
      const auto& kv = context.endpoint(candidates[i]).metrics.kv_usage;
      scores[i] = kv ? 1.0 - std::clamp(*kv, 0.0, 1.0) : 0.5;
    }
  }
};

}  // namespace

std::shared_ptr<Plugin> make_kv_cache_scorer(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<KvCacheScorer>();
}

}  // namespace kgai::gateway
