// lora-affinity-scorer, as the Inference Gateway scores adapters: 1.0 where the requested
// adapter is active, 0.8 where there is room to load it (active + waiting < max_lora), 0.6
// where it waits to be loaded, else 0. Endpoints that report nothing about LoRA score 1.0
// (no information is no reason to avoid them).
#include <algorithm>

#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

class LoraAffinityScorer final : public Scorer {
 public:
  std::string_view type() const override { return "lora-affinity-scorer"; }
  void score(SchedulingContext& context, std::span<const uint32_t> candidates,
             std::span<double> scores) override {
    const std::string& model = context.request->target_model;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const EngineMetrics& m = context.endpoint(candidates[i]).metrics;
      if (!m.max_lora) {
        scores[i] = 1.0;
      } else if (contains(m.running_loras, model)) {
        scores[i] = 1.0;
      } else if (m.running_loras.size() + m.waiting_loras.size() <
                 static_cast<size_t>(std::max(0, *m.max_lora))) {
        scores[i] = 0.8;
      } else if (contains(m.waiting_loras, model)) {
        scores[i] = 0.6;
      } else {
        scores[i] = 0.0;
      }
    }
  }
};

}  // namespace

std::shared_ptr<Plugin> make_lora_affinity_scorer(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<LoraAffinityScorer>();
}

}  // namespace kgai::gateway
