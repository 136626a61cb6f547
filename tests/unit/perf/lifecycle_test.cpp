#include "perf/lifecycle.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kgai::perf {
namespace {

RequestRecord streamed(double scheduled, double sent, double first, std::vector<float> tokens,
                       int input, int output) {
  RequestRecord r;
  r.scheduled = scheduled;
  r.sent = sent;
  r.first_token = first;
  r.token_times = std::move(tokens);
  r.end = sent + r.token_times.back();
  r.input_tokens = input;
  r.output_tokens = output;
  r.usage_reported = true;
  return r;
}

TEST(Lifecycle, HandComputedMetrics) {
  // Request A: sent at 1.0 (scheduled 0.999), tokens at +0.1, +0.2, +0.4 -> TTFT 0.1,
  // TPOT (0.4 - 0.1) / 2 = 0.15, NTPOT 0.4 / 3, ITL 0.1 and 0.2, E2E 0.4.
  // Request B: sent at 2.0 on time, tokens at +0.05, +0.15 -> TTFT 0.05, TPOT 0.1,
  // NTPOT 0.075, ITL 0.1, E2E 0.15.
  LifecycleSamples s;
  GoodputConstraints none;
  s.add(streamed(0.999, 1.0, 1.1, {0.1f, 0.2f, 0.4f}, 100, 3), none);
  s.add(streamed(2.0, 2.0, 2.05, {0.05f, 0.15f}, 50, 2), none);
  RequestRecord failed;
  failed.scheduled = failed.sent = 3.0;
  failed.end = 3.5;
  failed.error = ErrorKind::kHttpStatus;
  failed.http_status = 429;
  failed.input_tokens = 10;
  s.add(failed, none);

  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.successes, 2u);
  EXPECT_NEAR(s.ttft.mean(), (0.1 + 0.05) / 2, 1e-6);
  EXPECT_NEAR(s.tpot.mean(), (0.15 + 0.1) / 2, 1e-6);
  EXPECT_NEAR(s.ntpot.mean(), (0.4 / 3 + 0.075) / 2, 1e-6);
  EXPECT_EQ(s.itl.count(), 3u);
  EXPECT_NEAR(s.itl.max(), 0.2, 1e-6);
  EXPECT_NEAR(s.request_latency.max(), 0.4, 1e-6);
  EXPECT_NEAR(s.schedule_delay.max(), 0.001, 1e-9);
  EXPECT_EQ(s.failures_by_label.at("http_429"), 1u);

  auto j = lifecycle_json(s, {50, 90, 99}, none);
  EXPECT_EQ(j["load_summary"]["count"], 3);
  EXPECT_NEAR(j["load_summary"]["send_duration"].get<double>(), 2.0, 1e-9);
  EXPECT_NEAR(j["load_summary"]["achieved_rate"].get<double>(), 1.5, 1e-9);
  EXPECT_EQ(j["successes"]["count"], 2);
  EXPECT_EQ(j["failures"]["count"], 1);
  EXPECT_EQ(j["failures"]["by_label"]["http_429"], 1);
  // Throughput over first send (1.0) to last end (3.5).
  EXPECT_NEAR(j["successes"]["throughput"]["output_tokens_per_sec"].get<double>(), 5 / 2.5, 1e-9);
  EXPECT_NEAR(j["successes"]["throughput"]["input_tokens_per_sec"].get<double>(), 150 / 2.5, 1e-9);
  EXPECT_NEAR(j["successes"]["latency"]["time_to_first_token"]["median"].get<double>(), 0.075,
              1e-6);
  EXPECT_TRUE(j["successes"]["latency"]["time_to_first_token"].contains("p90"));
  EXPECT_FALSE(j.contains("goodput"));
}

TEST(Lifecycle, GoodputCountsRequestsMeetingEveryConstraint) {
  GoodputConstraints g;
  g.ttft = 0.08;
  LifecycleSamples s;
  s.add(streamed(1, 1, 1.1, {0.1f, 0.2f}, 10, 2), g);    // TTFT 0.1: misses
  s.add(streamed(2, 2, 2.05, {0.05f, 0.1f}, 10, 2), g);  // TTFT 0.05: meets
  EXPECT_EQ(s.good_requests, 1u);
  auto j = lifecycle_json(s, {50}, g);
  EXPECT_EQ(j["goodput"]["good_requests"], 1);
  EXPECT_NEAR(j["goodput"]["request_goodput"].get<double>(), 0.5, 1e-9);
  EXPECT_EQ(j["goodput"]["constraints"]["ttft"], 0.08);
  g.ttft.reset();
  g.itl = 0.07;  // B's gap 0.05 meets, A's 0.1 misses
  LifecycleSamples t;
  t.add(streamed(1, 1, 1.1, {0.1f, 0.2f}, 10, 2), g);
  t.add(streamed(2, 2, 2.05, {0.05f, 0.1f}, 10, 2), g);
  EXPECT_EQ(t.good_requests, 1u);
}

TEST(Lifecycle, MergingEqualsAddingEverything) {
  GoodputConstraints none;
  LifecycleSamples a, b, all;
  for (int i = 0; i < 50; ++i) {
    auto r = streamed(i, i + 0.001 * i, i + 0.1, {0.1f, 0.1f + 0.01f * i, 0.3f}, 10 + i, 3);
    (i % 2 ? a : b).add(r, none);
    all.add(r, none);
  }
  a.merge(b);
  const std::vector<double> ps = {1, 50, 99};
  auto ja = lifecycle_json(a, ps, none);
  auto jall = lifecycle_json(all, ps, none);
  EXPECT_EQ(ja["successes"], jall["successes"]);
  EXPECT_EQ(ja["load_summary"]["schedule_delay"], jall["load_summary"]["schedule_delay"]);
}

TEST(Lifecycle, EmptyDistributionsAreNull) {
  LifecycleSamples s;
  auto j = lifecycle_json(s, {50}, {});
  EXPECT_TRUE(j["successes"]["latency"]["time_to_first_token"].is_null());
  EXPECT_EQ(j["load_summary"]["count"], 0);
}

TEST(Lifecycle, PerRequestJson) {
  auto r = streamed(1, 1.5, 1.6, {0.1f, 0.2f}, 10, 2);
  r.lora = "sql";
  auto j = request_json(r);
  EXPECT_EQ(j["prompt_tokens"], 10);
  EXPECT_EQ(j["lora"], "sql");
  EXPECT_TRUE(j["success"].get<bool>());
  EXPECT_EQ(j["token_times"].size(), 2u);
  r.error = ErrorKind::kBrokenStream;
  r.error_message = "closed";
  j = request_json(r);
  EXPECT_EQ(j["error"]["kind"], "broken_stream");
}

}  // namespace
}  // namespace kgai::perf
