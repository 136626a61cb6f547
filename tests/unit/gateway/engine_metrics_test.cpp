#include "gateway/engine_metrics.h"

#include <string>

#include <gtest/gtest.h>

#include "common/prometheus.h"
#include "sim/engine.h"
#include "sim/vllm_metrics.h"
#include "unit/common/prometheus_compare.h"
#include "unit/sim/test_model.h"

namespace kgai::gateway {
namespace {

EngineMetrics read(std::string_view text, EngineType engine) {
  auto metrics = read_engine_metrics(text, engine);
  EXPECT_TRUE(metrics) << metrics.error().message;
  return metrics ? *metrics : EngineMetrics{};
}

constexpr std::string_view kVllmPage =
    R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3
vllm:num_requests_running{engine="1",model_name="m"} 4
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1
vllm:num_requests_waiting{engine="1",model_name="m"} 2
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.9
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 12345
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="0.1"} 1
vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="+Inf"} 2
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.3
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 2
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="4",running_lora_adapters="old",waiting_lora_adapters=""} 1.7e9
vllm:lora_requests_info{max_lora="4",running_lora_adapters="sql,chat",waiting_lora_adapters="code"} 1.700000005e9
vllm:lora_requests_info{max_lora="4",running_lora_adapters="older",waiting_lora_adapters=""} 1.6e9
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",engine="0",num_gpu_blocks="1000"} 1
vllm:cache_config_info{block_size="16",cache_dtype="auto",engine="1",num_gpu_blocks="1200"} 1
)";

TEST(EngineMetrics, VllmSumsCountsAveragesKvAndTakesTheNewestLoraSample) {
  EngineMetrics m = read(kVllmPage, EngineType::kVllm);
  EXPECT_EQ(m.running, 7);
  EXPECT_EQ(m.waiting, 3);
  // The new name wins over the deprecated one; the two cores are averaged.
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.5);
  EXPECT_EQ(m.running_loras, (std::vector<std::string>{"sql", "chat"}));
  EXPECT_EQ(m.waiting_loras, (std::vector<std::string>{"code"}));
  EXPECT_EQ(m.max_lora, 4);
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 2200);
}

TEST(EngineMetrics, VllmOldKvNameAndMissingMetricsAreNotErrors) {
  EngineMetrics m = read(R"(# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.4
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="32",num_gpu_blocks="None"} 1
)",
                         EngineType::kVllm);
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.4);
  EXPECT_FALSE(m.waiting);
  EXPECT_FALSE(m.running);
  EXPECT_TRUE(m.running_loras.empty());
  EXPECT_FALSE(m.max_lora);
  EXPECT_EQ(m.block_size, 32);
  EXPECT_FALSE(m.num_blocks);  // "None" before vLLM's memory profile: absent, not zero
}

TEST(EngineMetrics, EmptyPageGivesEmptyMetrics) {
  EXPECT_EQ(read("", EngineType::kVllm), EngineMetrics{});
  EXPECT_EQ(read("# just a comment\n", EngineType::kSglang), EngineMetrics{});
}

TEST(EngineMetrics, NonFiniteAndOutOfRangeValues) {
  EngineMetrics m = read(R"(# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0"} NaN
vllm:num_requests_waiting{engine="1"} 5
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc 1.5
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running NaN
)",
                         EngineType::kVllm);
  EXPECT_EQ(m.waiting, 5);  // the NaN series is skipped, not summed
  EXPECT_DOUBLE_EQ(*m.kv_usage, 1.0);
  EXPECT_FALSE(m.running);
}

TEST(EngineMetrics, LoraInfoWithNoAdapters) {
  EngineMetrics m = read(R"(# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""} 1.7e9
)",
                         EngineType::kVllm);
  EXPECT_TRUE(m.running_loras.empty());
  EXPECT_TRUE(m.waiting_loras.empty());
  EXPECT_EQ(m.max_lora, 2);
}

TEST(EngineMetrics, Sglang) {
  EngineMetrics m = read(R"(# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.28
# TYPE sglang:cache_config_info gauge
sglang:cache_config_info{num_pages="120000",page_size="1"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting 99
)",
                         EngineType::kSglang);
  EXPECT_EQ(m.running, 12);
  EXPECT_EQ(m.waiting, 4);  // vLLM's name on an SGLang endpoint is not read
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.28);
  EXPECT_EQ(m.block_size, 1);
  EXPECT_EQ(m.num_blocks, 120000);
  EXPECT_FALSE(m.max_lora);
}

TEST(EngineMetrics, TrtllmServe) {
  EngineMetrics m = read(R"(# TYPE trtllm_num_requests_waiting gauge
trtllm_num_requests_waiting{model_name="llama"} 2
# TYPE trtllm_num_requests_running gauge
trtllm_num_requests_running{model_name="llama"} 9
# TYPE trtllm_kv_cache_utilization gauge
trtllm_kv_cache_utilization{model_name="llama"} 0.6
# TYPE trtllm_kv_cache_tokens_per_block gauge
trtllm_kv_cache_tokens_per_block{model_name="llama"} 32
# TYPE trtllm_kv_cache_max_blocks gauge
trtllm_kv_cache_max_blocks{model_name="llama"} 4096
)",
                         EngineType::kTrtllm);
  EXPECT_EQ(m.waiting, 2);
  EXPECT_EQ(m.running, 9);
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.6);
  EXPECT_EQ(m.block_size, 32);
  EXPECT_EQ(m.num_blocks, 4096);
}

TEST(EngineMetrics, TritonTrtllmBackendSelectsByLabel) {
  EngineMetrics m = read(R"(# HELP nv_trt_llm_request_metrics TRT LLM request metrics
# TYPE nv_trt_llm_request_metrics gauge
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="context",version="1"} 1
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="scheduled",version="1"} 6
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="max",version="1"} 512
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="active",version="1"} 8
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="waiting",version="1"} 2
nv_trt_llm_request_metrics{model="other",request_type="waiting",version="1"} 3
# HELP nv_trt_llm_kv_cache_block_metrics TRT LLM KV cache block metrics
# TYPE nv_trt_llm_kv_cache_block_metrics gauge
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction",model="tensorrt_llm",version="1"} 0.2
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="tokens_per",model="tensorrt_llm",version="1"} 64
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="used",model="tensorrt_llm",version="1"} 100
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="free",model="tensorrt_llm",version="1"} 400
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max",model="tensorrt_llm",version="1"} 500
)",
                         EngineType::kTriton);
  EXPECT_EQ(m.waiting, 5);  // two models, summed
  EXPECT_EQ(m.running, 6);
  EXPECT_DOUBLE_EQ(*m.kv_usage, 0.2);
  EXPECT_EQ(m.block_size, 64);
  EXPECT_EQ(m.num_blocks, 500);
}

TEST(EngineMetrics, MalformedTextIsAnErrorWithTheLine) {
  auto garbage =
      read_engine_metrics("vllm:num_requests_waiting 1\n}}} not metrics {{{\n", EngineType::kVllm);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("line 2"), std::string::npos) << garbage.error().message;

  auto binary = read_engine_metrics(std::string("\x89PNG\r\n\x1a\n\0\0", 10), EngineType::kVllm);
  EXPECT_FALSE(binary);

  auto html = read_engine_metrics("<html><body>502 Bad Gateway</body></html>", EngineType::kVllm);
  EXPECT_FALSE(html);
}

// Only the families read here are parsed: a broken line elsewhere (here inside a histogram's
// labels) is passed over, while one in a family read here is still an error with its line.
TEST(EngineMetrics, OnlyTheFamiliesReadAreParsedStrictly) {
  std::string page(kVllmPage);
  page.replace(page.find("le=\"0.1\""), 8, "le=0.1\\q");
  auto skipped = read_engine_metrics(page, EngineType::kVllm);
  ASSERT_TRUE(skipped) << skipped.error().message;
  EXPECT_EQ(*skipped, read(kVllmPage, EngineType::kVllm));

  std::string kept(kVllmPage);
  kept.replace(kept.find("model_name=\"m\"} 1\n"), 14, "model_name=m} 1");
  auto error = read_engine_metrics(kept, EngineType::kVllm);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().message.rfind("line 6, column ", 0), 0u) << error.error().message;
}

TEST(EngineMetrics, TruncatedPages) {
  const std::string page(kVllmPage);
  // Cut inside a label set and inside a value-less sample: the parser says where.
  const size_t in_labels = page.find("engine=\"1\",model_name=\"m\"} 4") + 3;
  auto cut = read_engine_metrics(page.substr(0, in_labels), EngineType::kVllm);
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().message.find("line 4"), std::string::npos) << cut.error().message;

  const size_t before_value = page.find("} 4\n") + 1;
  EXPECT_FALSE(read_engine_metrics(page.substr(0, before_value), EngineType::kVllm));

  // Every prefix either parses or fails cleanly; none crashes.
  for (size_t n = 0; n <= page.size(); n += 7) {
    (void)read_engine_metrics(page.substr(0, n), EngineType::kVllm);
  }
}

TEST(EngineMetrics, HugeInputIsRefusedByTheParserLimit) {
  std::string huge = "# TYPE vllm:num_requests_waiting gauge\n";
  const std::string line = "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 1\n";
  while (huge.size() <= 17 * 1024 * 1024) huge += line;
  auto result = read_engine_metrics(huge, EngineType::kVllm);
  ASSERT_FALSE(result);

  auto long_line = read_engine_metrics(
      "vllm:num_requests_waiting{x=\"" + std::string(100'000, 'a') + "\"} 1\n", EngineType::kVllm);
  EXPECT_FALSE(long_line);
}

TEST(EngineMetrics, ManySeriesAreSummed) {
  std::string page = "# TYPE vllm:num_requests_running gauge\n";
  for (int i = 0; i < 1000; ++i) {
    page += "vllm:num_requests_running{engine=\"" + std::to_string(i) + "\"} 2\n";
  }
  EXPECT_EQ(read(page, EngineType::kVllm).running, 2000);
}

// A page from kgai sim's own writer: what the gateway scrapes in the demo and the tests.
TEST(EngineMetrics, ReadsKgaiSimPage) {
  sim::EngineConfig config;
  config.max_model_len = 2048;
  config.num_gpu_blocks = 512;
  config.max_loras = 2;
  catalog::LatencyModel latency(sim::testing::tiny_model(), sim::testing::test_accelerator(), 1);
  sim::Engine engine(config, latency);
  sim::VllmMetrics metrics("test/tiny", 2048, sim::CacheConfigInfo{16, 512, true, 0.9, "auto"}, 2);
  for (int i = 0; i < 6; ++i) {
    sim::NewRequest r;
    r.id = static_cast<sim::RequestId>(i + 1);
    r.prompt_tokens = 100;
    r.max_tokens = 50;
    r.lora = i % 3;  // base, adapter-1, adapter-2
    ASSERT_TRUE(engine.add(std::move(r)));
  }
  metrics.on_step(engine.step(0.0));
  auto name = [](int id) { return "adapter-" + std::to_string(id); };
  const std::string page = metrics.render(engine, name, 1.75e9);

  EngineMetrics m = read(page, EngineType::kVllm);
  EXPECT_EQ(m.running, engine.num_running());
  EXPECT_EQ(m.waiting, engine.num_waiting());
  EXPECT_GT(*m.running, 0);
  EXPECT_DOUBLE_EQ(*m.kv_usage, engine.kv_usage());
  EXPECT_GT(*m.kv_usage, 0.0);
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_blocks, 512);
  EXPECT_EQ(m.max_lora, 2);
  std::vector<std::string> running;
  for (int id : engine.running_loras()) running.push_back(name(id));
  EXPECT_EQ(m.running_loras, running);
  EXPECT_FALSE(m.running_loras.empty());
}

// The filtered parse the scraper makes gives exactly the full parse's samples for the
// families it keeps, on a kgai sim page with every histogram filled by real traffic.
TEST(EngineMetrics, FilteredParseOfKgaiSimPageMatchesTheFullParse) {
  sim::EngineConfig config;
  config.max_model_len = 2048;
  config.num_gpu_blocks = 512;
  config.max_loras = 2;
  catalog::LatencyModel latency(sim::testing::tiny_model(), sim::testing::test_accelerator(), 1);
  sim::Engine engine(config, latency);
  sim::VllmMetrics metrics("test/tiny", 2048, sim::CacheConfigInfo{16, 512, true, 0.9, "auto"}, 2);
  double now = 0;
  for (int i = 0; i < 40; ++i) {
    sim::NewRequest r;
    r.id = static_cast<sim::RequestId>(i + 1);
    r.prompt_tokens = 50 + 37 * i;
    r.max_tokens = 10 + 3 * i;
    r.lora = i % 3;
    r.arrival = now;
    ASSERT_TRUE(engine.add(std::move(r)));
    const auto& out = engine.step(now);
    now = out.end();
    metrics.on_step(out);
    for (const auto& f : out.finished) metrics.on_finished(f);
  }
  auto name = [](int id) { return "adapter-" + std::to_string(id); };
  const std::string page = metrics.render(engine, name, 1.75e9);
  auto full = prom::parse_text(page);
  ASSERT_TRUE(full) << full.error().message;

  const prom::FamilyFilter scraper{"vllm:num_requests_waiting", "vllm:num_requests_running",
                                   "vllm:kv_cache_usage_perc",  "vllm:gpu_cache_usage_perc",
                                   "vllm:cache_config_info",    "vllm:lora_requests_info"};
  EXPECT_TRUE(prom::testing::filtered_matches_full(page, scraper));
  int histograms = 0;
  for (const prom::MetricFamily& family : full->families) {
    EXPECT_TRUE(prom::testing::filtered_matches_full(page, prom::FamilyFilter{family.name}))
        << family.name;
    if (family.type == prom::MetricType::kHistogram && !family.samples.empty()) ++histograms;
  }
  EXPECT_GT(histograms, 3);
  for (size_t n = 0; n <= page.size(); n += 13) {
    const std::string prefix = page.substr(0, n);
    auto cut_full = prom::parse_text(prefix);
    auto cut_filtered = prom::parse_text(prefix, scraper);
    if (!cut_full) continue;
    ASSERT_TRUE(cut_filtered) << n << ": " << cut_filtered.error().message;
    EXPECT_TRUE(prom::testing::same_exposition(*cut_filtered,
                                               prom::testing::keep_families(*cut_full, scraper)));
  }
}

}  // namespace
}  // namespace kgai::gateway
