#include "gateway/plugin_registry.h"

#include <algorithm>
#include <array>

#include "common/config_reader.h"

namespace kgai::gateway {

namespace {

constexpr std::array kPlugins = {
    PluginType{"queue-scorer", &make_queue_scorer,
               "prefers endpoints with shorter waiting queues (min-max normalised)"},
    PluginType{"kv-cache-utilization-scorer", &make_kv_cache_scorer,
               "prefers endpoints with free KV cache: 1 - kv_cache_usage"},
    PluginType{"prefix-cache-scorer", &make_prefix_cache_scorer,
               "prefers endpoints likely to hold the prompt's prefix in their KV cache"},
    PluginType{"lora-affinity-scorer", &make_lora_affinity_scorer,
               "prefers endpoints with the requested LoRA adapter loaded or room to load it"},
    PluginType{"active-request-scorer", &make_active_request_scorer,
               "prefers endpoints with fewer requests in flight from this gateway"},
    PluginType{"least-request-scorer", &make_active_request_scorer,
               "alias of active-request-scorer"},
    PluginType{"session-affinity-scorer", &make_session_affinity_scorer,
               "sends a session (its session header) back to the endpoint it used last"},
    PluginType{"max-score-picker", &make_max_score_picker,
               "picks the highest total score, ties broken at random"},
    PluginType{"random-picker", &make_random_picker, "picks uniformly at random"},
    PluginType{"weighted-random-picker", &make_weighted_random_picker,
               "picks at random with probability proportional to the total score"},
    PluginType{"round-robin-picker", &make_round_robin_picker, "takes endpoints in turn"},
};

}  // namespace

std::span<const PluginType> builtin_plugins() { return kPlugins; }

const PluginType* find_plugin_type(std::string_view type) {
  for (const auto& p : kPlugins) {
    if (p.type == type) return &p;
  }
  return nullptr;
}

bool expect_no_parameters(const PluginArgs& args) {
  if (args.parameters == nullptr || args.parameters->IsNull()) return true;
  config::MapReader reader(*args.reader, *args.parameters, args.path, {});
  return args.reader->ok();
}

void score_lower_is_better(std::span<const double> values, std::span<double> scores) {
  if (values.empty()) return;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  const double min = *lo, max = *hi;
  for (size_t i = 0; i < values.size(); ++i) {
    scores[i] = max > min ? (max - values[i]) / (max - min) : 1.0;
  }
}

}  // namespace kgai::gateway
