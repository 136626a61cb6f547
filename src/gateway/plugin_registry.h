// Plugins by type name, as the config names them (the Inference Gateway's names, e.g.
// "queue-scorer", "max-score-picker"). Adding a plugin is one file with its class and
// factory, plus one line in plugin_registry.cpp. (Self-registration from static initialisers
// would drop out of the static library at link time.)
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gateway/scheduler.h"

namespace YAML {
class Node;
}
namespace kgai::config {
class ConfigReader;
}

namespace kgai::gateway {

// What a factory gets: the plugin's name in the config, its `parameters` map (null when
// absent) and where it sits, to report a bad parameter with its key path and line.
struct PluginArgs {
  std::string name;
  const YAML::Node* parameters = nullptr;
  std::string path;  // e.g. "plugins[2].parameters"
  config::ConfigReader* reader = nullptr;
};

// Returns null after reporting an error through args.reader.
using PluginFactory = std::shared_ptr<Plugin> (*)(const PluginArgs& args);

struct PluginType {
  std::string_view type;
  PluginFactory make;
  std::string_view help;
};

std::span<const PluginType> builtin_plugins();
const PluginType* find_plugin_type(std::string_view type);

// Factories, one per file.
std::shared_ptr<Plugin> make_queue_scorer(const PluginArgs& args);
std::shared_ptr<Plugin> make_kv_cache_scorer(const PluginArgs& args);
std::shared_ptr<Plugin> make_lora_affinity_scorer(const PluginArgs& args);
std::shared_ptr<Plugin> make_active_request_scorer(const PluginArgs& args);
std::shared_ptr<Plugin> make_session_affinity_scorer(const PluginArgs& args);
std::shared_ptr<Plugin> make_prefix_cache_scorer(const PluginArgs& args);
std::shared_ptr<Plugin> make_max_score_picker(const PluginArgs& args);
std::shared_ptr<Plugin> make_random_picker(const PluginArgs& args);
std::shared_ptr<Plugin> make_weighted_random_picker(const PluginArgs& args);
std::shared_ptr<Plugin> make_round_robin_picker(const PluginArgs& args);

// For plugins without parameters: rejects any key under `parameters`. Returns false on error.
bool expect_no_parameters(const PluginArgs& args);

// Scores (max - x) / (max - min) over the candidates, 1 for all when they are equal: the
// queue and active-request scorers' normalisation.
void score_lower_is_better(std::span<const double> values, std::span<double> scores);

}  // namespace kgai::gateway
