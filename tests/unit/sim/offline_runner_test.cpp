#include "sim/offline_runner.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_model.h"

namespace kgai::sim {
namespace {

class OfflineRunnerTest : public ::testing::Test {
 protected:
  OfflineRunnerTest() : latency_(testing::tiny_model(), testing::test_accelerator(), 1) {
    options_.engine.max_num_seqs = 64;
    options_.engine.max_num_batched_tokens = 2048;
    options_.engine.max_model_len = 4096;
    options_.engine.num_gpu_blocks = 4096;
    options_.workload.input = LengthDistribution::fixed(200);
    options_.workload.output = LengthDistribution::fixed(20);
  }
  catalog::LatencyModel latency_;
  OfflineOptions options_;
};

TEST_F(OfflineRunnerTest, PoissonRunReportsInferencePerfLayout) {
  options_.workload.rate = 50;
  options_.workload.num_requests = 500;
  auto summary = run_offline(options_, latency_);
  ASSERT_TRUE(summary) << summary.error().message;
  const auto& s = *summary;
  EXPECT_EQ(s["load_summary"]["count"], 500);
  EXPECT_EQ(s["successes"]["count"], 500);
  for (const char* metric :
       {"time_to_first_token", "time_per_output_token", "normalized_time_per_output_token",
        "inter_token_latency", "request_latency"}) {
    const auto& d = s["successes"]["latency"][metric];
    for (const char* key : {"mean", "median", "p90", "p99"}) {
      ASSERT_TRUE(d.contains(key)) << metric << "." << key;
      EXPECT_GT(d[key].get<double>(), 0.0) << metric << "." << key;
    }
    EXPECT_LE(d["median"].get<double>(), d["p99"].get<double>());
  }
  EXPECT_NEAR(s["successes"]["throughput"]["output_tokens_per_sec"].get<double>(),
              s["successes"]["throughput"]["requests_per_sec"].get<double>() * 20, 1e-6);
  // At 50 req/s for 10 s the achieved rate is near the requested one.
  EXPECT_NEAR(s["load_summary"]["achieved_rate"].get<double>(), 50, 10);
  EXPECT_EQ(s["successes"]["output_len"]["mean"], 20);
  EXPECT_GT(s["engine"]["mean_batch_size"].get<double>(), 0.0);
  EXPECT_GT(s["engine"]["peak_kv_cache_usage"].get<double>(), 0.0);
}

TEST_F(OfflineRunnerTest, SameSeedSameResult) {
  options_.workload.rate = 80;
  options_.workload.duration = 5;
  auto a = run_offline(options_, latency_);
  auto b = run_offline(options_, latency_);
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*a)["successes"], (*b)["successes"]);
  options_.workload.seed = 43;
  auto c = run_offline(options_, latency_);
  EXPECT_NE((*a)["successes"]["latency"], (*c)["successes"]["latency"]);
}

TEST_F(OfflineRunnerTest, ClosedLoopKeepsConcurrencyRequestsInFlight) {
  options_.workload.concurrency = 8;
  options_.workload.num_requests = 200;
  auto s = run_offline(options_, latency_);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)["successes"]["count"], 200);
  EXPECT_LE((*s)["engine"]["mean_batch_size"].get<double>(), 8.0);
  EXPECT_GT((*s)["engine"]["mean_batch_size"].get<double>(), 4.0);
}

TEST_F(OfflineRunnerTest, SharedPrefixesHitTheCache) {
  options_.workload.rate = 20;
  options_.workload.num_requests = 200;
  options_.workload.shared_prefix_groups = 4;
  options_.workload.shared_prefix_len = 512;
  auto s = run_offline(options_, latency_);
  ASSERT_TRUE(s);
  EXPECT_GT((*s)["engine"]["prefix_cache_hit_rate"].get<double>(), 0.5);
  options_.engine.enable_prefix_caching = false;
  auto off = run_offline(options_, latency_);
  EXPECT_EQ((*off)["engine"]["prefix_cache_hit_rate"], 0.0);
  EXPECT_GT((*off)["successes"]["latency"]["time_to_first_token"]["mean"].get<double>(),
            (*s)["successes"]["latency"]["time_to_first_token"]["mean"].get<double>());
}

TEST_F(OfflineRunnerTest, OverloadQueuesAndPreempts) {
  options_.engine.num_gpu_blocks = 200;
  options_.workload.concurrency = 64;
  options_.workload.num_requests = 300;
  options_.workload.output = LengthDistribution::fixed(200);
  auto s = run_offline(options_, latency_);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["successes"]["count"], 300);
  EXPECT_GT((*s)["engine"]["preemptions"].get<int>(), 0);
}

TEST_F(OfflineRunnerTest, RejectsIncompleteWorkloads) {
  EXPECT_FALSE(run_offline(options_, latency_));  // neither rate nor concurrency
  options_.workload.rate = 1;
  options_.workload.concurrency = 1;
  EXPECT_FALSE(run_offline(options_, latency_));
  options_.workload.concurrency = 0;
  EXPECT_FALSE(run_offline(options_, latency_));  // no duration nor count
}

TEST_F(OfflineRunnerTest, LengthsThatFitTheContextAreNotClamped) {
  // 3000 + 1000 fit a 4096-token context: the prompt keeps its length, though it is more than
  // half the context.
  options_.workload.concurrency = 4;
  options_.workload.num_requests = 8;
  options_.workload.input = LengthDistribution::fixed(3000);
  options_.workload.output = LengthDistribution::fixed(1000);
  auto run = simulate(options_, latency_);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->prompt_len.min(), 3000);
  EXPECT_EQ(run->output_len.min(), 1000);
  // Unbounded shapes still get the safe split.
  options_.workload.input = *LengthDistribution::parse("exponential:3000");
  run = simulate(options_, latency_);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_LE(run->prompt_len.max() + run->output_len.max(), 4096);
}

TEST_F(OfflineRunnerTest, DatasetLengthsAreDrawnAsPairs) {
  auto samples = std::make_shared<std::vector<LengthSample>>(
      std::vector<LengthSample>{{100, 7}, {300, 11}, {50, 3}});
  options_.workload.samples = samples;
  options_.workload.rate = 20;
  options_.workload.num_requests = 300;
  uint64_t seen_other = 0;
  options_.on_finished = [&](const FinishedRequest& r) {
    const bool known = (r.prompt_tokens == 100 && r.output_tokens == 7) ||
                       (r.prompt_tokens == 300 && r.output_tokens == 11) ||
                       (r.prompt_tokens == 50 && r.output_tokens == 3);
    if (!known) ++seen_other;
  };
  auto run = simulate(options_, latency_);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->successes, 300u);
  EXPECT_EQ(seen_other, 0u);
  EXPECT_EQ(run->prompt_len.min(), 50);
  EXPECT_EQ(run->prompt_len.max(), 300);
  EXPECT_GT(run->mean_running(), 0.0);
}

TEST_F(OfflineRunnerTest, LaterTurnsHitTheEarlierAnswers) {
  options_.workload.concurrency = 4;
  options_.workload.num_requests = 120;
  options_.workload.turns = 4;
  options_.workload.think_time = 1;
  options_.workload.output = LengthDistribution::fixed(100);
  auto run = simulate(options_, latency_);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->successes, 120u);
  // Turn k's prompt is 300 k - 100 tokens long; all but its new 200 are cached (less the
  // partial blocks at the seams): well over half of all prompt tokens after the first turns.
  EXPECT_GT(static_cast<double>(run->prefix_cached_tokens) / run->input_tokens, 0.5);
  EXPECT_GT(run->prompt_len.max(), 800);

  // Without generated blocks in the cache only the previous prompts would hit: prefix
  // caching off hits nothing at all.
  options_.engine.enable_prefix_caching = false;
  auto off = simulate(options_, latency_);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->prefix_cached_tokens, 0u);
  EXPECT_GT(off->ttft.mean(), run->ttft.mean());
}

TEST_F(OfflineRunnerTest, MultiTurnRunsRepeatForASeed) {
  options_.workload.rate = 5;
  options_.workload.duration = 20;
  options_.workload.turns = 3;
  options_.workload.think_time = 2;
  auto a = run_offline(options_, latency_);
  auto b = run_offline(options_, latency_);
  ASSERT_TRUE(a && b) << (a ? "" : a.error().message);
  EXPECT_EQ((*a)["successes"], (*b)["successes"]);
  EXPECT_EQ((*a)["engine"]["cached_prompt_tokens"], (*b)["engine"]["cached_prompt_tokens"]);
  // Open loop: conversations start at 5/s, and their later turns come on top.
  EXPECT_GT((*a)["load_summary"]["count"].get<int>(), 150);
}

TEST_F(OfflineRunnerTest, RejectsBadMultiTurnSettings) {
  options_.workload.concurrency = 2;
  options_.workload.num_requests = 10;
  options_.workload.turns = 0;
  EXPECT_FALSE(run_offline(options_, latency_));
  options_.workload.turns = 2;
  options_.workload.think_time = -1;
  EXPECT_FALSE(run_offline(options_, latency_));
}

TEST_F(OfflineRunnerTest, TheApiServerSerializesABurst) {
  // 200 requests at once behind an API server that takes 5 ms each: the engine gets them one
  // at a time, so the last TTFT is at least 200 x 5 ms, and the spread grows linearly.
  catalog::AcceleratorSpec gpu = testing::test_accelerator();
  gpu.efficiency.frontend_cpu_s = 0.005;
  catalog::LatencyModel slow_frontend(testing::tiny_model(), gpu, 1);
  options_.workload.concurrency = 200;
  options_.workload.num_requests = 200;
  options_.engine.max_num_seqs = 256;
  options_.engine.num_gpu_blocks = 8192;
  auto run = simulate(options_, slow_frontend);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_GE(run->ttft.max(), 1.0);
  EXPECT_LT(run->ttft.min(), 0.1);
  EXPECT_NEAR(run->ttft.percentile(50), 0.5, 0.1);
  auto idle = simulate(options_, latency_);  // the test accelerator has no API-server cost
  ASSERT_TRUE(idle);
  EXPECT_LT(idle->ttft.max(), run->ttft.max() / 2);
}

}  // namespace
}  // namespace kgai::sim
