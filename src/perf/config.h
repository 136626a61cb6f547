// Inference Perf's configuration (its documented YAML format, docs/config.md there), read from its
// YAML files so users keep the configs they have. Field names follow the YAML keys.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kgai::perf {

struct ApiConfig {
  std::string type = "completion";  // completion | chat
  bool streaming = false;
  std::map<std::string, std::string> headers;

  friend bool operator==(const ApiConfig&, const ApiConfig&) = default;
};

// A token-length distribution as Inference Perf writes it.
struct Distribution {
  int min = 1;
  int max = 1024;
  double mean = 256;
  double std_dev = 0;
  int total_count = 0;  // 0 = not given

  friend bool operator==(const Distribution&, const Distribution&) = default;
};

struct SharedPrefixConfig {
  int num_groups = 10;             // older files: num_unique_system_prompts
  int num_prompts_per_group = 10;  // older files: num_users_per_system_prompt
  int system_prompt_len = 100;
  int question_len = 50;
  int output_len = 50;

  friend bool operator==(const SharedPrefixConfig&, const SharedPrefixConfig&) = default;
};

struct DataConfig {
  std::string type = "mock";  // mock | shareGPT | synthetic | random | shared_prefix
  std::optional<Distribution> input_distribution;
  std::optional<Distribution> output_distribution;
  std::optional<SharedPrefixConfig> shared_prefix;
  std::string path;  // file datasets (shareGPT)

  friend bool operator==(const DataConfig&, const DataConfig&) = default;
};

struct StageConfig {
  double rate = 0;            // requests/s (open loop)
  double duration = 0;        // seconds
  int64_t num_requests = 0;   // concurrent stages
  int concurrency_level = 0;  // concurrent stages

  friend bool operator==(const StageConfig&, const StageConfig&) = default;
};

struct SweepConfig {
  std::string type = "linear";  // linear | geometric
  int64_t num_requests = 2000;
  double timeout = 60;
  int num_stages = 5;
  double stage_duration = 180;
  double saturation_percentile = 95;

  friend bool operator==(const SweepConfig&, const SweepConfig&) = default;
};

struct LoraSplit {
  std::string name;
  double split = 0;

  friend bool operator==(const LoraSplit&, const LoraSplit&) = default;
};

struct LoadConfig {
  std::string type = "constant";  // constant | poisson | concurrent (trace_replay: not supported)
  double interval = 1.0;          // seconds between stages
  std::vector<StageConfig> stages;
  std::optional<SweepConfig> sweep;
  int num_workers = 0;                 // 0 = one per core
  int worker_max_concurrency = 0;      // 0 = no cap (open loop); Inference Perf's default is 100
  int worker_max_tcp_connections = 0;  // 0 = as many as needed
  double request_timeout = 0;          // seconds, 0 = none
  std::vector<LoraSplit> lora_traffic_split;
  uint64_t base_seed = 0;
  // kgai extension: gamma-distributed gaps with this shape (1 = Poisson), as vLLM's
  // --burstiness. Only for type poisson.
  double burstiness = 1.0;

  friend bool operator==(const LoadConfig&, const LoadConfig&) = default;
};

struct ServerConfig {
  std::string type = "vllm";  // vllm | sglang | tgi | mock
  std::string model_name;     // "" = discovered from /v1/models
  std::string base_url = "http://localhost:8000";
  bool ignore_eos = true;
  std::string api_key;

  friend bool operator==(const ServerConfig&, const ServerConfig&) = default;
};

struct PrometheusConfig {
  std::string url;
  double scrape_interval = 15;
  std::vector<std::string> filters;

  friend bool operator==(const PrometheusConfig&, const PrometheusConfig&) = default;
};

struct MetricsConfig {
  std::string type = "default";  // default | prometheus
  // kgai's own key: seconds between scrapes of the server's /metrics while a stage runs, for
  // type default (Prometheus has its own interval).
  double scrape_interval = 1.0;
  std::optional<PrometheusConfig> prometheus;

  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

struct GoodputConstraints {
  std::optional<double> ttft, tpot, itl, ntpot, request_latency;  // seconds
  bool empty() const { return !ttft && !tpot && !itl && !ntpot && !request_latency; }

  friend bool operator==(const GoodputConstraints&, const GoodputConstraints&) = default;
};

struct ReportConfig {
  bool summary = true;
  bool per_stage = true;
  bool per_request = false;
  std::vector<double> percentiles = {0.1, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9};
  bool prometheus_summary = true;
  bool prometheus_per_stage = true;
  GoodputConstraints goodput;

  friend bool operator==(const ReportConfig&, const ReportConfig&) = default;
};

struct StorageConfig {
  std::string path = "reports-{timestamp}";
  std::string report_file_prefix;

  friend bool operator==(const StorageConfig&, const StorageConfig&) = default;
};

struct PerfConfig {
  ApiConfig api;
  DataConfig data;
  LoadConfig load;
  ServerConfig server;
  MetricsConfig metrics;
  ReportConfig report;
  StorageConfig storage;

  friend bool operator==(const PerfConfig&, const PerfConfig&) = default;
};

// Parses a config. Unknown keys are appended to `warnings` by their full path
// ("load.stagez: unknown key (ignored); did you mean 'stages'? (line 5)"), as are keys kgai
// reads but does not use (tokenizer, remote storage backends, stages next to a sweep); wrong
// types, out-of-range values, YAML syntax errors and an empty file are errors naming the
// file, key and line, e.g. "perf.yaml: load.stages[1].rate: expected a number, got 'fast'
// (line 7)". A missing or null key keeps the struct's default. Choices (types) match
// case-insensitively and are stored in their canonical spelling ("sharegpt" -> "shareGPT").
// Both shared_prefix spellings are read; giving both is an error.
Result<PerfConfig> parse_config(std::string_view yaml, std::string_view source,
                                std::vector<std::string>& warnings);
Result<PerfConfig> load_config(const std::string& path, std::vector<std::string>& warnings);

// Checks what parsing alone cannot: a stage list or a sweep for the load type, positive rates
// and durations, a dataset path for shareGPT, splits summing to 1, ... Run after flags are
// applied, before any request is sent. synthetic and random data need both
// input_distribution and output_distribution (as in Inference Perf: no silent defaults), with
// min <= mean <= max; shared_prefix data needs the shared_prefix block; server.base_url must be
// http:// (https is not supported yet). Messages name the key ("load.stages[0].rate: must be
// > 0, got 0") but no file or line, since flags may have set the value.
Result<void> validate(const PerfConfig& config);

// The config as YAML (written to config.yaml in the report folder): every field, defaults
// included, with Inference Perf's key names (the new shared_prefix names); unset optional
// blocks are written as null. parse_config(to_yaml(c)) == c.
std::string to_yaml(const PerfConfig& config);

}  // namespace kgai::perf
