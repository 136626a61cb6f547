// One simulated load level on the built-in catalog's models: validation, the figures at low load
// (what an idle server gives), goodput against targets, percentile order, and the capacity
// estimate against a measured saturation.
#include "quickstart/load_point.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sim/setup.h"

namespace kgai::quickstart {
namespace {

class LoadPoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = catalog::Catalog::builtin();
    ASSERT_TRUE(c) << c.error().message;
    catalog_ = new catalog::Catalog(std::move(*c));
  }
  static void TearDownTestSuite() {
    delete catalog_;
    catalog_ = nullptr;
  }

  static sim::Setup setup(const std::string& model, const std::string& accelerator, int tp = 1,
                          int max_model_len = 4096) {
    sim::SetupRequest ask;
    ask.model = model;
    ask.accelerator = accelerator;
    ask.tensor_parallel = tp;
    ask.max_model_len = max_model_len;
    auto s = sim::make_setup(*catalog_, ask);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  static sim::WorkloadSpec lengths(int input, int output) {
    sim::WorkloadSpec w;
    w.input = sim::LengthDistribution::fixed(input);
    w.output = sim::LengthDistribution::fixed(output);
    w.seed = 7;
    return w;
  }

  static Load rate(double r, int64_t n) { return Load{r, 0, n}; }
  static Load clients(int c, int64_t n) { return Load{0, c, n}; }

  static catalog::Catalog* catalog_;
};

catalog::Catalog* LoadPoint::catalog_ = nullptr;

TEST_F(LoadPoint, ExactlyOneOfRateOrConcurrencyAndEnoughRequests) {
  const auto s = setup("llama-3.1-8b", "h100");
  const auto w = lengths(128, 32);
  for (const Load& bad : {Load{1.0, 4, 100}, Load{0, 0, 100}, Load{-1, 0, 100}}) {
    auto p = measure_load(s.engine, *s.latency, w, bad, {});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("exactly one of a rate or a concurrency"), std::string::npos)
        << p.error().message;
  }
  auto few = measure_load(s.engine, *s.latency, w, rate(1, 9), {});
  ASSERT_FALSE(few);
  EXPECT_NE(few.error().message.find("at least 10 requests"), std::string::npos);
  EXPECT_TRUE(measure_load(s.engine, *s.latency, w, rate(1, 10), {}));
}

TEST_F(LoadPoint, LowLoadKeepsUpAndGivesTheIdleLatency) {
  const auto s = setup("llama-3.1-8b", "h100");
  const auto w = lengths(128, 128);
  // One client at a time: the idle server's figures.
  auto idle = measure_load(s.engine, *s.latency, w, clients(1, 40), {});
  ASSERT_TRUE(idle) << idle.error().message;
  EXPECT_EQ(idle->concurrency, 1);
  EXPECT_NEAR(idle->kept_up, 1, 0.05);

  // 0.2 req/s against a capacity of tens: requests rarely meet.
  auto low = measure_load(s.engine, *s.latency, w, rate(0.2, 300), {});
  ASSERT_TRUE(low) << low.error().message;
  EXPECT_GE(low->kept_up, 0.97);
  EXPECT_LE(low->kept_up, 1.0);
  // The offered rate is the window's arrivals: a Poisson sample near its nominal rate.
  EXPECT_NEAR(low->offered_rate, 0.2, 0.2 * 0.2);
  EXPECT_NEAR(low->requests_per_second, low->offered_rate, 0.05 * low->offered_rate);
  EXPECT_NEAR(low->output_tokens_per_second, 128 * low->requests_per_second, 1e-6);
  EXPECT_NEAR(low->input_tokens_per_second, 128 * low->requests_per_second, 1e-6);
  EXPECT_NEAR(low->ttft.p50, idle->ttft.p50, 0.1 * idle->ttft.p50);
  EXPECT_NEAR(low->ntpot.p50, idle->ntpot.p50, 0.1 * idle->ntpot.p50);
  // Idle figures for an 8B model on an H100: tens of ms to the first token, a few ms a token.
  EXPECT_GT(idle->ttft.p50, 5);
  EXPECT_LT(idle->ttft.p50, 200);
  EXPECT_GT(idle->itl.p50, 1);
  EXPECT_LT(idle->itl.p50, 20);
  EXPECT_LT(low->mean_waiting, 0.05);
  EXPECT_NEAR(low->mean_running, low->requests_per_second * low->e2e.mean / 1e3,
              0.1 * low->mean_running);
  EXPECT_EQ(low->preemptions, 0);
}

TEST_F(LoadPoint, GoodputIsThroughputWithoutTargetsAndLessWithImpossibleOnes) {
  const auto s = setup("llama-3.1-8b", "h100");
  const auto w = lengths(256, 64);
  auto plain = measure_load(s.engine, *s.latency, w, rate(10, 300), {});
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_GT(plain->requests_per_second, 0);
  EXPECT_DOUBLE_EQ(plain->goodput_rps, plain->requests_per_second);

  Targets impossible;
  impossible.ttft_ms = 0.001;
  auto none = measure_load(s.engine, *s.latency, w, rate(10, 300), impossible);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->goodput_rps, 0);
  EXPECT_DOUBLE_EQ(none->requests_per_second, plain->requests_per_second);  // same run

  // A TTFT target at the run's median: about half the requests meet it.
  Targets median;
  median.ttft_ms = plain->ttft.p50;
  auto half = measure_load(s.engine, *s.latency, w, rate(10, 300), median);
  ASSERT_TRUE(half) << half.error().message;
  EXPECT_GT(half->goodput_rps, 0.3 * plain->requests_per_second);
  EXPECT_LT(half->goodput_rps, 0.7 * plain->requests_per_second);

  // The figures at the targets' percentile are that percentile of the distributions.
  Targets p90;
  p90.percentile = 90;
  auto at90 = measure_load(s.engine, *s.latency, w, rate(10, 300), p90);
  ASSERT_TRUE(at90);
  EXPECT_DOUBLE_EQ(at90->ttft_ms, at90->ttft.p90);
  EXPECT_DOUBLE_EQ(at90->ntpot_ms, at90->ntpot.p90);
  EXPECT_DOUBLE_EQ(at90->itl_ms, at90->itl.p90);
  EXPECT_DOUBLE_EQ(plain->ttft_ms, plain->ttft.p50);
}

TEST_F(LoadPoint, PercentilesAreOrdered) {
  const auto s = setup("llama-3.1-8b", "h100");
  sim::WorkloadSpec w;
  w.input = *sim::LengthDistribution::parse("lognormal:300,0.8");
  w.output = *sim::LengthDistribution::parse("normal:100,30");
  w.seed = 3;
  for (const Load& load : {rate(20, 400), clients(64, 400)}) {
    auto p = measure_load(s.engine, *s.latency, w, load, {});
    ASSERT_TRUE(p) << p.error().message;
    for (const LatencyPercentiles* d : {&p->ttft, &p->ntpot, &p->itl, &p->e2e}) {
      EXPECT_GT(d->p50, 0);
      EXPECT_LE(d->p50, d->p90);
      EXPECT_LE(d->p90, d->p99);
      EXPECT_GT(d->mean, 0);
    }
    // Each request's latency holds its first token and its tokens' gaps.
    EXPECT_GT(p->e2e.p50, p->ttft.p50);
  }
}

TEST_F(LoadPoint, FarAboveCapacityTheEngineFallsBehind) {
  const auto s = setup("llama-3.1-8b", "h100");
  const auto w = lengths(128, 128);
  auto saturated = measure_load(s.engine, *s.latency, w, clients(256, 800), {});
  ASSERT_TRUE(saturated) << saturated.error().message;
  auto over =
      measure_load(s.engine, *s.latency, w, rate(3 * saturated->requests_per_second, 800), {});
  ASSERT_TRUE(over) << over.error().message;
  EXPECT_LT(over->kept_up, 0.8);
  // It still finishes no more than it can.
  EXPECT_LT(over->requests_per_second, 1.3 * saturated->requests_per_second);
  EXPECT_GT(over->mean_waiting, 1);
}

TEST_F(LoadPoint, EstimatedCapacityIsNearTheMeasuredSaturation) {
  struct Case {
    const char* model;
    const char* accelerator;
    int input, output;
    int clients;
  };
  for (const Case& c :
       {Case{"llama-3.1-8b", "h100", 128, 128, 256}, Case{"llama-3.1-8b", "h100", 512, 32, 128},
        Case{"qwen2.5-7b", "l4", 256, 128, 64}}) {
    SCOPED_TRACE(fmt::format("{} on {}, {} in / {} out, {} clients", c.model, c.accelerator,
                             c.input, c.output, c.clients));
    const auto s = setup(c.model, c.accelerator, 1, 2048);
    const auto w = lengths(c.input, c.output);
    const int clients_run = std::min(c.clients, s.engine.max_num_seqs);
    auto measured =
        measure_load(s.engine, *s.latency, w, clients(clients_run, 4 * clients_run), {});
    ASSERT_TRUE(measured) << measured.error().message;
    const double estimate = estimated_capacity(s.engine, *s.latency, w, clients_run);
    EXPECT_GE(estimate, 0.9 * measured->requests_per_second)
        << estimate << " vs " << measured->requests_per_second;
    EXPECT_LE(estimate, 1.4 * measured->requests_per_second)
        << estimate << " vs " << measured->requests_per_second;
  }
}

TEST(MissedTarget, NamesTheFirstTargetMissedAtItsPercentile) {
  OperatingPoint p;
  p.ttft_ms = 412.04;
  p.ntpot_ms = 30;
  p.itl_ms = 25;
  Targets t;
  t.percentile = 90;
  EXPECT_TRUE(meets_targets(p, t));
  EXPECT_EQ(missed_target(p, t), "");
  t.ttft_ms = 200;
  EXPECT_EQ(missed_target(p, t), "p90 TTFT 412.0 ms > 200 ms target");
  EXPECT_FALSE(meets_targets(p, t));
  t.ttft_ms = 412.04;  // equal meets
  EXPECT_TRUE(meets_targets(p, t));
  t.itl_ms = 20;
  EXPECT_EQ(missed_target(p, t), "p90 ITL 25.0 ms > 20 ms target");
  t.ntpot_ms = 29.5;
  EXPECT_EQ(missed_target(p, t), "p90 NTPOT 30.0 ms > 29.5 ms target");
}

}  // namespace
}  // namespace kgai::quickstart

namespace kgai::quickstart {
namespace {

// Long answers: a request's latency (4,096 tokens, about a minute) is longer than the run's
// first tenth, so the finishes in the arrival window lag the arrivals by that latency. Below
// capacity the engine still keeps up, with few requests per run as with many.
TEST_F(LoadPoint, LongAnswersBelowCapacityKeepUpInShortRuns) {
  const auto s = setup("llama-3.1-8b", "h100", 1, 8192);
  const auto w = lengths(256, 4096);
  auto saturated = measure_load(s.engine, *s.latency, w, clients(256, 800), {});
  ASSERT_TRUE(saturated) << saturated.error().message;
  const double rate = 0.6 * saturated->requests_per_second;
  auto longer = measure_load(s.engine, *s.latency, w, LoadPoint::rate(rate, 2000), {});
  ASSERT_TRUE(longer) << longer.error().message;
  auto shorter = measure_load(s.engine, *s.latency, w, LoadPoint::rate(rate, 200), {});
  ASSERT_TRUE(shorter) << shorter.error().message;
  EXPECT_GE(longer->kept_up, 0.95);
  EXPECT_GE(shorter->kept_up, 0.95) << "long run: " << longer->kept_up;
  EXPECT_NEAR(shorter->requests_per_second, shorter->offered_rate, 0.05 * shorter->offered_rate);
}

// With 200 requests per run (the default for 4,096-token answers) a request's latency is longer
// than the run's first tenth: the window starts only once one median latency has passed (before
// that fix it read kept_up 0.84 at 1.03 req/s on one H100 where 2,000-request runs read 1.00).
TEST_F(LoadPoint, ShortRunsOfLongAnswersNearCapacityStillReadKeptUp) {
  const auto s = setup("llama-3.1-8b", "h100", 1, 8192);
  const auto w = lengths(256, 4096);
  const double rate = 1.1;  // 2,000-request runs keep up (kept_up 1.00 at 1.15 req/s)
  auto longer = measure_load(s.engine, *s.latency, w, LoadPoint::rate(rate, 2000), {});
  ASSERT_TRUE(longer) << longer.error().message;
  ASSERT_GE(longer->kept_up, 0.97);
  auto shorter = measure_load(s.engine, *s.latency, w, LoadPoint::rate(rate, 200), {});
  ASSERT_TRUE(shorter) << shorter.error().message;
  EXPECT_GE(shorter->kept_up, 0.95);
  EXPECT_NEAR(shorter->requests_per_second, shorter->offered_rate, 0.05 * shorter->offered_rate);
}

}  // namespace
}  // namespace kgai::quickstart
