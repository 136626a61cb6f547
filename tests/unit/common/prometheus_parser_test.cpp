#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/prometheus.h"
#include "common/utf8.h"

namespace kgai::prom {
namespace {

using namespace std::string_literals;

constexpr double kInf = std::numeric_limits<double>::infinity();

// What vLLM 0.10 (V1 engine, Python prometheus_client) serves on /metrics, trimmed: process
// metrics first, then vLLM's, with the client's float spelling ("3.0", "1.7458e+09").
constexpr std::string_view kVllmMetrics =
    R"(# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12834.0
python_gc_objects_collected_total{generation="1"} 2236.0
python_gc_objects_collected_total{generation="2"} 731.0
# HELP python_info Python platform information
# TYPE python_info gauge
python_info{implementation="CPython",major="3",minor="12",patchlevel="11",version="3.12.11"} 1.0
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 1.03546740736e+011
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.74581228139e+09
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.6875
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 482112.0
vllm:prefix_cache_queries_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 301216.0
vllm:prefix_cache_hits_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:num_preemptions_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1290.0
vllm:request_success_created{engine="0",finished_reason="stop",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
vllm:request_success_total{engine="0",finished_reason="length",model_name="meta-llama/Llama-3.1-8B-Instruct"} 213.0
vllm:request_success_created{engine="0",finished_reason="length",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
vllm:request_success_total{engine="0",finished_reason="abort",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
vllm:request_success_created{engine="0",finished_reason="abort",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.005",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.01",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="meta-llama/Llama-3.1-8B-Instruct"} 31.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="meta-llama/Llama-3.1-8B-Instruct"} 402.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.06",model_name="meta-llama/Llama-3.1-8B-Instruct"} 911.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.08",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1203.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1377.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.25",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1490.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1501.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.75",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1505.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="1.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1506.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="2.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="5.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="7.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="10.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="20.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="40.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="80.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="160.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="640.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="2560.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1507.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 89.21843791007996
vllm:time_to_first_token_seconds_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7458122901234e+09
# HELP vllm:lora_requests_info Running stats on lora requests.
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="1",running_lora_adapters="",waiting_lora_adapters=""} 1.7e9
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",calculate_kv_scales="False",cpu_offload_gb="0",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",is_attention_free="False",num_cpu_blocks="None",num_gpu_blocks="27152",num_gpu_blocks_override="None",prefix_caching_hash_algo="builtin",sliding_window="None",swap_space="4",swap_space_bytes="4294967296"} 1.0
)";

const std::string kModel = "meta-llama/Llama-3.1-8B-Instruct";

Exposition parse_ok(std::string_view text, const ParseOptions& options = {}) {
  Result<Exposition> parsed = parse_text(text, options);
  EXPECT_TRUE(parsed.has_value()) << parsed.error().message << "\nin:\n" << text;
  return parsed ? std::move(*parsed) : Exposition{};
}

std::string parse_error(std::string_view text, const ParseOptions& options = {}) {
  Result<Exposition> parsed = parse_text(text, options);
  EXPECT_FALSE(parsed.has_value()) << "parsed without error:\n" << text;
  return parsed ? "" : parsed.error().message;
}

TEST(ParseText, RealVllmMetrics) {
  Exposition exposition = parse_ok(kVllmMetrics);
  ASSERT_EQ(exposition.families.size(), 14u);

  const MetricFamily* running = exposition.find("vllm:num_requests_running");
  ASSERT_NE(running, nullptr);
  EXPECT_EQ(running->type, MetricType::kGauge);
  EXPECT_EQ(running->help, "Number of requests in model execution batches.");
  ASSERT_EQ(running->samples.size(), 1u);
  const Sample& sample = running->samples[0];
  EXPECT_EQ(sample.name, "vllm:num_requests_running");
  ASSERT_EQ(sample.labels.size(), 2u);
  EXPECT_EQ(sample.labels[0].name, "engine");
  EXPECT_EQ(sample.labels[0].value, "0");
  EXPECT_EQ(sample.labels[1].name, "model_name");
  EXPECT_EQ(sample.labels[1].value, kModel);
  EXPECT_EQ(sample.value, 3.0);
  EXPECT_FALSE(sample.timestamp_ms.has_value());

  const Sample* waiting =
      exposition.find_sample("vllm:num_requests_waiting", {{"model_name", kModel}});
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(waiting->value, 12.0);
  EXPECT_EQ(exposition.find_sample("vllm:kv_cache_usage_perc")->value, 0.6875);
  EXPECT_EQ(exposition.find_sample("process_virtual_memory_bytes")->value, 103546740736.0);
  EXPECT_EQ(exposition.find_sample("process_start_time_seconds")->value, 1745812281.39);

  const MetricFamily* success = exposition.find("vllm:request_success_total");
  ASSERT_NE(success, nullptr);
  EXPECT_EQ(success->type, MetricType::kCounter);
  EXPECT_EQ(success->samples.size(), 6u);
  EXPECT_EQ(exposition.find("vllm:request_success"), success);
  const Sample* length =
      exposition.find_sample("vllm:request_success_total", {{"finished_reason", "length"}});
  ASSERT_NE(length, nullptr);
  EXPECT_EQ(length->value, 213.0);
  const Sample* created =
      exposition.find_sample("vllm:request_success_created", {{"finished_reason", "abort"}});
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->value, 1745812290.1234);

  const MetricFamily* ttft = exposition.find("vllm:time_to_first_token_seconds");
  ASSERT_NE(ttft, nullptr);
  EXPECT_EQ(ttft->type, MetricType::kHistogram);
  EXPECT_EQ(ttft->samples.size(), 23u + 3u);
  const Sample* bucket = exposition.find_sample("vllm:time_to_first_token_seconds_bucket",
                                                {{"le", "0.1"}, {"model_name", kModel}});
  ASSERT_NE(bucket, nullptr);
  EXPECT_EQ(bucket->value, 1377.0);
  ASSERT_NE(bucket->label("le"), nullptr);
  EXPECT_EQ(*bucket->label("le"), "0.1");
  EXPECT_EQ(bucket->label("nope"), nullptr);
  const Sample* inf =
      exposition.find_sample("vllm:time_to_first_token_seconds_bucket", {{"le", "+Inf"}});
  ASSERT_NE(inf, nullptr);
  EXPECT_EQ(inf->value, 1507.0);
  EXPECT_EQ(exposition.find_sample("vllm:time_to_first_token_seconds_sum")->value,
            89.21843791007996);
  EXPECT_EQ(exposition.find_sample("vllm:time_to_first_token_seconds_count")->value, 1507.0);
  // Bucket bounds read back as numbers whichever way they are spelled.
  for (const Sample& s : ttft->samples) {
    if (const std::string* le = s.label("le")) {
      EXPECT_TRUE(parse_value(*le).has_value()) << *le;
    }
  }

  const Sample* lora = exposition.find_sample("vllm:lora_requests_info");
  ASSERT_NE(lora, nullptr);
  EXPECT_EQ(lora->value, 1.7e9);
  EXPECT_EQ(*lora->label("max_lora"), "1");
  EXPECT_EQ(*lora->label("running_lora_adapters"), "");
  EXPECT_EQ(*lora->label("waiting_lora_adapters"), "");

  const Sample* cache = exposition.find_sample("vllm:cache_config_info");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->labels.size(), 15u);
  EXPECT_EQ(*cache->label("block_size"), "16");
  EXPECT_EQ(*cache->label("num_gpu_blocks"), "27152");
  EXPECT_EQ(*cache->label("enable_prefix_caching"), "True");
  EXPECT_EQ(*cache->label("gpu_memory_utilization"), "0.9");

  EXPECT_EQ(exposition.find("vllm:does_not_exist"), nullptr);
  EXPECT_EQ(exposition.find_sample("vllm:num_requests_waiting", {{"model_name", "other"}}),
            nullptr);
  EXPECT_EQ(exposition.find_sample("vllm:num_requests_waiting", {{"no_such_label", ""}}), nullptr);
}

TEST(ParseText, SglangMetrics) {
  constexpr std::string_view kSglang =
      R"(# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="Qwen/Qwen2.5-7B-Instruct"} 5.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="Qwen/Qwen2.5-7B-Instruct"} 0.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="Qwen/Qwen2.5-7B-Instruct"} 0.28
# HELP sglang:cache_config_info Information about the cache configuration.
# TYPE sglang:cache_config_info gauge
sglang:cache_config_info{num_pages="163840",page_size="1"} 1.0
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="Qwen/Qwen2.5-7B-Instruct"} 8.128902e+06
# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_sum{model_name="Qwen/Qwen2.5-7B-Instruct"} 2431.7
sglang:time_to_first_token_seconds_bucket{le="0.1",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.0
sglang:time_to_first_token_seconds_bucket{le="0.5",model_name="Qwen/Qwen2.5-7B-Instruct"} 2.0
sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="Qwen/Qwen2.5-7B-Instruct"} 7.0
sglang:time_to_first_token_seconds_count{model_name="Qwen/Qwen2.5-7B-Instruct"} 7.0
)";
  Exposition exposition = parse_ok(kSglang);
  EXPECT_EQ(exposition.families.size(), 6u);
  EXPECT_EQ(exposition.find_sample("sglang:num_running_reqs")->value, 5.0);
  EXPECT_EQ(exposition.find_sample("sglang:token_usage")->value, 0.28);
  EXPECT_EQ(exposition.find_sample("sglang:prompt_tokens_total")->value, 8128902.0);
  EXPECT_EQ(*exposition.find_sample("sglang:cache_config_info")->label("page_size"), "1");
  EXPECT_EQ(exposition.find("sglang:time_to_first_token_seconds")->samples.size(), 5u);
}

TEST(ParseText, CounterDeclaredByStem) {
  Exposition exposition = parse_ok(
      "# HELP vllm:prompt_tokens Prompt tokens.\n"
      "# TYPE vllm:prompt_tokens counter\n"
      "vllm:prompt_tokens_total{model_name=\"m\"} 10\n"
      "vllm:prompt_tokens_created{model_name=\"m\"} 1.7e9\n"
      "# TYPE vllm:x_total counter\n"
      "vllm:x_total 1\n"
      "vllm:x_created 2\n");
  ASSERT_EQ(exposition.families.size(), 2u);
  EXPECT_EQ(exposition.families[0].name, "vllm:prompt_tokens");
  EXPECT_EQ(exposition.families[0].samples.size(), 2u);
  EXPECT_EQ(exposition.families[1].samples.size(), 2u);
  EXPECT_EQ(exposition.find("vllm:prompt_tokens_total"), &exposition.families[0]);
  EXPECT_EQ(exposition.find("vllm:x"), &exposition.families[1]);
  EXPECT_EQ(exposition.find_sample("vllm:prompt_tokens_total")->value, 10);
  EXPECT_EQ(exposition.find_sample("vllm:x_created")->value, 2);
}

TEST(ParseText, SummaryAndUntyped) {
  Exposition exposition = parse_ok(
      "# TYPE go_gc_duration_seconds summary\n"
      "go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n"
      "go_gc_duration_seconds{quantile=\"0.5\"} 7.4241e-05\n"
      "go_gc_duration_seconds{quantile=\"1\"} 0.000218305\n"
      "go_gc_duration_seconds_sum 0.018652\n"
      "go_gc_duration_seconds_count 232\n"
      "some_untyped_metric 7\n"
      "some_untyped_metric{a=\"b\"} 8\n"
      "other 9\n");
  ASSERT_EQ(exposition.families.size(), 3u);
  EXPECT_EQ(exposition.families[0].type, MetricType::kSummary);
  EXPECT_EQ(exposition.families[0].samples.size(), 5u);
  EXPECT_EQ(exposition.families[1].name, "some_untyped_metric");
  EXPECT_EQ(exposition.families[1].type, MetricType::kUntyped);
  EXPECT_EQ(exposition.families[1].samples.size(), 2u);
  EXPECT_EQ(exposition.families[2].name, "other");
  EXPECT_EQ(exposition.find_sample("go_gc_duration_seconds", {{"quantile", "0.5"}})->value,
            7.4241e-05);
}

TEST(ParseText, Timestamps) {
  Exposition exposition = parse_ok(
      "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
      "http_requests_total{method=\"post\",code=\"400\"} 3 -1\n"
      "http_requests_total{method=\"get\",code=\"200\"}\t5\t+17\t\n"
      "http_requests_total{method=\"get\",code=\"500\"} 0\n");
  const auto& samples = exposition.families.at(0).samples;
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].timestamp_ms, 1395066363000);
  EXPECT_EQ(samples[1].timestamp_ms, -1);
  EXPECT_EQ(samples[2].timestamp_ms, 17);
  EXPECT_EQ(samples[2].value, 5);
  EXPECT_FALSE(samples[3].timestamp_ms.has_value());
}

TEST(ParseText, SpecialAndExponentValues) {
  Exposition exposition = parse_ok(
      "a{k=\"1\"} +Inf\n"
      "a{k=\"2\"} -Inf\n"
      "a{k=\"3\"} NaN\n"
      "a{k=\"4\"} 1.5e3\n"
      "a{k=\"5\"} -2E-2\n"
      "a{k=\"6\"} .5\n"
      "a{k=\"7\"} 5.\n"
      "a{k=\"8\"} +12\n"
      "a{k=\"9\"} Inf\n"
      "a{k=\"10\"} 1e-400\n"
      "a{k=\"11\"} -0\n"
      "\n");
  const auto& samples = exposition.families.at(0).samples;
  ASSERT_EQ(samples.size(), 11u);
  const double expected[] = {kInf, -kInf, 0, 1500, -0.02, 0.5, 5, 12, kInf, 0, 0};
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i == 2) {
      EXPECT_TRUE(std::isnan(samples[i].value));
    } else {
      EXPECT_EQ(samples[i].value, expected[i]) << i;
    }
  }
}

TEST(ParseValue, Forms) {
  EXPECT_EQ(parse_value("+Inf"), kInf);
  EXPECT_EQ(parse_value("-Inf"), -kInf);
  EXPECT_EQ(parse_value("inf"), kInf);
  EXPECT_EQ(parse_value("-infinity"), -kInf);
  EXPECT_TRUE(std::isnan(*parse_value("NaN")));
  EXPECT_TRUE(std::isnan(*parse_value("nan")));
  EXPECT_EQ(parse_value("1.5e3"), 1500.0);
  EXPECT_EQ(parse_value("-2E-2"), -0.02);
  EXPECT_EQ(parse_value(".5"), 0.5);
  EXPECT_EQ(parse_value("5."), 5.0);
  EXPECT_EQ(parse_value("+12"), 12.0);
  EXPECT_EQ(parse_value("1e-400"), 0.0);  // underflow reads as zero, as in Go
  EXPECT_EQ(parse_value("4.9e-324"), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(parse_value("1.7976931348623157e308"), std::numeric_limits<double>::max());
  for (std::string_view bad :
       {"",     "+",      "-",    ".",       "abc", "1e",    "1e+",    "1.2.3",
        "0x10", "1_000",  "--1",  "+-1",     "-+1", "1e400", "-1e400", "+NaN",
        "-NaN", "nan(1)", "Infx", "infinit", " 1",  "1 ",    "1,5",    "e5"}) {
    EXPECT_FALSE(parse_value(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(ParseText, Whitespace) {
  Exposition exposition = parse_ok(
      "\n"
      "  \t\n"
      "#    a free comment\n"
      "#\n"
      "# HELPER is not a HELP line\n"
      "  # TYPE m gauge\n"
      "  m   {  a = \"1\" ,\tb=\"2\" ,  }   4.5  \t 100 \n"
      "m{} 1\n"
      "m\t2\r\n");
  ASSERT_EQ(exposition.families.size(), 1u);
  const MetricFamily& family = exposition.families[0];
  EXPECT_EQ(family.type, MetricType::kGauge);
  ASSERT_EQ(family.samples.size(), 3u);
  EXPECT_EQ(family.samples[0].labels.size(), 2u);
  EXPECT_EQ(*family.samples[0].label("a"), "1");
  EXPECT_EQ(*family.samples[0].label("b"), "2");
  EXPECT_EQ(family.samples[0].value, 4.5);
  EXPECT_EQ(family.samples[0].timestamp_ms, 100);
  EXPECT_TRUE(family.samples[1].labels.empty());
  EXPECT_EQ(family.samples[2].value, 2);
}

TEST(ParseText, EscapesInLabelValuesAndHelp) {
  Exposition exposition = parse_ok(
      "# HELP m Two\\nlines \\\\ and \\q \"kept\"\n"
      "m{a=\"back\\\\slash\",b=\"say \\\"hi\\\"\",c=\"line\\nbreak\",d=\"\\\\n\"} 1\n");
  const MetricFamily& family = exposition.families.at(0);
  EXPECT_EQ(family.help, "Two\nlines \\ and \\q \"kept\"");
  const Sample& sample = family.samples.at(0);
  EXPECT_EQ(*sample.label("a"), "back\\slash");
  EXPECT_EQ(*sample.label("b"), "say \"hi\"");
  EXPECT_EQ(*sample.label("c"), "line\nbreak");
  EXPECT_EQ(*sample.label("d"), "\\n");
}

TEST(ParseText, NamesWithColonsAndUnderscores) {
  Exposition exposition =
      parse_ok(":a_b:c{_x=\"1\",Y9=\"2\"} 1\n_leading 2\nA:Z09 3\n# TYPE :x gauge\n:x 4\n");
  EXPECT_EQ(exposition.families.size(), 4u);
}

TEST(ParseText, EmptyInputAndMissingFinalNewline) {
  EXPECT_TRUE(parse_ok("").families.empty());
  EXPECT_TRUE(parse_ok("\n\n").families.empty());
  Exposition exposition = parse_ok("# TYPE a gauge\na 1\na{b=\"c\"} 2");
  EXPECT_EQ(exposition.families.at(0).samples.size(), 2u);
  EXPECT_EQ(exposition.families.at(0).samples[1].value, 2);
}

TEST(ParseText, FamiliesWithoutSamplesAreKept) {
  Exposition exposition = parse_ok(
      "# HELP a Declared only.\n"
      "# TYPE a histogram\n"
      "# HELP b Help first,\n"
      "# TYPE b counter\n"
      "b_total 1\n");
  ASSERT_EQ(exposition.families.size(), 2u);
  EXPECT_EQ(exposition.families[0].type, MetricType::kHistogram);
  EXPECT_TRUE(exposition.families[0].samples.empty());
  EXPECT_EQ(exposition.families[1].help, "Help first,");
}

TEST(ParseText, HelpAfterTypeAndAfterSamplesOfCurrentFamily) {
  Exposition exposition = parse_ok(
      "# TYPE a gauge\n"
      "# HELP a Late help.\n"
      "a 1\n"
      "# TYPE b gauge\n"
      "b 1\n"
      "# HELP b Even later.\n"
      "b{x=\"y\"} 2\n");
  EXPECT_EQ(exposition.families[0].help, "Late help.");
  EXPECT_EQ(exposition.families[1].help, "Even later.");
  EXPECT_EQ(exposition.families[1].samples.size(), 2u);
}

TEST(ParseText, TypeNamesAreCaseInsensitive) {
  Exposition exposition = parse_ok("# TYPE a GAUGE\na 1\n# TYPE b Counter\nb_total 1\n");
  EXPECT_EQ(exposition.families[0].type, MetricType::kGauge);
  EXPECT_EQ(exposition.families[1].type, MetricType::kCounter);
}

// --- Malformed input: the exact message, line and column -----------------------------------

TEST(ParseErrors, LabelSetSeparator) {
  EXPECT_EQ(parse_error("# TYPE vllm:num_requests_running gauge\n"
                        "vllm:num_requests_running{engine=\"0\" model_name=\"m\"} 3\n"),
            "line 2, column 38: expected ',' or '}' in label set");
  EXPECT_EQ(parse_error("foo{a=\"b\""), "line 1, column 10: expected ',' or '}' in label set");
  EXPECT_EQ(parse_error("foo{a=\"b\";c=\"d\"} 1"),
            "line 1, column 10: expected ',' or '}' in label set");
  EXPECT_EQ(parse_error("foo{"), "line 1, column 5: expected label name or '}'");
  EXPECT_EQ(parse_error("foo{a=\"1\",  "), "line 1, column 13: expected label name or '}'");
}

TEST(ParseErrors, InvalidMetricName) {
  EXPECT_EQ(parse_error("a 1\nb 2\n3foo 1\n"), "line 3, column 1: invalid metric name");
  EXPECT_EQ(parse_error("{a=\"b\"} 1\n"), "line 1, column 1: invalid metric name");
  EXPECT_EQ(parse_error("  -x 1\n"), "line 1, column 3: invalid metric name");
  EXPECT_EQ(parse_error("foo-bar 1\n"), "line 1, column 4: invalid character '-' in metric name");
  EXPECT_EQ(parse_error("föo 1\n"), "line 1, column 2: invalid character '\\xc3' in metric name");
  EXPECT_EQ(parse_error("# TYPE 3x gauge\n"), "line 1, column 8: invalid metric name");
  EXPECT_EQ(parse_error("# TYPE a-b gauge\n"), "line 1, column 8: invalid metric name");
  EXPECT_EQ(parse_error("# HELP\n"), "line 1, column 7: invalid metric name");
  EXPECT_EQ(parse_error("# HELP  \n"), "line 1, column 9: invalid metric name");
}

TEST(ParseErrors, InvalidLabelName) {
  EXPECT_EQ(parse_error("foo{1a=\"b\"} 1\n"), "line 1, column 5: invalid label name");
  EXPECT_EQ(parse_error("foo{a:b=\"c\"} 1\n"), "line 1, column 6: expected '=' after label name");
  EXPECT_EQ(parse_error("foo{,} 1\n"), "line 1, column 5: invalid label name");
  EXPECT_EQ(parse_error("foo{a=\"1\",,} 1\n"), "line 1, column 11: invalid label name");
}

TEST(ParseErrors, LabelValueSyntax) {
  EXPECT_EQ(parse_error("foo{a \"b\"} 1\n"), "line 1, column 7: expected '=' after label name");
  EXPECT_EQ(parse_error("foo{a=b} 1\n"), "line 1, column 7: expected '\"' to start label value");
  EXPECT_EQ(parse_error("foo{a=} 1\n"), "line 1, column 7: expected '\"' to start label value");
  EXPECT_EQ(parse_error("foo{a} 1\n"), "line 1, column 6: expected '=' after label name");
  EXPECT_EQ(parse_error("foo{a=\"b} 1\n"), "line 1, column 7: unterminated label value");
  EXPECT_EQ(parse_error("foo{a=\"b\\"), "line 1, column 7: unterminated label value");
  EXPECT_EQ(parse_error("foo{a=\"\\x\"} 1\n"),
            "line 1, column 8: invalid escape '\\x' in label value");
  EXPECT_EQ(parse_error("foo{a=\"\\t\"} 1\n"),
            "line 1, column 8: invalid escape '\\t' in label value");
}

TEST(ParseErrors, InvalidValue) {
  EXPECT_EQ(parse_error("a 1\n\n\n\nfoo{a=\"b\"}         abc\n"),
            "line 5, column 20: invalid value 'abc'");
  EXPECT_EQ(parse_error("foo 1e400\n"), "line 1, column 5: invalid value '1e400'");
  EXPECT_EQ(parse_error("foo 0x10\n"), "line 1, column 5: invalid value '0x10'");
  EXPECT_EQ(parse_error("foo -NaN\n"), "line 1, column 5: invalid value '-NaN'");
  EXPECT_EQ(parse_error("foo\x01 1\n"),
            "line 1, column 4: invalid character '\\x01' in metric name");
  EXPECT_EQ(parse_error("foo \x01\n"), "line 1, column 5: invalid value '\\x01'");
  EXPECT_EQ(parse_error("foo " + std::string(100, '9') + "x\n"),
            "line 1, column 5: invalid value '" + std::string(40, '9') + "...'");
}

TEST(ParseErrors, MissingValue) {
  EXPECT_EQ(parse_error("foo\n"), "line 1, column 4: missing value");
  EXPECT_EQ(parse_error("foo   \n"), "line 1, column 7: missing value");
  EXPECT_EQ(parse_error("foo{a=\"b\"}\n"), "line 1, column 11: missing value");
}

TEST(ParseErrors, Timestamp) {
  EXPECT_EQ(parse_error("foo 1 12.5\n"), "line 1, column 7: invalid timestamp '12.5'");
  EXPECT_EQ(parse_error("foo 1 abc\n"), "line 1, column 7: invalid timestamp 'abc'");
  EXPECT_EQ(parse_error("foo 1 99999999999999999999\n"),
            "line 1, column 7: invalid timestamp '99999999999999999999'");
  EXPECT_EQ(parse_error("foo 1 ++1\n"), "line 1, column 7: invalid timestamp '++1'");
  EXPECT_EQ(parse_error("foo 1 2 3\n"), "line 1, column 9: unexpected text after timestamp");
}

TEST(ParseErrors, DuplicateLabel) {
  EXPECT_EQ(parse_error("a 1\n\n\n\n\n\n\n\n"
                        "vllm:x{model_name=\"a\",engine=\"0\",model_name=\"b\"} 1\n"),
            "line 9: duplicate label 'model_name'");
}

TEST(ParseErrors, TypeLines) {
  EXPECT_EQ(parse_error("# TYPE foo bar\n"), "line 1, column 12: unknown metric type 'bar'");
  EXPECT_EQ(parse_error("# TYPE foo\n"), "line 1, column 11: missing metric type");
  EXPECT_EQ(parse_error("# TYPE foo gauge extra\n"),
            "line 1, column 18: unexpected text after metric type");
  EXPECT_EQ(parse_error("# TYPE foo gauge\n# TYPE foo gauge\n"), "line 2: second TYPE for 'foo'");
  EXPECT_EQ(parse_error("# TYPE foo gauge\nfoo 1\n# TYPE foo counter\n"),
            "line 3: second TYPE for 'foo'");
  EXPECT_EQ(parse_error("foo 1\n# TYPE foo gauge\n"), "line 2: TYPE for 'foo' after its samples");
  EXPECT_EQ(parse_error("# HELP foo a\n# HELP foo b\n"), "line 2: second HELP for 'foo'");
  EXPECT_EQ(parse_error("foo 1\nbar 1\n# HELP foo late\n"),
            "line 3: HELP for 'foo' after its samples");
}

TEST(ParseErrors, SamplesOutsideTheirFamily) {
  EXPECT_EQ(parse_error("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n"),
            "line 5: sample 'a' of family 'a' is separated from the family's other lines");
  EXPECT_EQ(parse_error("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nx 1\nh_sum 2\n"),
            "line 4: sample 'h_sum' of family 'h' is separated from the family's other lines");
  EXPECT_EQ(parse_error("# TYPE c_total counter\nc_total 1\nx 1\nc_created 2\n"),
            "line 4: sample 'c_created' of family 'c_total' is separated from the family's "
            "other lines");
  EXPECT_EQ(parse_error("# TYPE h histogram\nh 1\n"),
            "line 2: sample 'h' is not part of "
            "histogram 'h'");
  // A name that merely looks like a suffix of an unrelated family starts its own family.
  Exposition exposition = parse_ok("# TYPE g gauge\ng 1\ng_sum 2\n# TYPE h histogram\nh_total 1\n");
  EXPECT_EQ(exposition.families.size(), 4u);
}

TEST(ParseErrors, HistogramAndSummaryLabels) {
  EXPECT_EQ(parse_error("# TYPE h histogram\nh_bucket{a=\"b\"} 1\n"),
            "line 2: histogram sample 'h_bucket' has no 'le' label");
  EXPECT_EQ(parse_error("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n"),
            "line 2: invalid 'le' label value 'x'");
  EXPECT_EQ(parse_error("# TYPE s summary\ns 1\n"),
            "line 2: summary sample 's' has no 'quantile' label");
  EXPECT_EQ(parse_error("# TYPE s summary\ns{quantile=\"\"} 1\n"),
            "line 2: invalid 'quantile' label value ''");
}

TEST(ParseErrors, NulBytes) {
  EXPECT_EQ(parse_error("a 1\nb\0 2\n"s), "line 2, column 2: NUL byte");
  EXPECT_EQ(parse_error("\0"s), "line 1, column 1: NUL byte");
  EXPECT_EQ(parse_error("a{b=\"x\0y\"} 1\n"s), "line 1, column 7: NUL byte");
  EXPECT_EQ(parse_error("# comment \0\n"s), "line 1, column 11: NUL byte");
}

TEST(ParseErrors, Limits) {
  ParseOptions options;
  options.max_bytes = 11;
  EXPECT_EQ(parse_error("a 1\nb 2\nc 3\n", options), "input is 12 bytes, over the limit of 11");
  EXPECT_TRUE(parse_text("a 1\nb 2\nc 3", options).has_value());  // exactly 11

  options = {};
  options.max_line_bytes = 8;
  EXPECT_TRUE(parse_text("a 1\nabcdef 1\n", options).has_value());  // 8 bytes
  EXPECT_EQ(parse_error("a 1\nabcdefg 1\n", options),
            "line 2: line is 9 bytes, over the limit of 8");
  EXPECT_EQ(parse_error("# " + std::string(100, 'x'), options),
            "line 1: line is 102 bytes, over the limit of 8");

  options = {};
  options.max_labels_per_sample = 3;
  EXPECT_TRUE(parse_text("a{a=\"\",b=\"\",c=\"\"} 1\n", options).has_value());
  EXPECT_EQ(parse_error("a{a=\"\",b=\"\",c=\"\",d=\"\"} 1\n", options),
            "line 1, column 18: too many labels (the limit is 3)");
}

TEST(ParseErrors, DefaultLimits) {
  std::string big(ParseOptions{}.max_bytes + 1, '\n');
  EXPECT_EQ(parse_error(big), "input is 16777217 bytes, over the limit of 16777216");
  std::string long_line = "a{b=\"" + std::string(64 * 1024, 'x') + "\"} 1\n";
  EXPECT_EQ(parse_error(long_line), "line 1: line is 65545 bytes, over the limit of 65536");

  std::string many = "a{";
  for (int i = 0; i < 65; ++i) many += "l" + std::to_string(i) + "=\"v\",";
  many += "} 1\n";
  EXPECT_EQ(parse_error(many).substr(0, 7), "line 1,");
  EXPECT_NE(parse_error(many).find("too many labels (the limit is 64)"), std::string::npos);
}

// --- Robustness: never crash, hang, or read out of bounds (run under ASan) ------------------

TEST(ParseRobustness, EveryTruncation) {
  std::string text(kVllmMetrics);
  text +=
      "x{a=\"q\\\"\\\\\\n\",b=\"\"} -1.5e-3 1700000000000\n# TYPE s summary\n"
      "s{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n";
  for (std::size_t size = 0; size <= text.size(); ++size) {
    // A copy exactly `size` long, so ASan catches any read past the end.
    std::string prefix = text.substr(0, size);
    Result<Exposition> parsed = parse_text(prefix);
    if (size == 0 || text[size - 1] == '\n') {
      EXPECT_TRUE(parsed.has_value()) << size << ": " << parsed.error().message;
    } else if (!parsed) {
      EXPECT_EQ(parsed.error().message.rfind("line ", 0), 0u) << parsed.error().message;
    }
  }
}

// Bytes chosen to reach deep into the grammar more often than uniform noise would.
std::string random_input(std::mt19937& rng) {
  static constexpr std::string_view kAlphabet =
      "abcxyz_:ABC0123456789{}=\",\\ \t\n#.+-eEInfNaHELPTYPEcountergaugehistogramsummary";
  std::uniform_int_distribution<int> length(0, 200);
  std::uniform_int_distribution<int> pick(0, static_cast<int>(kAlphabet.size()) - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> coin(0, 9);
  std::string out(static_cast<std::size_t>(length(rng)), ' ');
  for (char& c : out) {
    c = coin(rng) == 0 ? static_cast<char>(byte(rng)) : kAlphabet[pick(rng)];
  }
  return out;
}

std::string mutate(std::string text, std::mt19937& rng) {
  std::uniform_int_distribution<int> count(1, 3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> op(0, 2);
  for (int i = count(rng); i > 0 && !text.empty(); --i) {
    std::uniform_int_distribution<std::size_t> at(0, text.size() - 1);
    std::size_t pos = at(rng);
    switch (op(rng)) {
      case 0:
        text[pos] = static_cast<char>(byte(rng));
        break;
      case 1:
        text.erase(pos, 1);
        break;
      default:
        text.insert(pos, 1, "\"\\{},= \n#"[byte(rng) % 9]);
        break;
    }
  }
  return text;
}

// Re-writing what was parsed and parsing it again must give the same structure.
void expect_stable(const Exposition& first) {
  TextWriter writer;
  for (const MetricFamily& family : first.families) {
    writer.family(family.name, family.type, family.help);
    for (const Sample& sample : family.samples) {
      std::vector<LabelView> labels;
      for (const Label& label : sample.labels) labels.push_back({label.name, label.value});
      writer.sample(sample.name, labels, sample.value);
    }
  }
  Result<Exposition> second = parse_text(writer.text());
  ASSERT_TRUE(second.has_value()) << second.error().message << "\n" << writer.text();
  ASSERT_EQ(second->families.size(), first.families.size());
  for (std::size_t f = 0; f < first.families.size(); ++f) {
    const MetricFamily& a = first.families[f];
    const MetricFamily& b = second->families[f];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.type, b.type);
    // The writer repairs invalid UTF-8 (Prometheus rejects it); everything else round-trips.
    EXPECT_EQ(repair_utf8(a.help), b.help);
    ASSERT_EQ(a.samples.size(), b.samples.size());
    for (std::size_t s = 0; s < a.samples.size(); ++s) {
      EXPECT_EQ(a.samples[s].name, b.samples[s].name);
      ASSERT_EQ(a.samples[s].labels.size(), b.samples[s].labels.size());
      for (std::size_t l = 0; l < a.samples[s].labels.size(); ++l) {
        EXPECT_EQ(a.samples[s].labels[l].name, b.samples[s].labels[l].name);
        EXPECT_EQ(repair_utf8(a.samples[s].labels[l].value), b.samples[s].labels[l].value);
      }
      double x = a.samples[s].value;
      double y = b.samples[s].value;
      EXPECT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << x << " vs " << y;
    }
  }
}

TEST(ParseRobustness, RandomGarbage) {
  std::mt19937 rng(12345);
  int parsed_ok = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string input = random_input(rng);
    Result<Exposition> parsed = parse_text(input);
    if (parsed) {
      ++parsed_ok;
    } else {
      EXPECT_FALSE(parsed.error().message.empty());
    }
  }
  // Most random text is invalid; some (blank lines, comments) is not. Either is fine.
  EXPECT_GE(parsed_ok, 0);
}

TEST(ParseRobustness, MutatedExpositions) {
  std::mt19937 rng(777);
  // Whole lines only, so that unmutated stretches stay valid.
  std::string text(kVllmMetrics.substr(0, kVllmMetrics.rfind('\n', 4000) + 1));
  int parsed_ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string input = mutate(text, rng);
    Result<Exposition> parsed = parse_text(input);
    if (!parsed) continue;
    ++parsed_ok;
    // CR at a line end is dropped on input, so it cannot round trip through HELP text.
    if (input.find('\r') == std::string::npos) expect_stable(*parsed);
  }
  EXPECT_GT(parsed_ok, 10);  // the property above was checked on a fair number of inputs
}

TEST(ParseRobustness, PathologicalShapes) {
  // Deep repetition and extreme lengths: linear time, no recursion, no overflow.
  EXPECT_FALSE(parse_text(std::string(60000, '{')).has_value());
  EXPECT_FALSE(parse_text("a{" + std::string(60000, ',')).has_value());
  EXPECT_FALSE(parse_text("a{b=\"" + std::string(60000, '\\')).has_value());
  EXPECT_TRUE(parse_text(std::string(1 << 20, '\n')).has_value());
  EXPECT_TRUE(parse_text("a " + std::string(60000, '0') + "\n").has_value());
  std::string many_families;
  for (int i = 0; i < 20000; ++i) many_families += "m" + std::to_string(i) + " 1\n";
  Result<Exposition> parsed = parse_text(many_families);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->families.size(), 20000u);
}

}  // namespace
}  // namespace kgai::prom
