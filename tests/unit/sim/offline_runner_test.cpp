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

}  // namespace
}  // namespace kgai::sim
