#include "gateway/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common/config_reader.h"
#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

using config::ConfigReader;
using config::MapReader;

constexpr std::string_view kTopKeys[] = {
    "apiVersion",         "kind",         "plugins",    "schedulingProfiles",
    "saturationDetector", "flowControl",  "objectives", "modelRewrites",
    "sessionHeader",      "featureGates", "data"};
constexpr std::string_view kPluginKeys[] = {"name", "type", "parameters"};
constexpr std::string_view kProfileKeys[] = {"name", "plugins"};
constexpr std::string_view kProfilePluginKeys[] = {"pluginRef", "weight"};
constexpr std::string_view kSaturationKeys[] = {"queueDepthThreshold", "kvCacheUtilThreshold",
                                                "metricsStalenessThreshold"};
constexpr std::string_view kFlowKeys[] = {"enabled",         "ttl",      "maxBytes",
                                          "maxBytesPerBand", "fairness", "ordering"};
constexpr std::string_view kObjectiveKeys[] = {"name", "priority"};
constexpr std::string_view kRewriteKeys[] = {"match", "targets"};
constexpr std::string_view kTargetKeys[] = {"model", "weight"};
constexpr std::string_view kFairness[] = {"round-robin", "global-strict"};
constexpr std::string_view kOrdering[] = {"fcfs", "edf"};

bool is_map_item(ConfigReader& reader, const YAML::Node& item, const std::string& path) {
  if (!item.IsMap()) reader.fail(item, path, "expected a map, got {}", config::describe(item));
  return reader.ok();
}

// A duration: "200ms", "2s", "1m", or a number of seconds. Must be positive.
void read_duration(const MapReader& m, std::string_view key, double& out) {
  if (!m.reader().ok() || !m.has(key)) return;
  YAML::Node node = m.node(key);
  if (!node.IsScalar()) {
    m.reader().fail(node, m.path(key), "expected a duration such as 2s or 200ms, got {}",
                    config::describe(node));
    return;
  }
  auto seconds = parse_duration_seconds(node.Scalar());
  if (!seconds) {
    m.reader().fail(node, m.path(key), "{}", seconds.error().message);
    return;
  }
  out = *seconds;
}

// A byte count: a number, or with a suffix K, M, G (powers of 1000) or Ki, Mi, Gi (1024).
void read_bytes(const MapReader& m, std::string_view key, int64_t& out) {
  if (!m.reader().ok() || !m.has(key)) return;
  YAML::Node node = m.node(key);
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view suffix(end, static_cast<size_t>(text.data() + text.size() - end));
  static const std::map<std::string_view, double> kUnits = {
      {"", 1},        {"K", 1e3},        {"M", 1e6},          {"G", 1e9},
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}};
  auto unit = kUnits.find(suffix);
  if (text.empty() || ec != std::errc{} || unit == kUnits.end() || !(value >= 0) ||
      value * unit->second > 9e18) {
    m.reader().fail(node, m.path(key), "expected a byte count such as 1048576, 64Mi or 1Gi, got {}",
                    config::describe(node));
    return;
  }
  out = static_cast<int64_t>(value * unit->second);
}

struct PluginEntry {
  std::string name;
  std::shared_ptr<Plugin> plugin;
  YAML::Node node;
};

std::vector<PluginEntry> read_plugins(const MapReader& top) {
  std::vector<PluginEntry> plugins;
  ConfigReader& reader = top.reader();
  top.for_each("plugins", [&](const YAML::Node& item, const std::string& path) {
    if (!is_map_item(reader, item, path)) return;
    MapReader m(reader, item, path, kPluginKeys);
    std::string type, name;
    m.read("type", type);
    m.read("name", name);
    if (!reader.ok()) return;
    if (type.empty()) return reader.fail(item, path + ".type", "required");
    const PluginType* kind = find_plugin_type(type);
    if (kind == nullptr) {
      std::string known;
      for (const auto& p : builtin_plugins())
        known += fmt::format("{}{}", known.empty() ? "" : ", ", p.type);
      return reader.fail(m.node("type"), m.path("type"), "unknown plugin type '{}' (known: {})",
                         type, known);
    }
    if (name.empty()) name = type;
    for (const auto& p : plugins) {
      if (p.name == name)
        return reader.fail(item, path + ".name", "plugin name '{}' used twice", name);
    }
    YAML::Node parameters = m.node("parameters");
    PluginArgs args{name, m.has("parameters") ? &parameters : nullptr, m.path("parameters"),
                    &reader};
    auto plugin = kind->make(args);
    if (!reader.ok()) return;
    if (!plugin) return reader.fail(item, path, "plugin '{}' could not be created", name);
    plugins.push_back({name, std::move(plugin), item});
  });
  return plugins;
}

void read_profile(const MapReader& top, const std::vector<PluginEntry>& plugins,
                  SchedulingProfile& profile) {
  ConfigReader& reader = top.reader();
  if (!top.has("schedulingProfiles")) {
    return reader.fail(top.node("plugins"), "schedulingProfiles",
                       "required when plugins are given (which of them to run, with weights)");
  }
  size_t count = 0;
  top.for_each("schedulingProfiles", [&](const YAML::Node& item, const std::string& path) {
    if (!is_map_item(reader, item, path)) return;
    if (++count > 1) {
      return reader.fail(item, path,
                         "kgai runs one scheduling profile (no profile handler for several yet)");
    }
    MapReader m(reader, item, path, kProfileKeys);
    m.read("name", profile.name);
    m.for_each("plugins", [&](const YAML::Node& ref, const std::string& ref_path) {
      if (!is_map_item(reader, ref, ref_path)) return;
      MapReader r(reader, ref, ref_path, kProfilePluginKeys);
      std::string name;
      double weight = 1;
      r.read("pluginRef", name);
      r.read("weight", weight, config::kNonNegative);
      if (!reader.ok()) return;
      auto it = std::find_if(plugins.begin(), plugins.end(),
                             [&](const PluginEntry& p) { return p.name == name; });
      if (it == plugins.end()) {
        return reader.fail(r.node("pluginRef"), r.path("pluginRef"),
                           "no plugin named '{}' in plugins", name);
      }
      bool used = false;
      if (auto filter = std::dynamic_pointer_cast<Filter>(it->plugin)) {
        profile.filters.emplace_back(name, filter);
        used = true;
      }
      if (auto scorer = std::dynamic_pointer_cast<Scorer>(it->plugin)) {
        profile.scorers.push_back({name, scorer, weight});
        used = true;
      } else if (r.has("weight")) {
        return reader.fail(r.node("weight"), r.path("weight"), "'{}' is not a scorer", name);
      }
      if (auto picker = std::dynamic_pointer_cast<Picker>(it->plugin)) {
        if (profile.picker.second) {
          return reader.fail(ref, ref_path, "a profile has one picker; '{}' is already it",
                             profile.picker.first);
        }
        profile.picker = {name, picker};
        used = true;
      }
      if (auto hook = std::dynamic_pointer_cast<PostPick>(it->plugin)) {
        profile.post_picks.push_back(hook);
      }
      if (!used) reader.fail(ref, ref_path, "'{}' is not a filter, scorer or picker", name);
    });
  });
  if (reader.ok() && count == 0) {
    reader.fail(top.node("schedulingProfiles"), "schedulingProfiles", "needs one profile");
  }
  if (reader.ok() && !profile.picker.second) {
    profile.picker = {"max-score-picker",
                      std::dynamic_pointer_cast<Picker>(make_max_score_picker(PluginArgs{}))};
  }
}

void read_saturation(const MapReader& top, SaturationConfig& s) {
  MapReader m(top.reader(), top.node("saturationDetector"), top.path("saturationDetector"),
              kSaturationKeys);
  m.read("queueDepthThreshold", s.queue_depth_threshold, config::kPositive);
  m.read("kvCacheUtilThreshold", s.kv_cache_util_threshold, config::kPositive);
  read_duration(m, "metricsStalenessThreshold", s.metrics_staleness_threshold);
}

void read_flow_control(const MapReader& top, FlowControlConfig& f) {
  MapReader m(top.reader(), top.node("flowControl"), top.path("flowControl"), kFlowKeys);
  m.read("enabled", f.enabled);
  read_duration(m, "ttl", f.ttl);
  read_bytes(m, "maxBytes", f.max_bytes);
  read_bytes(m, "maxBytesPerBand", f.max_bytes_per_band);
  m.read_choice("fairness", f.fairness, kFairness);
  m.read_choice("ordering", f.ordering, kOrdering);
}

void read_objectives(const MapReader& top, std::vector<ObjectiveConfig>& out) {
  ConfigReader& reader = top.reader();
  top.for_each("objectives", [&](const YAML::Node& item, const std::string& path) {
    if (!is_map_item(reader, item, path)) return;
    MapReader m(reader, item, path, kObjectiveKeys);
    ObjectiveConfig o;
    m.read("name", o.name);
    if (m.has("priority")) {
      const YAML::Node p = m.node("priority");
      int value = 0;
      const std::string& text = p.IsScalar() ? p.Scalar() : std::string();
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return reader.fail(p, m.path("priority"), "expected an integer, got {}",
                           config::describe(p));
      }
      o.priority = value;
    }
    if (!reader.ok()) return;
    if (o.name.empty()) return reader.fail(item, path + ".name", "required");
    for (const auto& other : out) {
      if (other.name == o.name)
        return reader.fail(item, path + ".name", "'{}' defined twice", o.name);
    }
    out.push_back(o);
  });
}

void read_rewrites(const MapReader& top, std::vector<ModelRewriteConfig>& out) {
  ConfigReader& reader = top.reader();
  top.for_each("modelRewrites", [&](const YAML::Node& item, const std::string& path) {
    if (!is_map_item(reader, item, path)) return;
    MapReader m(reader, item, path, kRewriteKeys);
    ModelRewriteConfig rule;
    m.read("match", rule.match);
    double total = 0;
    m.for_each("targets", [&](const YAML::Node& t, const std::string& t_path) {
      if (!is_map_item(reader, t, t_path)) return;
      MapReader tm(reader, t, t_path, kTargetKeys);
      RewriteTarget target;
      tm.read("model", target.model);
      tm.read("weight", target.weight, config::kNonNegative);
      if (!reader.ok()) return;
      if (target.model.empty()) return reader.fail(t, t_path + ".model", "required");
      total += target.weight;
      rule.targets.push_back(target);
    });
    if (!reader.ok()) return;
    if (rule.match.empty()) return reader.fail(item, path + ".match", "needs at least one model");
    if (rule.targets.empty())
      return reader.fail(item, path + ".targets", "needs at least one target");
    if (!(total > 0)) return reader.fail(item, path + ".targets", "weights must not all be 0");
    out.push_back(std::move(rule));
  });
}

}  // namespace

std::string GatewayConfig::describe() const {
  std::string out;
  for (const auto& [name, filter] : profile.filters) out += fmt::format("{}, ", name);
  for (const auto& s : profile.scorers) out += fmt::format("{} x{}, ", s.name, s.weight);
  out += profile.picker.first;
  return out;
}

GatewayConfig default_gateway_config() {
  constexpr std::string_view kDefault =
      "plugins:\n"
      "- type: queue-scorer\n"
      "- type: kv-cache-utilization-scorer\n"
      "- type: prefix-cache-scorer\n"
      "- type: max-score-picker\n"
      "schedulingProfiles:\n"
      "- name: default\n"
      "  plugins:\n"
      "  - {pluginRef: queue-scorer, weight: 2}\n"
      "  - {pluginRef: kv-cache-utilization-scorer, weight: 2}\n"
      "  - {pluginRef: prefix-cache-scorer, weight: 3}\n"
      "  - {pluginRef: max-score-picker}\n";
  auto config = parse_gateway_config(kDefault, "default config");
  if (!config) {  // a fixed text: only a broken build gets here (and a test catches it)
    fmt::print(stderr, "kgai: the built-in gateway config is invalid: {}\n",
               config.error().message);
    std::abort();
  }
  return std::move(*config);
}

Result<GatewayConfig> parse_gateway_config(std::string_view yaml, std::string_view source) {
  auto root = config::parse_yaml(yaml, source);
  if (!root) return fail(root.error());
  if (!root->IsMap()) {
    return fail("{}: expected a map (plugins, schedulingProfiles, ...) at the top level, got {}",
                source, config::describe(*root));
  }
  std::vector<std::string> warnings;  // none: the reader is strict
  ConfigReader reader(source, warnings);
  reader.set_strict(true);
  GatewayConfig config;
  try {
    MapReader top(reader, *root, "", kTopKeys);
    if (top.has("plugins") || top.has("schedulingProfiles")) {
      auto plugins = read_plugins(top);
      read_profile(top, plugins, config.profile);
    } else {
      config.profile = default_gateway_config().profile;
    }
    read_saturation(top, config.saturation);
    read_flow_control(top, config.flow_control);
    read_objectives(top, config.objectives);
    read_rewrites(top, config.rewrites);
    top.read("sessionHeader", config.session_header);
  } catch (const YAML::Exception& e) {
    return fail("{}: {}{}", source, e.msg, config::position(e.mark));
  }
  if (!reader.ok()) return fail(reader.error());
  return config;
}

Result<GatewayConfig> load_gateway_config(const std::string& path) {
  auto text = config::read_config_file(path);
  if (!text) return fail(text.error());
  return parse_gateway_config(*text, path);
}

Result<double> parse_duration_seconds(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e-3;
  } else if (unit == "us") {
    scale = 1e-6;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  }
  if (text.empty() || ec != std::errc{} || scale == 0 || !(value > 0) || !std::isfinite(value)) {
    return fail("expected a positive duration such as 2s, 200ms or 1m, got '{}'", text);
  }
  return value * scale;
}

}  // namespace kgai::gateway
