#include "perf/config.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/config_reader.h"
#include "common/yaml_load.h"

namespace kgai::perf {
namespace {

using config::ConfigReader;
using config::kFraction;
using config::kNonNegative;
using config::kPercentile;
using config::kPositive;
using config::MapReader;

using Keys = std::span<const std::string_view>;

// Key lists follow Inference Perf's config model, so its files read without warnings.
constexpr std::string_view kTopKeys[] = {"api",    "data",    "load",   "metrics",
                                         "report", "storage", "server", "tokenizer"};
constexpr std::string_view kApiKeys[] = {"type", "streaming", "headers"};
constexpr std::string_view kDataKeys[] = {"type", "input_distribution", "output_distribution",
                                          "shared_prefix", "path"};
constexpr std::string_view kDistributionKeys[] = {"min", "max", "mean", "std_dev", "total_count"};
constexpr std::string_view kSharedPrefixKeys[] = {
    "num_groups", "num_prompts_per_group",     "system_prompt_len",          "question_len",
    "output_len", "num_unique_system_prompts", "num_users_per_system_prompt"};
constexpr std::string_view kLoadKeys[] = {"type",
                                          "interval",
                                          "stages",
                                          "sweep",
                                          "num_workers",
                                          "worker_max_concurrency",
                                          "worker_max_tcp_connections",
                                          "request_timeout",
                                          "lora_traffic_split",
                                          "base_seed",
                                          "burstiness"};
constexpr std::string_view kStageKeys[] = {"rate", "duration", "num_requests", "concurrency_level"};
constexpr std::string_view kSweepKeys[] = {"type",       "num_requests",   "timeout",
                                           "num_stages", "stage_duration", "saturation_percentile"};
constexpr std::string_view kLoraKeys[] = {"name", "split"};
constexpr std::string_view kServerKeys[] = {"type", "model_name", "base_url", "ignore_eos",
                                            "api_key"};
constexpr std::string_view kMetricsKeys[] = {"type", "prometheus", "scrape_interval"};
constexpr std::string_view kPrometheusKeys[] = {"url", "scrape_interval", "filters"};
constexpr std::string_view kReportKeys[] = {"request_lifecycle", "prometheus", "goodput"};
constexpr std::string_view kLifecycleKeys[] = {"summary", "per_stage", "per_request",
                                               "percentiles"};
constexpr std::string_view kReportPrometheusKeys[] = {"summary", "per_stage"};
constexpr std::string_view kGoodputKeys[] = {"constraints"};
constexpr std::string_view kConstraintKeys[] = {"ttft", "tpot", "itl", "ntpot", "request_latency"};
constexpr std::string_view kStorageKeys[] = {"local_storage", "google_cloud_storage",
                                             "simple_storage_service"};
constexpr std::string_view kLocalStorageKeys[] = {"path", "report_file_prefix"};

constexpr std::string_view kApiTypes[] = {"completion", "chat"};
constexpr std::string_view kDataTypes[] = {"mock", "shareGPT", "synthetic", "random",
                                           "shared_prefix"};
constexpr std::string_view kLoadTypes[] = {"constant", "poisson", "concurrent"};
constexpr std::string_view kSweepTypes[] = {"linear", "geometric"};
constexpr std::string_view kServerTypes[] = {"vllm", "sglang", "tgi", "mock"};
constexpr std::string_view kMetricsTypes[] = {"default", "prometheus"};

// A section of the config: a MapReader over `parent[key]`.
MapReader section(const MapReader& parent, std::string_view key, Keys known) {
  return MapReader(parent.reader(), parent.node(key), parent.path(key), known);
}

// List items must be maps; a bare "-" is more likely a mistake than an all-defaults entry.
bool check_item(ConfigReader& reader, const YAML::Node& item, const std::string& path) {
  if (!item.IsMap()) reader.fail(item, path, "expected a map, got {}", config::describe(item));
  return reader.ok();
}

void read_api(const MapReader& m, ApiConfig& api) {
  m.read_choice("type", api.type, kApiTypes);
  m.read("streaming", api.streaming);
  m.read("headers", api.headers);
}

std::optional<Distribution> read_distribution(const MapReader& parent, std::string_view key) {
  if (!parent.has(key)) return std::nullopt;
  MapReader m = section(parent, key, kDistributionKeys);
  Distribution d;
  m.read("min", d.min);
  m.read("max", d.max);
  m.read("mean", d.mean);
  m.read("std_dev", d.std_dev);
  m.read("total_count", d.total_count);
  return d;
}

// Inference Perf renamed two shared_prefix keys; old files must keep working, but a file
// giving both spellings is ambiguous.
void read_renamed(const MapReader& m, std::string_view key, std::string_view old_key, int& out) {
  if (m.node(key).IsDefined() && m.node(old_key).IsDefined()) {
    m.reader().fail(m.node(old_key), m.path(old_key), "give '{}' or its older name '{}', not both",
                    key, old_key);
    return;
  }
  m.read(old_key, out);
  m.read(key, out);
}

void read_data(const MapReader& m, DataConfig& data) {
  m.read_choice("type", data.type, kDataTypes);
  data.input_distribution = read_distribution(m, "input_distribution");
  data.output_distribution = read_distribution(m, "output_distribution");
  if (m.has("shared_prefix")) {
    MapReader sp = section(m, "shared_prefix", kSharedPrefixKeys);
    SharedPrefixConfig shared;
    read_renamed(sp, "num_groups", "num_unique_system_prompts", shared.num_groups);
    read_renamed(sp, "num_prompts_per_group", "num_users_per_system_prompt",
                 shared.num_prompts_per_group);
    sp.read("system_prompt_len", shared.system_prompt_len);
    sp.read("question_len", shared.question_len);
    sp.read("output_len", shared.output_len);
    data.shared_prefix = shared;
  }
  m.read("path", data.path);
}

void read_load(const MapReader& m, LoadConfig& load) {
  ConfigReader& reader = m.reader();
  m.read_choice("type", load.type, kLoadTypes);
  m.read("interval", load.interval);
  if (m.has("stages")) load.stages.clear();
  m.for_each("stages", [&](const YAML::Node& item, const std::string& path) {
    if (!check_item(reader, item, path)) return;
    MapReader s(reader, item, path, kStageKeys);
    StageConfig stage;
    s.read("rate", stage.rate);
    s.read("duration", stage.duration);
    s.read("num_requests", stage.num_requests);
    s.read("concurrency_level", stage.concurrency_level);
    load.stages.push_back(stage);
  });
  if (m.has("sweep")) {
    MapReader s = section(m, "sweep", kSweepKeys);
    SweepConfig sweep;
    s.read_choice("type", sweep.type, kSweepTypes);
    s.read("num_requests", sweep.num_requests);
    s.read("timeout", sweep.timeout);
    s.read("num_stages", sweep.num_stages);
    s.read("stage_duration", sweep.stage_duration);
    s.read("saturation_percentile", sweep.saturation_percentile, kPercentile);
    load.sweep = sweep;
    // Inference Perf replaces the stages with the sweep's; say so rather than drop them quietly.
    if (!load.stages.empty()) {
      reader.warn(m.node("stages"), m.path("stages"), "ignored because load.sweep is set");
    }
  }
  m.read("num_workers", load.num_workers);
  m.read("worker_max_concurrency", load.worker_max_concurrency);
  m.read("worker_max_tcp_connections", load.worker_max_tcp_connections);
  m.read("request_timeout", load.request_timeout);
  if (m.has("lora_traffic_split")) load.lora_traffic_split.clear();
  m.for_each("lora_traffic_split", [&](const YAML::Node& item, const std::string& path) {
    if (!check_item(reader, item, path)) return;
    MapReader s(reader, item, path, kLoraKeys);
    LoraSplit split;
    s.read("name", split.name);
    s.read("split", split.split, kFraction);
    load.lora_traffic_split.push_back(split);
  });
  m.read("base_seed", load.base_seed);
  m.read("burstiness", load.burstiness, kPositive);
}

void read_server(const MapReader& m, ServerConfig& server) {
  m.read_choice("type", server.type, kServerTypes);
  m.read("model_name", server.model_name);
  m.read("base_url", server.base_url);
  m.read("ignore_eos", server.ignore_eos);
  m.read("api_key", server.api_key);
}

void read_metrics(const MapReader& m, MetricsConfig& metrics) {
  m.read_choice("type", metrics.type, kMetricsTypes);
  m.read("scrape_interval", metrics.scrape_interval, kPositive);
  if (m.has("prometheus")) {
    MapReader p = section(m, "prometheus", kPrometheusKeys);
    PrometheusConfig prometheus;
    p.read("url", prometheus.url);
    p.read("scrape_interval", prometheus.scrape_interval, kPositive);
    p.read("filters", prometheus.filters);
    metrics.prometheus = prometheus;
  }
}

void read_report(const MapReader& m, ReportConfig& report) {
  MapReader lifecycle = section(m, "request_lifecycle", kLifecycleKeys);
  lifecycle.read("summary", report.summary);
  lifecycle.read("per_stage", report.per_stage);
  lifecycle.read("per_request", report.per_request);
  lifecycle.read("percentiles", report.percentiles, kPercentile);
  MapReader prometheus = section(m, "prometheus", kReportPrometheusKeys);
  prometheus.read("summary", report.prometheus_summary);
  prometheus.read("per_stage", report.prometheus_per_stage);
  MapReader goodput = section(m, "goodput", kGoodputKeys);
  MapReader constraints = section(goodput, "constraints", kConstraintKeys);
  GoodputConstraints& c = report.goodput;
  constraints.read("ttft", c.ttft, kPositive);
  constraints.read("tpot", c.tpot, kPositive);
  constraints.read("itl", c.itl, kPositive);
  constraints.read("ntpot", c.ntpot, kPositive);
  constraints.read("request_latency", c.request_latency, kPositive);
}

void read_storage(const MapReader& m, StorageConfig& storage) {
  MapReader local = section(m, "local_storage", kLocalStorageKeys);
  local.read("path", storage.path);
  local.read("report_file_prefix", storage.report_file_prefix);
  for (std::string_view remote : {"google_cloud_storage", "simple_storage_service"}) {
    if (m.node(remote).IsDefined()) {
      m.reader().warn(m.node(remote), m.path(remote),
                      "only local storage is supported; reports go to storage.local_storage.path");
    }
  }
}

std::string position(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return fmt::format(" (line {}, column {})", mark.line + 1, mark.column + 1);
}

Result<PerfConfig> parse_root(const YAML::Node& root, std::string_view source,
                              std::vector<std::string>& warnings) {
  if (!root.IsDefined() || root.IsNull()) return fail("{}: empty config", source);
  if (!root.IsMap()) {
    return fail("{}: expected a map of sections (api, data, load, ...) at the top level, got {}{}",
                source, config::describe(root), position(root.Mark()));
  }
  ConfigReader reader(source, warnings);
  MapReader top(reader, root, "", kTopKeys);
  PerfConfig config;
  read_api(section(top, "api", kApiKeys), config.api);
  read_data(section(top, "data", kDataKeys), config.data);
  read_load(section(top, "load", kLoadKeys), config.load);
  read_server(section(top, "server", kServerKeys), config.server);
  read_metrics(section(top, "metrics", kMetricsKeys), config.metrics);
  read_report(section(top, "report", kReportKeys), config.report);
  read_storage(section(top, "storage", kStorageKeys), config.storage);
  if (top.node("tokenizer").IsDefined()) {
    reader.warn(top.node("tokenizer"), "tokenizer",
                "ignored; kgai perf counts tokens from the server's usage");
  }
  if (!reader.ok()) return fail(reader.error());
  return config;
}

// validate() helpers: messages name the key, as the parser's do, without a file or line
// because flags may have set the value.
bool one_of(std::string_view value, Keys options) {
  return std::find(options.begin(), options.end(), value) != options.end();
}

Result<void> check_choice(std::string_view path, std::string_view value, Keys options) {
  if (one_of(value, options)) return {};
  return fail("{}: '{}' is not supported by kgai perf (supported: {})", path, value,
              fmt::join(options, ", "));
}

Result<void> check_distribution(std::string_view path, const std::optional<Distribution>& d,
                                std::string_view data_type) {
  if (!d) return fail("{}: required for data.type {}", path, data_type);
  if (d->min < 0 || d->max < 0 || d->total_count < 0 || d->std_dev < 0) {
    return fail("{}: min, max, std_dev and total_count must be non-negative", path);
  }
  if (d->min > d->max) return fail("{}: min {} is above max {}", path, d->min, d->max);
  if (!(d->mean >= d->min && d->mean <= d->max)) {
    return fail("{}: mean {} is outside [min {}, max {}]", path, d->mean, d->min, d->max);
  }
  return {};
}

Result<void> validate_data(const DataConfig& data) {
  if (auto ok = check_choice("data.type", data.type, kDataTypes); !ok) return ok;
  if (data.type == "shareGPT" && data.path.empty()) {
    return fail("data.path: required for data.type shareGPT (the dataset's JSON file)");
  }
  if (data.type == "synthetic" || data.type == "random") {
    auto in = check_distribution("data.input_distribution", data.input_distribution, data.type);
    if (!in) return in;
    auto out = check_distribution("data.output_distribution", data.output_distribution, data.type);
    if (!out) return out;
  }
  if (data.type == "shared_prefix") {
    if (!data.shared_prefix)
      return fail("data.shared_prefix: required for data.type shared_prefix");
    const SharedPrefixConfig& sp = *data.shared_prefix;
    if (sp.num_groups <= 0) return fail("data.shared_prefix.num_groups: must be > 0");
    if (sp.num_prompts_per_group <= 0) {
      return fail("data.shared_prefix.num_prompts_per_group: must be > 0");
    }
    if (sp.system_prompt_len < 0 || sp.question_len < 0) {
      return fail("data.shared_prefix: system_prompt_len and question_len must be non-negative");
    }
    if (sp.output_len <= 0) return fail("data.shared_prefix.output_len: must be > 0");
  }
  return {};
}

Result<void> validate_sweep(const SweepConfig& sweep) {
  if (auto ok = check_choice("load.sweep.type", sweep.type, kSweepTypes); !ok) return ok;
  if (sweep.num_requests <= 0) return fail("load.sweep.num_requests: must be > 0");
  if (!(sweep.timeout > 0)) return fail("load.sweep.timeout: must be > 0");
  if (sweep.num_stages <= 0) return fail("load.sweep.num_stages: must be > 0");
  if (!(sweep.stage_duration > 0)) return fail("load.sweep.stage_duration: must be > 0");
  if (!(sweep.saturation_percentile > 0 && sweep.saturation_percentile < 100)) {
    return fail("load.sweep.saturation_percentile: must be in (0, 100), got {}",
                sweep.saturation_percentile);
  }
  return {};
}

Result<void> validate_load(const LoadConfig& load) {
  if (auto ok = check_choice("load.type", load.type, kLoadTypes); !ok) return ok;
  if (load.type == "concurrent") {
    if (load.sweep) return fail("load.sweep: not supported for load.type concurrent");
    if (load.stages.empty()) {
      return fail(
          "load.stages: required for load.type concurrent ([{{num_requests, "
          "concurrency_level}}])");
    }
    for (size_t i = 0; i < load.stages.size(); ++i) {
      if (load.stages[i].num_requests <= 0) {
        return fail("load.stages[{}].num_requests: must be > 0 for load.type concurrent", i);
      }
      if (load.stages[i].concurrency_level <= 0) {
        return fail("load.stages[{}].concurrency_level: must be > 0 for load.type concurrent", i);
      }
    }
  } else if (load.sweep) {
    if (auto ok = validate_sweep(*load.sweep); !ok) return ok;
  } else {
    if (load.stages.empty()) {
      return fail("load.stages: required for load.type {} ([{{rate, duration}}]), or a load.sweep",
                  load.type);
    }
    for (size_t i = 0; i < load.stages.size(); ++i) {
      if (!(load.stages[i].rate > 0 && std::isfinite(load.stages[i].rate))) {
        return fail("load.stages[{}].rate: must be > 0, got {}", i, load.stages[i].rate);
      }
      if (!(load.stages[i].duration > 0 && std::isfinite(load.stages[i].duration))) {
        return fail("load.stages[{}].duration: must be > 0, got {}", i, load.stages[i].duration);
      }
    }
  }
  if (!(load.interval >= 0)) return fail("load.interval: must be >= 0, got {}", load.interval);
  if (load.num_workers < 0) return fail("load.num_workers: must be >= 0");
  if (load.worker_max_concurrency < 0) return fail("load.worker_max_concurrency: must be >= 0");
  if (load.worker_max_tcp_connections < 0) {
    return fail("load.worker_max_tcp_connections: must be >= 0");
  }
  if (!(load.request_timeout >= 0)) return fail("load.request_timeout: must be >= 0");
  if (!(load.burstiness > 0 && std::isfinite(load.burstiness))) {
    return fail("load.burstiness: must be > 0, got {}", load.burstiness);
  }
  if (!load.lora_traffic_split.empty()) {
    std::set<std::string_view> names;
    double total = 0;
    for (size_t i = 0; i < load.lora_traffic_split.size(); ++i) {
      const LoraSplit& s = load.lora_traffic_split[i];
      if (s.name.empty()) return fail("load.lora_traffic_split[{}].name: must not be empty", i);
      if (!names.insert(s.name).second) {
        return fail("load.lora_traffic_split[{}].name: '{}' appears twice", i, s.name);
      }
      if (!(s.split >= 0 && s.split <= 1)) {
        return fail("load.lora_traffic_split[{}].split: must be in [0, 1], got {}", i, s.split);
      }
      total += s.split;
    }
    if (std::abs(total - 1) > 1e-6) {
      return fail("load.lora_traffic_split: splits must sum to 1, got {}", total);
    }
  }
  return {};
}

Result<void> validate_server(const ServerConfig& server) {
  if (auto ok = check_choice("server.type", server.type, kServerTypes); !ok) return ok;
  std::string_view url = server.base_url;
  if (url.starts_with("https://")) {
    return fail("server.base_url: https is not supported yet, got '{}'", url);
  }
  if (!url.starts_with("http://") || url.size() == std::string_view("http://").size()) {
    return fail("server.base_url: expected an http:// URL, got '{}'", url);
  }
  return {};
}

Result<void> validate_report(const ReportConfig& report) {
  for (size_t i = 0; i < report.percentiles.size(); ++i) {
    double p = report.percentiles[i];
    if (!(p > 0 && p < 100)) {
      return fail("report.request_lifecycle.percentiles[{}]: must be in (0, 100), got {}", i, p);
    }
  }
  const GoodputConstraints& c = report.goodput;
  std::pair<std::string_view, const std::optional<double>&> constraints[] = {
      {"ttft", c.ttft},
      {"tpot", c.tpot},
      {"itl", c.itl},
      {"ntpot", c.ntpot},
      {"request_latency", c.request_latency}};
  for (const auto& [name, value] : constraints) {
    if (value && !(*value > 0 && std::isfinite(*value))) {
      return fail("report.goodput.constraints.{}: must be > 0 seconds, got {}", name, *value);
    }
  }
  return {};
}

}  // namespace

Result<PerfConfig> parse_config(std::string_view yaml, std::string_view source,
                                std::vector<std::string>& warnings) {
  // load_yaml_documents rather than YAML::Load: it requires UTF-8 text and hands out UTF-8
  // strings where yaml-cpp 0.7 does not, whose emitter would write them as U+FFFD, so the
  // config.yaml written into the report would name another file than the one used (found by
  // tests/fuzz/perf_config_fuzz.cpp, which checks parse_config(to_yaml(c)) == c).
  YAML::Node root;
  try {
    std::vector<YAML::Node> documents = load_yaml_documents(yaml);
    if (documents.size() > 1) {
      return fail("{}: expected one YAML document, found {}", source, documents.size());
    }
    if (!documents.empty()) root = documents.front();
  } catch (const YAML::ParserException& e) {
    return fail("{}: invalid YAML: {}{}", source, e.msg, position(e.mark));
  } catch (const YAML::Exception& e) {
    return fail("{}: invalid YAML: {}{}", source, e.msg, position(e.mark));
  }
  // The walk only reads, but yaml-cpp reports misuse by throwing; keep that from escaping.
  try {
    return parse_root(root, source, warnings);
  } catch (const YAML::Exception& e) {
    return fail("{}: {}{}", source, e.msg, position(e.mark));
  }
}

Result<PerfConfig> load_config(const std::string& path, std::vector<std::string>& warnings) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return fail("{}: is a directory, expected a config file", path);
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail("{}: cannot open the config file (no such file?)", path);
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return fail("{}: cannot read the config file", path);
  return parse_config(text.str(), path, warnings);
}

Result<void> validate(const PerfConfig& config) {
  if (auto ok = check_choice("api.type", config.api.type, kApiTypes); !ok) return ok;
  if (auto ok = validate_data(config.data); !ok) return ok;
  if (auto ok = validate_load(config.load); !ok) return ok;
  if (auto ok = validate_server(config.server); !ok) return ok;
  if (auto ok = check_choice("metrics.type", config.metrics.type, kMetricsTypes); !ok) return ok;
  if (config.metrics.type == "prometheus" &&
      (!config.metrics.prometheus || config.metrics.prometheus->url.empty())) {
    return fail("metrics.prometheus.url: required for metrics.type prometheus");
  }
  if (config.metrics.prometheus && !(config.metrics.prometheus->scrape_interval > 0)) {
    return fail("metrics.prometheus.scrape_interval: must be > 0");
  }
  if (!(config.metrics.scrape_interval >= 0.01) || config.metrics.scrape_interval > 3600) {
    return fail("metrics.scrape_interval: must be between 0.01 and 3600 seconds");
  }
  return validate_report(config.report);
}

}  // namespace kgai::perf
