#include "sim/vllm_metrics.h"

#include <gtest/gtest.h>

#include "common/prometheus.h"
#include "test_model.h"

namespace kgai::sim {
namespace {

TEST(OneTwoFiveBuckets, StopsAtTheMaximum) {
  EXPECT_EQ(one_two_five_buckets(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(one_two_five_buckets(4), (std::vector<double>{1, 2}));
}

class VllmMetricsTest : public ::testing::Test {
 protected:
  VllmMetricsTest()
      : latency_(testing::tiny_model(), testing::test_accelerator(), 1),
        engine_(config(), latency_),
        metrics_("test/tiny", 2048, CacheConfigInfo{16, 512, true, 0.9, "auto"}, 2) {}

  static EngineConfig config() {
    EngineConfig c;
    c.max_model_len = 2048;
    c.num_gpu_blocks = 512;
    c.max_loras = 2;
    return c;
  }

  void run(std::vector<NewRequest> requests) {
    for (auto& r : requests) ASSERT_TRUE(engine_.add(std::move(r)));
    double now = 0;
    while (engine_.has_work()) {
      const StepOutput& out = engine_.step(now);
      now = out.end();
      metrics_.on_step(out);
      for (const auto& f : out.finished) metrics_.on_finished(f);
    }
  }

  prom::Exposition render() {
    auto text = metrics_.render(
        engine_, [](int id) { return "adapter-" + std::to_string(id); }, 1.75e9);
    auto parsed = prom::parse_text(text);
    EXPECT_TRUE(parsed) << parsed.error().message << "\n" << text;
    return parsed ? *parsed : prom::Exposition{};
  }

  catalog::LatencyModel latency_;
  Engine engine_;
  VllmMetrics metrics_;
};

NewRequest make(RequestId id, int prompt, int max_tokens, int natural = 1 << 30) {
  NewRequest r;
  r.id = id;
  r.prompt_tokens = prompt;
  r.max_tokens = max_tokens;
  r.natural_length = natural;
  return r;
}

TEST_F(VllmMetricsTest, CountsRequestsTokensAndLatencies) {
  run({make(1, 100, 10), make(2, 50, 10, 4), make(3, 30, 1)});
  auto e = render();
  const auto value = [&](std::string_view name,
                         std::initializer_list<prom::LabelView> labels = {}) {
    const prom::Sample* s = e.find_sample(name, labels);
    EXPECT_NE(s, nullptr) << name;
    return s ? s->value : -1.0;
  };
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "length"}}), 2);
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "stop"}}), 1);
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "abort"}}), 0);
  EXPECT_EQ(value("vllm:generation_tokens_total"), 10 + 4 + 1);
  EXPECT_EQ(value("vllm:prompt_tokens_total"), 180);
  EXPECT_EQ(value("vllm:e2e_request_latency_seconds_count"), 3);
  EXPECT_EQ(value("vllm:time_to_first_token_seconds_count"), 3);
  // Inter-token gaps: every token after the first.
  EXPECT_EQ(value("vllm:inter_token_latency_seconds_count"), 9 + 3 + 0);
  EXPECT_EQ(value("vllm:time_per_output_token_seconds_count"), 12);
  EXPECT_EQ(value("vllm:request_time_per_output_token_seconds_count"), 2);
  EXPECT_EQ(value("vllm:request_prompt_tokens_bucket", {{"le", "100"}}), 3);
  EXPECT_EQ(value("vllm:request_prompt_tokens_bucket", {{"le", "50"}}), 2);
  EXPECT_EQ(value("vllm:request_params_max_tokens_sum"), 21);
  EXPECT_EQ(value("vllm:num_requests_running"), 0);
  EXPECT_EQ(value("vllm:kv_cache_usage_perc"), 0);
  EXPECT_EQ(value("vllm:lora_requests_info"), 1.75e9);
  EXPECT_EQ(value("vllm:cache_config_info", {{"num_gpu_blocks", "512"}}), 1);

  // Every series carries model_name and engine, except lora_requests_info.
  for (const auto& family : e.families) {
    for (const auto& s : family.samples) {
      if (family.name == "vllm:lora_requests_info") {
        EXPECT_EQ(s.label("model_name"), nullptr);
        continue;
      }
      if (family.name == "vllm:cache_config_info") continue;
      ASSERT_NE(s.label("model_name"), nullptr) << s.name;
      EXPECT_EQ(*s.label("model_name"), "test/tiny");
      EXPECT_EQ(*s.label("engine"), "0");
    }
  }
  // Histogram buckets are cumulative and end with +Inf = count.
  const prom::MetricFamily* ttft = e.find("vllm:time_to_first_token_seconds");
  ASSERT_NE(ttft, nullptr);
  EXPECT_EQ(ttft->type, prom::MetricType::kHistogram);
  double previous = 0;
  int buckets = 0;
  for (const auto& s : ttft->samples) {
    if (s.name != "vllm:time_to_first_token_seconds_bucket") continue;
    EXPECT_GE(s.value, previous);
    previous = s.value;
    ++buckets;
  }
  EXPECT_EQ(buckets, 23);  // 22 bounds + Inf
  EXPECT_EQ(previous, 3);
}

TEST_F(VllmMetricsTest, ReportsRunningAndWaitingAdapters) {
  NewRequest a = make(1, 20, 100);
  a.lora = 1;
  NewRequest b = make(2, 20, 100);
  b.lora = 2;
  NewRequest c = make(3, 20, 100);
  c.lora = 3;
  ASSERT_TRUE(engine_.add(std::move(a)));
  ASSERT_TRUE(engine_.add(std::move(b)));
  ASSERT_TRUE(engine_.add(std::move(c)));
  metrics_.on_step(engine_.step(0));
  auto e = render();
  const prom::Sample* lora = e.find_sample("vllm:lora_requests_info");
  ASSERT_NE(lora, nullptr);
  EXPECT_EQ(*lora->label("max_lora"), "2");
  EXPECT_EQ(*lora->label("running_lora_adapters"), "adapter-1,adapter-2");
  EXPECT_EQ(*lora->label("waiting_lora_adapters"), "adapter-3");
  EXPECT_EQ(e.find_sample("vllm:num_requests_running")->value, 2);
  EXPECT_EQ(e.find_sample("vllm:num_requests_waiting")->value, 1);
  EXPECT_GT(e.find_sample("vllm:kv_cache_usage_perc")->value, 0);
}

TEST_F(VllmMetricsTest, AbortsCountButDoNotSkewLatency) {
  ASSERT_TRUE(engine_.add(make(1, 20, 100)));
  metrics_.on_step(engine_.step(0));
  auto record = engine_.abort(1, 0.5);
  ASSERT_TRUE(record);
  metrics_.on_finished(*record);
  auto e = render();
  EXPECT_EQ(e.find_sample("vllm:request_success_total", {{"finished_reason", "abort"}})->value, 1);
  EXPECT_EQ(e.find_sample("vllm:e2e_request_latency_seconds_count")->value, 0);
}

TEST_F(VllmMetricsTest, ExtraTextIsAppended) {
  metrics_.set_extra([](std::string& out) { out += "kgai:extra 1\n"; });
  auto e = render();
  ASSERT_NE(e.find("kgai:extra"), nullptr);
}

}  // namespace
}  // namespace kgai::sim
