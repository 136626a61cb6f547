// queue-scorer: shorter waiting queues score higher, (maxQ - q) / (maxQ - minQ) over the
// candidates, as the Inference Gateway's. An engine that does not report its queue counts as
// an empty one.
#include <vector>

#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

class QueueScorer final : public Scorer {
 public:
  std::string_view type() const override { return "queue-scorer"; }
  void score(SchedulingContext& context, std::span<const uint32_t> candidates,
             std::span<double> scores) override {
    thread_local std::vector<double> queue;
    queue.resize(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
      queue[i] = context.endpoint(candidates[i]).metrics.waiting.value_or(0.0);
    }
    score_lower_is_better(queue, scores);
  }
};

}  // namespace

std::shared_ptr<Plugin> make_queue_scorer(const PluginArgs& args) {
  if (!expect_no_parameters(args)) return nullptr;
  return std::make_shared<QueueScorer>();
}

}  // namespace kgai::gateway
