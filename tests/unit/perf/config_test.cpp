#include "perf/config.h"

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::perf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The example from the facts file: the shape of a real published Inference Perf run.
constexpr const char* kPublishedExample = R"(api: {type: completion, streaming: true}
data:
  type: shared_prefix
  shared_prefix: {num_groups: 10, num_prompts_per_group: 10, system_prompt_len: 128, question_len: 64, output_len: 64}
load:
  type: constant
  interval: 1.0
  sweep: {type: linear, timeout: 180, num_stages: 7, stage_duration: 60}
report: {request_lifecycle: {summary: true, per_stage: true, per_request: true}}
server: {type: vllm, base_url: http://vllm-service:8000, ignore_eos: true, model_name: meta-llama/Meta-Llama-3-8B-Instruct}
)";

// Every key of every section, each set to a value other than its default.
constexpr const char* kAllKeys = R"(api:
  type: chat
  streaming: true
  headers: {x-team: infra, x-note: "a b"}
data:
  type: synthetic
  input_distribution: {min: 10, max: 2000, mean: 500.5, std_dev: 100.25, total_count: 1000}
  output_distribution: {min: 5, max: 300, mean: 120, std_dev: 30, total_count: 900}
  shared_prefix: {num_groups: 3, num_prompts_per_group: 4, system_prompt_len: 64, question_len: 32, output_len: 16}
  path: /data/sharegpt.json
load:
  type: poisson
  interval: 2.5
  stages:
    - {rate: 5, duration: 30}
    - {rate: 10.5, duration: 60, num_requests: 7, concurrency_level: 3}
  sweep: {type: geometric, num_requests: 500, timeout: 90, num_stages: 4, stage_duration: 45, saturation_percentile: 90}
  num_workers: 8
  worker_max_concurrency: 64
  worker_max_tcp_connections: 32
  request_timeout: 120
  lora_traffic_split:
    - {name: adapter-a, split: 0.25}
    - {name: adapter-b, split: 0.75}
  base_seed: 12345678901234
  burstiness: 0.5
server:
  type: sglang
  model_name: meta-llama/Llama-3.1-8B-Instruct
  base_url: http://sglang:30000
  ignore_eos: false
  api_key: sk-test
metrics:
  type: prometheus
  scrape_interval: 0.25
  prometheus: {url: "http://prometheus:9090", scrape_interval: 5, filters: ["vllm:num_requests_running", "model_name=\"x\""]}
report:
  request_lifecycle: {summary: false, per_stage: false, per_request: true, percentiles: [50, 90, 99.5]}
  prometheus: {summary: false, per_stage: false}
  goodput: {constraints: {ttft: 0.5, tpot: 0.05, itl: 0.1, ntpot: 0.06, request_latency: 10}}
storage:
  local_storage: {path: /tmp/reports, report_file_prefix: run1}
)";

Result<PerfConfig> parse(std::string_view yaml, std::vector<std::string>* warnings = nullptr) {
  std::vector<std::string> local;
  return parse_config(yaml, "perf.yaml", warnings ? *warnings : local);
}

PerfConfig parse_ok(std::string_view yaml, std::vector<std::string>* warnings = nullptr) {
  auto config = parse(yaml, warnings);
  EXPECT_TRUE(config.has_value()) << config.error().message;
  return config.value_or(PerfConfig{});
}

std::string parse_error(std::string_view yaml) {
  auto config = parse(yaml);
  EXPECT_FALSE(config.has_value()) << "parsed without error:\n" << yaml;
  return config.has_value() ? "" : config.error().message;
}

TEST(PerfConfigTest, PublishedExample) {
  std::vector<std::string> warnings;
  PerfConfig c = parse_ok(kPublishedExample, &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings[0];
  EXPECT_EQ(c.api.type, "completion");
  EXPECT_TRUE(c.api.streaming);
  EXPECT_EQ(c.data.type, "shared_prefix");
  ASSERT_TRUE(c.data.shared_prefix.has_value());
  EXPECT_EQ(c.data.shared_prefix->num_groups, 10);
  EXPECT_EQ(c.data.shared_prefix->num_prompts_per_group, 10);
  EXPECT_EQ(c.data.shared_prefix->system_prompt_len, 128);
  EXPECT_EQ(c.data.shared_prefix->question_len, 64);
  EXPECT_EQ(c.data.shared_prefix->output_len, 64);
  EXPECT_EQ(c.load.type, "constant");
  EXPECT_EQ(c.load.interval, 1.0);
  EXPECT_TRUE(c.load.stages.empty());
  ASSERT_TRUE(c.load.sweep.has_value());
  EXPECT_EQ(c.load.sweep->type, "linear");
  EXPECT_EQ(c.load.sweep->timeout, 180);
  EXPECT_EQ(c.load.sweep->num_stages, 7);
  EXPECT_EQ(c.load.sweep->stage_duration, 60);
  EXPECT_EQ(c.load.sweep->num_requests, 2000);  // default
  EXPECT_EQ(c.load.sweep->saturation_percentile, 95);
  EXPECT_TRUE(c.report.summary);
  EXPECT_TRUE(c.report.per_stage);
  EXPECT_TRUE(c.report.per_request);
  EXPECT_EQ(c.server.type, "vllm");
  EXPECT_EQ(c.server.base_url, "http://vllm-service:8000");
  EXPECT_TRUE(c.server.ignore_eos);
  EXPECT_EQ(c.server.model_name, "meta-llama/Meta-Llama-3-8B-Instruct");
  // Untouched sections keep their defaults.
  EXPECT_EQ(c.metrics, MetricsConfig{});
  EXPECT_EQ(c.storage, StorageConfig{});
  EXPECT_TRUE(validate(c).has_value()) << validate(c).error().message;
}

TEST(PerfConfigTest, ReadsEveryKey) {
  std::vector<std::string> warnings;
  PerfConfig c = parse_ok(kAllKeys, &warnings);
  // Stages next to a sweep are ignored by Inference Perf; the only warning says so.
  EXPECT_THAT(warnings, ElementsAre(StartsWith("load.stages: ignored because load.sweep is set")));

  EXPECT_EQ(c.api.type, "chat");
  EXPECT_TRUE(c.api.streaming);
  EXPECT_EQ(c.api.headers,
            (std::map<std::string, std::string>{{"x-team", "infra"}, {"x-note", "a b"}}));

  EXPECT_EQ(c.data.type, "synthetic");
  EXPECT_EQ(c.data.input_distribution, (Distribution{10, 2000, 500.5, 100.25, 1000}));
  EXPECT_EQ(c.data.output_distribution, (Distribution{5, 300, 120, 30, 900}));
  EXPECT_EQ(c.data.shared_prefix, (SharedPrefixConfig{3, 4, 64, 32, 16}));
  EXPECT_EQ(c.data.path, "/data/sharegpt.json");

  const LoadConfig& l = c.load;
  EXPECT_EQ(l.type, "poisson");
  EXPECT_EQ(l.interval, 2.5);
  ASSERT_EQ(l.stages.size(), 2u);
  EXPECT_EQ(l.stages[0], (StageConfig{5, 30, 0, 0}));
  EXPECT_EQ(l.stages[1], (StageConfig{10.5, 60, 7, 3}));
  EXPECT_EQ(l.sweep, (SweepConfig{"geometric", 500, 90, 4, 45, 90}));
  EXPECT_EQ(l.num_workers, 8);
  EXPECT_EQ(l.worker_max_concurrency, 64);
  EXPECT_EQ(l.worker_max_tcp_connections, 32);
  EXPECT_EQ(l.request_timeout, 120);
  ASSERT_EQ(l.lora_traffic_split.size(), 2u);
  EXPECT_EQ(l.lora_traffic_split[0], (LoraSplit{"adapter-a", 0.25}));
  EXPECT_EQ(l.lora_traffic_split[1], (LoraSplit{"adapter-b", 0.75}));
  EXPECT_EQ(l.base_seed, 12345678901234u);
  EXPECT_EQ(l.burstiness, 0.5);

  EXPECT_EQ(c.server.type, "sglang");
  EXPECT_EQ(c.server.model_name, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(c.server.base_url, "http://sglang:30000");
  EXPECT_FALSE(c.server.ignore_eos);
  EXPECT_EQ(c.server.api_key, "sk-test");

  EXPECT_EQ(c.metrics.type, "prometheus");
  EXPECT_EQ(c.metrics.scrape_interval, 0.25);
  ASSERT_TRUE(c.metrics.prometheus.has_value());
  EXPECT_EQ(c.metrics.prometheus->url, "http://prometheus:9090");
  EXPECT_EQ(c.metrics.prometheus->scrape_interval, 5);
  EXPECT_THAT(c.metrics.prometheus->filters,
              ElementsAre("vllm:num_requests_running", "model_name=\"x\""));

  const ReportConfig& r = c.report;
  EXPECT_FALSE(r.summary);
  EXPECT_FALSE(r.per_stage);
  EXPECT_TRUE(r.per_request);
  EXPECT_THAT(r.percentiles, ElementsAre(50, 90, 99.5));
  EXPECT_FALSE(r.prometheus_summary);
  EXPECT_FALSE(r.prometheus_per_stage);
  EXPECT_EQ(r.goodput.ttft, 0.5);
  EXPECT_EQ(r.goodput.tpot, 0.05);
  EXPECT_EQ(r.goodput.itl, 0.1);
  EXPECT_EQ(r.goodput.ntpot, 0.06);
  EXPECT_EQ(r.goodput.request_latency, 10);

  EXPECT_EQ(c.storage.path, "/tmp/reports");
  EXPECT_EQ(c.storage.report_file_prefix, "run1");

  EXPECT_TRUE(validate(c).has_value()) << validate(c).error().message;
}

TEST(PerfConfigTest, OlderSharedPrefixNames) {
  PerfConfig c = parse_ok(
      "data:\n  type: shared_prefix\n  shared_prefix: {num_unique_system_prompts: 7, "
      "num_users_per_system_prompt: 9}\n");
  ASSERT_TRUE(c.data.shared_prefix.has_value());
  EXPECT_EQ(c.data.shared_prefix->num_groups, 7);
  EXPECT_EQ(c.data.shared_prefix->num_prompts_per_group, 9);
  // Written back with the new names.
  EXPECT_THAT(to_yaml(c), HasSubstr("num_groups: 7"));
  EXPECT_THAT(to_yaml(c), HasSubstr("num_prompts_per_group: 9"));
  EXPECT_THAT(to_yaml(c), testing::Not(HasSubstr("num_unique_system_prompts")));

  EXPECT_THAT(parse_error("data:\n  shared_prefix:\n    num_groups: 3\n"
                          "    num_unique_system_prompts: 4\n"),
              HasSubstr("perf.yaml: data.shared_prefix.num_unique_system_prompts: give "
                        "'num_groups' or its older name 'num_unique_system_prompts', not both "
                        "(line 4)"));
  EXPECT_THAT(parse_error("data:\n  shared_prefix: {num_users_per_system_prompt: 1, "
                          "num_prompts_per_group: 2}\n"),
              HasSubstr("not both"));
}

TEST(PerfConfigTest, UnknownKeysWarnWithPathAndSuggestion) {
  std::vector<std::string> warnings;
  parse_ok(R"(serer: {type: vllm}
load:
  stagez: []
  type: constant
report:
  request_lifecycle: {percentile: [50]}
api: {type: chat, completely_unrelated_key: 1}
tokenizer: {pretrained_model_name_or_path: gpt2}
storage:
  google_cloud_storage: {bucket_name: b}
)",
           &warnings);
  EXPECT_THAT(warnings,
              ElementsAre("serer: unknown key (ignored); did you mean 'server'? (line 1)",
                          "api.completely_unrelated_key: unknown key (ignored) (line 7)",
                          "load.stagez: unknown key (ignored); did you mean 'stages'? (line 3)",
                          "report.request_lifecycle.percentile: unknown key (ignored); did you "
                          "mean 'percentiles'? (line 6)",
                          "storage.google_cloud_storage: only local storage is supported; "
                          "reports go to storage.local_storage.path (line 10)",
                          "tokenizer: ignored; kgai perf counts tokens from the server's usage "
                          "(line 8)"));
  // Keys inside list items carry their index.
  warnings.clear();
  parse_ok("load:\n  stages:\n  - {rate: 1, duraton: 2}\n", &warnings);
  EXPECT_THAT(warnings,
              ElementsAre(StartsWith("load.stages[0].duraton: unknown key (ignored); did you mean "
                                     "'duration'?")));
}

TEST(PerfConfigTest, ShareGptIsCaseInsensitive) {
  EXPECT_EQ(parse_ok("data: {type: sharegpt, path: x.json}").data.type, "shareGPT");
  EXPECT_EQ(parse_ok("data: {type: ShareGPT, path: x.json}").data.type, "shareGPT");
  EXPECT_EQ(parse_ok("data: {type: shareGPT, path: x.json}").data.type, "shareGPT");
}

TEST(PerfConfigTest, NullSectionsAndValuesKeepDefaults) {
  PerfConfig c = parse_ok("api:\nload:\n  interval:\n  sweep:\nserver: {model_name: ~}\n");
  EXPECT_EQ(c, PerfConfig{});
}

struct ErrorCase {
  const char* yaml;
  const char* message;
};

TEST(PerfConfigTest, ErrorsNameFileKeyAndLine) {
  const ErrorCase cases[] = {
      // The example from the header: a word where a number belongs.
      {"api:\n  type: completion\nload:\n  type: constant\n  stages:\n  - {rate: 1, duration: 10}\n"
       "  - {rate: fast, duration: 10}\n",
       "perf.yaml: load.stages[1].rate: expected a number, got 'fast' (line 7)"},
      {"load:\n  stages:\n  - {rate: -1, duration: 10}\n",
       "perf.yaml: load.stages[0].rate: expected a non-negative number, got '-1' (line 3)"},
      {"load:\n  stages:\n  - {rate: 1, duration: .nan}\n",
       "load.stages[0].duration: expected a number, got '.nan' (line 3)"},
      {"load:\n  stages: 5\n", "perf.yaml: load.stages: expected a list, got '5' (line 2)"},
      {"load:\n  stages: [5]\n", "perf.yaml: load.stages[0]: expected a map, got '5' (line 2)"},
      {"load:\n  stages:\n  -\n", "load.stages[0]: expected a map, got null"},
      {"load:\n  type: trace_replay\n",
       "perf.yaml: load.type: 'trace_replay' is not supported by kgai perf (supported: constant, "
       "poisson, concurrent) (line 2)"},
      {"load:\n  num_workers: 1.5\n", "load.num_workers: expected an integer, got '1.5' (line 2)"},
      {"load:\n  num_workers: -2\n",
       "load.num_workers: expected a non-negative integer, got '-2' (line 2)"},
      {"load:\n  worker_max_concurrency: 99999999999\n",
       "load.worker_max_concurrency: expected an integer of at most 2147483647"},
      {"load:\n  base_seed: -1\n", "load.base_seed: expected a non-negative integer, got '-1'"},
      {"load:\n  base_seed: 99999999999999999999999\n", "load.base_seed: integer out of range"},
      {"load:\n  burstiness: 0\n", "load.burstiness: expected a positive number, got '0' (line 2)"},
      {"load:\n  interval: [1]\n", "load.interval: expected a number, got a list (line 2)"},
      {"load:\n  sweep: {type: exponential}\n",
       "load.sweep.type: 'exponential' is not supported by kgai perf (supported: linear, "
       "geometric) (line 2)"},
      {"load:\n  sweep:\n    saturation_percentile: 100\n",
       "load.sweep.saturation_percentile: expected a number in (0, 100), got '100' (line 3)"},
      {"load:\n  sweep: [1]\n", "load.sweep: expected a map, got a list (line 2)"},
      {"load:\n  lora_traffic_split:\n  - {name: a, split: 1.5}\n",
       "perf.yaml: load.lora_traffic_split[0].split: expected a number in [0, 1], got '1.5' "
       "(line 3)"},
      {"load:\n  lora_traffic_split:\n  - {name: [a], split: 1}\n",
       "load.lora_traffic_split[0].name: expected a string, got a list (line 3)"},
      {"load:\n  type: constant\n  type: poisson\n",
       "perf.yaml: load.type: duplicate key (line 3)"},
      {"api:\n  type: embeddings\n",
       "perf.yaml: api.type: 'embeddings' is not supported by kgai perf (supported: completion, "
       "chat) (line 2)"},
      {"api:\n  streaming: maybe\n", "api.streaming: expected true or false, got 'maybe' (line 2)"},
      {"api:\n  headers: [a]\n", "api.headers: expected a map of strings, got a list (line 2)"},
      {"api:\n  headers: {x: {y: z}}\n", "api.headers.x: expected a string, got a map (line 2)"},
      {"api: [1, 2]\n", "perf.yaml: api: expected a map, got a list (line 1)"},
      {"data:\n  type: cnn_dailymail\n",
       "perf.yaml: data.type: 'cnn_dailymail' is not supported by kgai perf (supported: mock, "
       "shareGPT, synthetic, random, shared_prefix) (line 2)"},
      {"data:\n  input_distribution: {min: x}\n",
       "data.input_distribution.min: expected an integer, got 'x' (line 2)"},
      {"data:\n  shared_prefix: {num_groups: -1}\n",
       "data.shared_prefix.num_groups: expected a non-negative integer, got '-1'"},
      {"server:\n  type: triton\n",
       "server.type: 'triton' is not supported by kgai perf (supported: vllm, sglang, tgi, mock)"},
      {"server:\n  model_name: {a: 1}\n", "server.model_name: expected a string, got a map"},
      {"server:\n  ignore_eos: 2\n", "server.ignore_eos: expected true or false, got '2'"},
      {"metrics:\n  type: datadog\n",
       "metrics.type: 'datadog' is not supported by kgai perf (supported: default, prometheus)"},
      {"metrics:\n  prometheus: {scrape_interval: 0}\n",
       "metrics.prometheus.scrape_interval: expected a positive number, got '0'"},
      {"metrics:\n  scrape_interval: fast\n",
       "metrics.scrape_interval: expected a number, got 'fast'"},
      {"metrics:\n  prometheus: {filters: [[a]]}\n",
       "metrics.prometheus.filters[0]: expected a string, got a list (line 2)"},
      {"report:\n  request_lifecycle:\n    percentiles: [50, 100]\n",
       "perf.yaml: report.request_lifecycle.percentiles[1]: expected a number in (0, 100), got "
       "'100' (line 3)"},
      {"report:\n  request_lifecycle:\n    percentiles: [0]\n",
       "percentiles[0]: expected a number in (0, 100), got '0'"},
      {"report:\n  goodput:\n    constraints: {ttft: -0.5}\n",
       "report.goodput.constraints.ttft: expected a positive number, got '-0.5' (line 3)"},
      {"storage:\n  local_storage: {path: [a]}\n",
       "storage.local_storage.path: expected a string, got a list"},
      {"[1, 2]\n",
       "perf.yaml: expected a map of sections (api, data, load, ...) at the top level, "
       "got a list (line 1, column 1)"},
      {"just a string\n", "at the top level, got 'just a string'"},
      {"? [a, b]\n: 1\n", "perf.yaml: expected string keys, got a list as a key (line 1)"},
      {"", "perf.yaml: empty config"},
      {"# only a comment\n\n", "perf.yaml: empty config"},
      {"api:\n  type: [chat\nload: {}\n", "perf.yaml: invalid YAML: "},
      {"api:\n  type: chat\n   streaming: true\n", "perf.yaml: invalid YAML: "},
      {"load: {type: constant\n", "perf.yaml: invalid YAML: "},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_THAT(parse_error(c.yaml), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(PerfConfigTest, SyntaxErrorsGiveLineAndColumn) {
  std::string message = parse_error("api:\n  type: chat\nload:\n  stages: [1, 2\n");
  EXPECT_THAT(message, StartsWith("perf.yaml: invalid YAML: "));
  EXPECT_THAT(message, testing::ContainsRegex(R"(\(line [0-9]+, column [0-9]+\)$)"));
}

TEST(PerfConfigTest, DeepNestingIsAnErrorNotACrash) {
  std::string yaml = "load: " + std::string(100000, '[') + std::string(100000, ']');
  auto config = parse(yaml);
  EXPECT_FALSE(config.has_value());
}

// Every prefix of a valid file either parses or gives an error (parsers meet truncated files
// when a write is cut short).
TEST(PerfConfigTest, TruncatedFilesNeverCrash) {
  std::string full = kAllKeys;
  for (size_t n = 0; n <= full.size(); ++n) {
    std::vector<std::string> warnings;
    auto config = parse_config(full.substr(0, n), "perf.yaml", warnings);
    if (config) {
      (void)validate(*config);
      (void)to_yaml(*config);
    } else {
      EXPECT_THAT(config.error().message, StartsWith("perf.yaml: ")) << n;
    }
  }
}

// Random edits with YAML's special characters: never a crash, and whatever parses writes back
// to the same config.
TEST(PerfConfigTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(20240611);
  const std::string base = kAllKeys;
  const std::string specials = ":-[]{}#&*!|>'\"%@`,? \n\t0123456789.e+x";
  int parsed = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      char ch = specials[rng() % specials.size()];
      switch (rng() % 4) {
        case 0:
          text[at] = ch;
          break;
        case 1:
          text.insert(at, 1, ch);
          break;
        case 2:
          text.erase(at, 1 + rng() % 8);
          break;
        default: {
          size_t len = std::min<size_t>(1 + rng() % 40, text.size() - at);
          text.insert(rng() % text.size(), text.substr(at, len));
        }
      }
    }
    std::vector<std::string> warnings;
    auto config = parse_config(text, "perf.yaml", warnings);
    if (!config) {
      EXPECT_THAT(config.error().message, StartsWith("perf.yaml: "));
      continue;
    }
    ++parsed;
    (void)validate(*config);
    std::string yaml = to_yaml(*config);
    std::vector<std::string> again_warnings;
    auto again = parse_config(yaml, "config.yaml", again_warnings);
    ASSERT_TRUE(again.has_value()) << again.error().message << "\n" << yaml;
    EXPECT_EQ(*again, *config) << text << "\n---\n" << yaml;
  }
  // The loop must exercise the success path too, not only errors.
  EXPECT_GT(parsed, 100);
}

PerfConfig valid_base() {
  PerfConfig c;
  c.load.stages = {StageConfig{.rate = 1, .duration = 10}};
  return c;
}

struct ValidateCase {
  const char* name;
  std::function<void(PerfConfig&)> change;
  const char* message;  // "" = valid
};

TEST(PerfConfigTest, Validate) {
  const ValidateCase cases[] = {
      {"base", [](PerfConfig&) {}, ""},
      {"no stages", [](PerfConfig& c) { c.load.stages.clear(); },
       "load.stages: required for load.type constant"},
      {"sweep instead of stages",
       [](PerfConfig& c) {
         c.load.stages.clear();
         c.load.sweep = SweepConfig{};
       },
       ""},
      {"zero rate", [](PerfConfig& c) { c.load.stages[0].rate = 0; },
       "load.stages[0].rate: must be > 0"},
      {"negative rate", [](PerfConfig& c) { c.load.stages[0].rate = -3; },
       "load.stages[0].rate: must be > 0, got -3"},
      {"zero duration",
       [](PerfConfig& c) {
         c.load.type = "poisson";
         c.load.stages.push_back({.rate = 2, .duration = 0});
       },
       "load.stages[1].duration: must be > 0"},
      {"bad sweep", [](PerfConfig& c) { c.load.sweep = SweepConfig{.num_stages = 0}; },
       "load.sweep.num_stages: must be > 0"},
      {"sweep percentile",
       [](PerfConfig& c) { c.load.sweep = SweepConfig{.saturation_percentile = 100}; },
       "load.sweep.saturation_percentile: must be in (0, 100)"},
      {"concurrent ok",
       [](PerfConfig& c) {
         c.load.type = "concurrent";
         c.load.stages = {{.num_requests = 100, .concurrency_level = 8}};
       },
       ""},
      {"concurrent with rate stages", [](PerfConfig& c) { c.load.type = "concurrent"; },
       "load.stages[0].num_requests: must be > 0 for load.type concurrent"},
      {"concurrent zero level",
       [](PerfConfig& c) {
         c.load.type = "concurrent";
         c.load.stages = {{.num_requests = 100}};
       },
       "load.stages[0].concurrency_level: must be > 0"},
      {"concurrent no stages",
       [](PerfConfig& c) {
         c.load.type = "concurrent";
         c.load.stages.clear();
       },
       "load.stages: required for load.type concurrent"},
      {"concurrent sweep",
       [](PerfConfig& c) {
         c.load.type = "concurrent";
         c.load.stages = {{.num_requests = 100, .concurrency_level = 8}};
         c.load.sweep = SweepConfig{};
       },
       "load.sweep: not supported for load.type concurrent"},
      {"load type", [](PerfConfig& c) { c.load.type = "trace_replay"; },
       "load.type: 'trace_replay' is not supported by kgai perf"},
      {"burstiness", [](PerfConfig& c) { c.load.burstiness = 0; }, "load.burstiness: must be > 0"},
      {"shareGPT without path", [](PerfConfig& c) { c.data.type = "shareGPT"; },
       "data.path: required for data.type shareGPT"},
      {"shareGPT with path",
       [](PerfConfig& c) {
         c.data.type = "shareGPT";
         c.data.path = "sharegpt.json";
       },
       ""},
      {"synthetic without input", [](PerfConfig& c) { c.data.type = "synthetic"; },
       "data.input_distribution: required for data.type synthetic"},
      {"random without output",
       [](PerfConfig& c) {
         c.data.type = "random";
         c.data.input_distribution = Distribution{};
       },
       "data.output_distribution: required for data.type random"},
      {"random ok",
       [](PerfConfig& c) {
         c.data.type = "random";
         c.data.input_distribution = Distribution{};
         c.data.output_distribution = Distribution{};
       },
       ""},
      {"min above max",
       [](PerfConfig& c) {
         c.data.type = "synthetic";
         c.data.input_distribution = Distribution{.min = 10, .max = 5, .mean = 7};
         c.data.output_distribution = Distribution{};
       },
       "data.input_distribution: min 10 is above max 5"},
      {"mean outside",
       [](PerfConfig& c) {
         c.data.type = "synthetic";
         c.data.input_distribution = Distribution{};
         c.data.output_distribution = Distribution{.min = 1, .max = 10, .mean = 20};
       },
       "data.output_distribution: mean 20 is outside [min 1, max 10]"},
      {"shared_prefix without block", [](PerfConfig& c) { c.data.type = "shared_prefix"; },
       "data.shared_prefix: required for data.type shared_prefix"},
      {"shared_prefix zero groups",
       [](PerfConfig& c) {
         c.data.type = "shared_prefix";
         c.data.shared_prefix = SharedPrefixConfig{.num_groups = 0};
       },
       "data.shared_prefix.num_groups: must be > 0"},
      {"data type", [](PerfConfig& c) { c.data.type = "cnn_dailymail"; },
       "data.type: 'cnn_dailymail' is not supported by kgai perf (supported: mock, shareGPT"},
      {"api type", [](PerfConfig& c) { c.api.type = "embeddings"; },
       "api.type: 'embeddings' is not supported"},
      {"lora ok",
       [](PerfConfig& c) {
         c.load.lora_traffic_split = {{"a", 0.1}, {"b", 0.2}, {"c", 0.7}};
       },
       ""},
      {"lora sum",
       [](PerfConfig& c) {
         c.load.lora_traffic_split = {{"a", 0.5}, {"b", 0.4}};
       },
       "load.lora_traffic_split: splits must sum to 1, got 0.9"},
      {"lora empty name",
       [](PerfConfig& c) {
         c.load.lora_traffic_split = {{"", 1}};
       },
       "load.lora_traffic_split[0].name: must not be empty"},
      {"lora duplicate",
       [](PerfConfig& c) {
         c.load.lora_traffic_split = {{"a", 0.5}, {"a", 0.5}};
       },
       "load.lora_traffic_split[1].name: 'a' appears twice"},
      {"lora range",
       [](PerfConfig& c) {
         c.load.lora_traffic_split = {{"a", 1.5}, {"b", -0.5}};
       },
       "load.lora_traffic_split[0].split: must be in [0, 1]"},
      {"prometheus without url", [](PerfConfig& c) { c.metrics.type = "prometheus"; },
       "metrics.prometheus.url: required for metrics.type prometheus"},
      {"prometheus with url",
       [](PerfConfig& c) {
         c.metrics.type = "prometheus";
         c.metrics.prometheus = PrometheusConfig{.url = "http://prom:9090"};
       },
       ""},
      {"direct scrape interval", [](PerfConfig& c) { c.metrics.scrape_interval = 0.001; },
       "metrics.scrape_interval: must be between 0.01 and 3600 seconds"},
      {"https", [](PerfConfig& c) { c.server.base_url = "https://api.example.com"; },
       "server.base_url: https is not supported yet"},
      {"not a url", [](PerfConfig& c) { c.server.base_url = "localhost:8000"; },
       "server.base_url: expected an http:// URL, got 'localhost:8000'"},
      {"server type", [](PerfConfig& c) { c.server.type = "triton"; },
       "server.type: 'triton' is not supported"},
      {"percentile",
       [](PerfConfig& c) {
         c.report.percentiles = {50, 100};
       },
       "report.request_lifecycle.percentiles[1]: must be in (0, 100)"},
      {"goodput", [](PerfConfig& c) { c.report.goodput.ttft = 0; },
       "report.goodput.constraints.ttft: must be > 0"},
  };
  for (const ValidateCase& test : cases) {
    PerfConfig c = valid_base();
    test.change(c);
    auto result = validate(c);
    if (std::string_view(test.message).empty()) {
      EXPECT_TRUE(result.has_value()) << test.name << ": " << result.error().message;
    } else {
      ASSERT_FALSE(result.has_value()) << test.name;
      EXPECT_THAT(result.error().message, HasSubstr(test.message)) << test.name;
    }
  }
}

TEST(PerfConfigTest, RoundTrip) {
  auto check = [](const PerfConfig& c) {
    std::string yaml = to_yaml(c);
    std::vector<std::string> warnings;
    auto back = parse_config(yaml, "config.yaml", warnings);
    ASSERT_TRUE(back.has_value()) << back.error().message << "\n" << yaml;
    EXPECT_EQ(*back, c) << yaml;
    // Stages next to a sweep warn again; nothing else may.
    for (const std::string& warning : warnings) {
      EXPECT_THAT(warning, StartsWith("load.stages: ignored because load.sweep is set"));
    }
  };
  check(PerfConfig{});
  check(parse_ok(kPublishedExample));
  PerfConfig all = parse_ok(kAllKeys);
  check(all);

  // Strings YAML would otherwise read as something else, and numbers that need every digit.
  PerfConfig odd = all;
  odd.server.model_name = "null";
  odd.server.api_key = "~";
  odd.storage.report_file_prefix = "true";
  odd.storage.path = "reports-{timestamp}";
  odd.data.path = "a: b # c";
  odd.api.headers = {{"x-quote", "\"q\" 'r'"}, {"x-empty", ""}, {"123", "456"}};
  odd.load.stages = {{.rate = 0.1 + 0.2, .duration = 1e-9}, {.rate = 1e20, .duration = 1.0 / 3}};
  odd.load.base_seed = UINT64_MAX;
  odd.report.percentiles = {};
  odd.report.goodput = GoodputConstraints{.tpot = 0.025};
  odd.metrics.prometheus->filters = {};
  check(odd);
}

// Found by tests/fuzz: a byte that is not UTF-8 (in the text, or from the escape "\N") was
// read as itself but written to config.yaml as U+FFFD, so the config named another file.
TEST(PerfConfigTest, TextThatIsNotUtf8IsAnError) {
  EXPECT_EQ(parse_error("data:\n  type: shareGPT\n  path: /data/caf\xe9.json\n"),
            "perf.yaml: invalid YAML: not valid UTF-8 text (line 3, column 1)");
  // yaml-cpp 0.7 alone reads the escape "\N" as the byte 0x85.
  EXPECT_EQ(parse_ok("data: {path: \"a\\Nb\"}\n").data.path, "a\xc2\x85\x62");
  EXPECT_EQ(parse_ok("data: {path: /data/caf\xc3\xa9.json}\n").data.path, "/data/caf\xc3\xa9.json");
}

TEST(PerfConfigTest, ToYamlUsesInferencePerfKeys) {
  std::string yaml = to_yaml(parse_ok(kAllKeys));
  for (const char* key :
       {"request_lifecycle:", "local_storage:", "report_file_prefix:", "lora_traffic_split:",
        "saturation_percentile:", "worker_max_tcp_connections:", "constraints:", "scrape_interval:",
        "num_prompts_per_group:", "input_distribution:"}) {
    EXPECT_THAT(yaml, HasSubstr(key));
  }
}

class TempFile {
 public:
  TempFile(const std::string& name, const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("kgai_perf_config_test_" + std::to_string(::getpid()) + "_" + name)) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(PerfConfigTest, LoadConfig) {
  std::vector<std::string> warnings;
  auto missing = load_config("/nonexistent/kgai/perf.yaml", warnings);
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message,
              HasSubstr("/nonexistent/kgai/perf.yaml: cannot open the config file"));

  auto directory = load_config(std::filesystem::temp_directory_path().string(), warnings);
  ASSERT_FALSE(directory.has_value());
  EXPECT_THAT(directory.error().message, HasSubstr("is a directory"));

  TempFile file("good.yaml", kPublishedExample);
  auto config = load_config(file.path(), warnings);
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->server.base_url, "http://vllm-service:8000");

  TempFile bad("bad.yaml", "load:\n  stages: [{rate: fast}]\n");
  auto error = load_config(bad.path(), warnings);
  ASSERT_FALSE(error.has_value());
  EXPECT_THAT(error.error().message,
              HasSubstr(bad.path() + ": load.stages[0].rate: expected a number, got 'fast'"));
}

}  // namespace
}  // namespace kgai::perf
