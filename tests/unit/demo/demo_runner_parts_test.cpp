// The demo's pieces that need no processes: reading perf's stage files, the headline
// comparison, a replica's /metrics counters, policy names and router helpers.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "demo/demo_report.h"
#include "demo/demo_runner.h"
#include "demo/replica_sampler.h"
#include "demo/routers.h"
#include "demo/stage_results.h"

namespace kgai::demo {
namespace {

nlohmann::json lifecycle(double ttft_p50, double ttft_p90, double tokens_per_sec, int failures) {
  return {{"load_summary", {{"achieved_rate", 9.5}, {"count", 50}}},
          {"failures", {{"count", failures}}},
          {"successes",
           {{"latency",
             {{"time_to_first_token", {{"median", ttft_p50}, {"p90", ttft_p90}}},
              {"normalized_time_per_output_token", {{"median", 0.007}}}}},
            {"throughput", {{"output_tokens_per_sec", tokens_per_sec}}}}},
          {"goodput", {{"requests_per_sec", 9.0}}}};
}

TEST(StageResultsTest, ReadsTheLifecycleFigures) {
  const StageResult s = stage_from_lifecycle(lifecycle(0.025, 0.030, 700, 1), 10);
  EXPECT_EQ(s.rate, 10);
  EXPECT_DOUBLE_EQ(s.achieved_rate, 9.5);
  EXPECT_EQ(s.requests, 50);
  EXPECT_EQ(s.errors, 1);
  EXPECT_DOUBLE_EQ(s.ttft_p50, 0.025);
  EXPECT_DOUBLE_EQ(s.ttft_p90, 0.030);
  EXPECT_DOUBLE_EQ(s.ntpot_p50, 0.007);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_sec, 700);
  EXPECT_DOUBLE_EQ(s.goodput, 9.0);
}

TEST(StageResultsTest, MissingFiguresAreNaNNotZero) {
  // A stage where every request failed has no latency figures at all.
  const StageResult s =
      stage_from_lifecycle({{"failures", {{"count", 7}}}, {"successes", nullptr}}, 5);
  EXPECT_EQ(s.errors, 7);
  EXPECT_TRUE(std::isnan(s.ttft_p50));
  EXPECT_TRUE(std::isnan(s.output_tokens_per_sec));
  const StageResult wrong_type = stage_from_lifecycle(
      {{"successes", {{"latency", {{"time_to_first_token", {{"median", "fast"}}}}}}}}, 5);
  EXPECT_TRUE(std::isnan(wrong_type.ttft_p50));
}

TEST(StageResultsTest, ReadsAFolderAndNamesWhatIsMissing) {
  const auto dir = std::filesystem::temp_directory_path() / "kgai-demo-stage-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "stage_0_lifecycle_metrics.json") << lifecycle(0.02, 0.03, 100, 0).dump();
  std::ofstream(dir / "stage_1_lifecycle_metrics.json") << "{not json";
  auto one = read_stage_results(dir.string(), {10});
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_EQ(one->size(), 1u);
  auto bad = read_stage_results(dir.string(), {10, 20});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("stage_1_lifecycle_metrics.json: not valid JSON"),
            std::string::npos);
  auto missing = read_stage_results(dir.string(), {10, 20, 30});
  ASSERT_FALSE(missing);
  std::filesystem::remove(dir / "stage_1_lifecycle_metrics.json");
  missing = read_stage_results(dir.string(), {10, 20});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("stage_1_lifecycle_metrics.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

PolicyResult policy(std::string name, std::vector<StageResult> stages) {
  PolicyResult p;
  p.name = std::move(name);
  p.stages = std::move(stages);
  return p;
}

StageResult stage(double rate, double ttft_p90, double tokens, int errors) {
  StageResult s;
  s.rate = rate;
  s.ttft_p90 = ttft_p90;
  s.output_tokens_per_sec = tokens;
  s.errors = errors;
  s.requests = 10;
  return s;
}

TEST(ComparePoliciesTest, AtTheHighestRateTheBaselineSustains) {
  const auto kgai =
      policy("kgai", {stage(10, 0.03, 300, 0), stage(20, 0.03, 600, 0), stage(30, 0.03, 900, 0)});
  const auto rr = policy("round-robin", {stage(10, 0.1, 300, 0), stage(20, 0.6, 450, 0),
                                         stage(30, 2.0, 500, 3)});  // fails at 30
  auto h = compare_policies(kgai, rr);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->baseline, "round-robin");
  EXPECT_EQ(h->rate, 20);
  EXPECT_DOUBLE_EQ(h->ttft_p90_ratio, 0.6 / 0.03);
  EXPECT_DOUBLE_EQ(h->throughput_ratio, 600.0 / 450.0);
}

TEST(ComparePoliciesTest, NoCommonSustainedRateMeansNoHeadline) {
  const auto kgai = policy("kgai", {stage(10, 0.03, 300, 0)});
  EXPECT_FALSE(compare_policies(kgai, policy("rr", {stage(10, 0.1, 300, 2)})));
  EXPECT_FALSE(compare_policies(kgai, policy("rr", {stage(20, 0.1, 300, 0)})));
  EXPECT_FALSE(compare_policies(kgai, policy("rr", {})));
  // A missing figure (NaN) is no basis for a ratio either.
  EXPECT_FALSE(compare_policies(kgai, policy("rr", {stage(10, NAN, 300, 0)})));
}

TEST(ComparePoliciesTest, Wording) {
  DemoResult::Headline h{
      .baseline = "nginx", .rate = 45, .ttft_p90_ratio = 4.12, .throughput_ratio = 1.349};
  EXPECT_EQ(comparison_text(h),
            "kgai vs nginx at 45 req/s: TTFT p90 4.1x lower, output tokens/s 1.35x");
  h.ttft_p90_ratio = 0.5;
  EXPECT_NE(comparison_text(h).find("TTFT p90 2.0x higher"), std::string::npos);
  h.ttft_p90_ratio = 0.98;
  EXPECT_NE(comparison_text(h).find("about the same (0.98x)"), std::string::npos);
  h.ttft_p90_ratio = NAN;
  EXPECT_NE(comparison_text(h).find("TTFT p90 -"), std::string::npos);
}

TEST(ReplicaCountersTest, ReadsVllmNames) {
  const std::string page =
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3\n"
      "# TYPE vllm:num_requests_waiting gauge\n"
      "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 2\n"
      "# TYPE vllm:prefix_cache_queries counter\n"
      "vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"m\"} 1000\n"
      "# TYPE vllm:prefix_cache_hits counter\n"
      "vllm:prefix_cache_hits_total{engine=\"0\",model_name=\"m\"} 750\n"
      "# TYPE vllm:request_success counter\n"
      "vllm:request_success_total{finished_reason=\"stop\",model_name=\"m\"} 4\n"
      "vllm:request_success_total{finished_reason=\"length\",model_name=\"m\"} 6\n";
  auto c = read_replica_counters(page);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->running, 3);
  EXPECT_EQ(c->waiting, 2);
  EXPECT_EQ(c->prefix_queries, 1000);
  EXPECT_EQ(c->prefix_hits, 750);
  EXPECT_EQ(c->requests, 10);
}

TEST(ReplicaCountersTest, GarbageAndTruncatedPagesAreErrors) {
  EXPECT_FALSE(read_replica_counters("vllm:num_requests_running{engine=\"0\" 3\n"));
  EXPECT_FALSE(read_replica_counters(std::string("\0\1\2", 3)));
  auto empty = read_replica_counters("");
  ASSERT_TRUE(empty);  // a page without the families counts zero
  EXPECT_EQ(empty->running, 0);
}

TEST(PoliciesTest, DefaultsAndUnknownNames) {
  DemoOptions o;
  auto all = resolve_policies(o);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all,
            (std::vector<std::string>{"round-robin", "least-request", "kgai", "nginx", "haproxy"}));
  o.quick = true;
  auto quick = resolve_policies(o);
  ASSERT_TRUE(quick);
  EXPECT_EQ(*quick, (std::vector<std::string>{"round-robin", "least-request", "kgai"}));
  o.policies = {"kgai", "nginx", "kgai"};
  auto given = resolve_policies(o);
  ASSERT_TRUE(given);
  EXPECT_EQ(*given, (std::vector<std::string>{"kgai", "nginx"}));
  o.policies = {"kgai", "envoy"};
  auto bad = resolve_policies(o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unknown policy 'envoy'"), std::string::npos);
  EXPECT_NE(bad.error().message.find("round-robin"), std::string::npos);
}

TEST(RoutersTest, FindsProgramsAndFreePorts) {
  EXPECT_FALSE(find_program("sh").empty());
  EXPECT_TRUE(find_program("kgai-no-such-program").empty());
  auto port = free_loopback_port();
  ASSERT_TRUE(port) << port.error().message;
  EXPECT_GT(*port, 0);
  EXPECT_TRUE(find_policy("nginx")->optional);
  EXPECT_FALSE(find_policy("kgai")->optional);
  EXPECT_EQ(find_policy("nope"), nullptr);
}

TEST(RunDemoTest, BadOptionsFailBeforeStartingAnything) {
  std::atomic<bool> stop{false};
  DemoOptions o;
  o.out_dir = (std::filesystem::temp_directory_path() / "kgai-demo-bad-options").string();
  o.kgai_binary = "/nonexistent/kgai";
  o.workload = "tweets";
  auto r = run_demo(
      o, [](const std::string&) {}, stop);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--workload"), std::string::npos) << r.error().message;
  o.workload = "shared_prefix";
  o.rates = {10, -1};
  r = run_demo(
      o, [](const std::string&) {}, stop);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("positive"), std::string::npos) << r.error().message;
  o.rates = {};
  o.replicas = 0;
  r = run_demo(
      o, [](const std::string&) {}, stop);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--replicas"), std::string::npos) << r.error().message;
  std::filesystem::remove_all(o.out_dir);
}

}  // namespace
}  // namespace kgai::demo
