// The rate search on synthetic loads whose answer is known: a server of capacity C whose TTFT
// grows with the offered rate, and a closed-loop throughput curve with a known knee.
#include "quickstart/rate_search.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

namespace kgai::quickstart {
namespace {

// An open loop at rate r on a server of capacity C: it finishes min(r, C) requests/s (so
// kept_up = min(1, C / r)) and its TTFT is 10 ms + 100 ms x r / C. A closed loop of c clients
// reaches C x c / (c + 8) requests/s.
struct SyntheticServer {
  double capacity = 40;
  double ttft_base_ms = 10;
  double ttft_slope_ms = 100;  // per unit of r / C
  double ntpot_ms = 5;
  int calls = 0;
  int closed_calls = 0;
  double max_rate_tried = 0;

  double ttft_at(double rate) const { return ttft_base_ms + ttft_slope_ms * rate / capacity; }
  // The highest rate with TTFT <= target.
  double rate_for_ttft(double target_ms) const {
    return (target_ms - ttft_base_ms) / ttft_slope_ms * capacity;
  }

  OperatingPoint operator()(const Load& load) {
    ++calls;
    OperatingPoint p;
    if (load.concurrency > 0) {
      ++closed_calls;
      p.concurrency = load.concurrency;
      p.requests_per_second = capacity * load.concurrency / (load.concurrency + 8.0);
      p.kept_up = 1;
      p.ttft_ms = ttft_at(p.requests_per_second);
    } else {
      max_rate_tried = std::max(max_rate_tried, load.rate);
      p.offered_rate = load.rate;
      p.requests_per_second = std::min(load.rate, capacity);
      p.kept_up = std::min(1.0, capacity / load.rate);
      p.ttft_ms = ttft_at(load.rate);
    }
    p.ntpot_ms = ntpot_ms;
    p.itl_ms = ntpot_ms;
    p.output_tokens_per_second = 100 * p.requests_per_second;
    p.goodput_rps = p.requests_per_second;
    return p;
  }

  MeasureLoad measure() {
    return [this](const Load& load) -> Result<OperatingPoint> { return (*this)(load); };
  }
};

Targets ttft_target(double ms, int percentile = 90) {
  Targets t;
  t.ttft_ms = ms;
  t.percentile = percentile;
  return t;
}

TEST(RateSearch, BisectionLandsWithinToleranceBelowTheTrueMaximum) {
  SyntheticServer server;
  RateSearchOptions options;
  options.saturation_concurrency = 256;
  const Targets targets = ttft_target(60);  // true answer: 0.5 C = 20 req/s
  const double truth = server.rate_for_ttft(60);
  ASSERT_DOUBLE_EQ(truth, 20);
  auto found = search_rate(server.measure(), targets, options);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->feasible);
  EXPECT_FALSE(found->at_saturation);
  // Never above the answer (the point met the target), never more than the tolerance below it.
  EXPECT_LE(found->point.offered_rate, truth);
  EXPECT_GE(found->point.offered_rate, truth * (1 - options.tolerance));
  EXPECT_LE(found->point.ttft_ms, 60);
  // Without an estimate the capacity comes from one saturation run at the clients asked for.
  EXPECT_EQ(server.closed_calls, 1);
  EXPECT_EQ(found->saturation.concurrency, 256);
  EXPECT_EQ(found->runs, server.calls);
}

TEST(RateSearch, TighterToleranceGetsCloser) {
  SyntheticServer server;
  RateSearchOptions options;
  options.saturation_concurrency = 64;
  options.tolerance = 0.002;
  options.max_iterations = 30;
  auto found = search_rate(server.measure(), ttft_target(35), options);
  ASSERT_TRUE(found) << found.error().message;
  const double truth = server.rate_for_ttft(35);  // 10 req/s
  EXPECT_LE(found->point.offered_rate, truth);
  EXPECT_GE(found->point.offered_rate, truth * (1 - 0.002));
}

TEST(RateSearch, WithoutTargetsTheKneeIsTheFewestClientsNearSaturation) {
  SyntheticServer server;
  RateSearchOptions options;
  options.saturation_concurrency = 256;
  auto found = search_rate(server.measure(), Targets{}, options);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->feasible);
  EXPECT_TRUE(found->at_saturation);
  ASSERT_EQ(found->saturation.concurrency, 256);
  // throughput(c) = C c / (c + 8); the knee is the smallest c with throughput(c) >=
  // 0.95 x throughput(256).
  const double goal = options.knee_share * found->saturation.requests_per_second;
  int knee = 1;
  while (server.capacity * knee / (knee + 8.0) < goal) ++knee;
  EXPECT_GE(found->point.concurrency, knee);
  EXPECT_LE(found->point.concurrency, std::ceil(knee * options.knee_ratio));
  EXPECT_GE(found->point.requests_per_second, goal);
  // Every probe is closed-loop.
  EXPECT_EQ(server.closed_calls, server.calls);
  EXPECT_EQ(found->runs, server.calls);
}

TEST(RateSearch, KneeOfALinearThenFlatCurve) {
  // throughput = min(2 c, 100): the knee of 0.95 x 100 is 48 clients.
  const MeasureLoad measure = [](const Load& load) -> Result<OperatingPoint> {
    OperatingPoint p;
    p.concurrency = load.concurrency;
    p.requests_per_second = std::min(2.0 * load.concurrency, 100.0);
    return p;
  };
  RateSearchOptions options;
  options.saturation_concurrency = 512;
  auto found = search_rate(measure, Targets{}, options);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_GE(found->point.concurrency, 48);
  EXPECT_LE(found->point.concurrency, 60);  // within knee_ratio 1.25 of 48
  // A saturation concurrency of 1 is its own knee.
  options.saturation_concurrency = 1;
  found = search_rate(measure, Targets{}, options);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->point.concurrency, 1);
  EXPECT_EQ(found->runs, 1);
}

TEST(RateSearch, InfeasibleEvenAtLowLoadSaysWhichTargetAndTheBestAchievable) {
  SyntheticServer server;  // TTFT is at least 10 ms
  RateSearchOptions options;
  options.saturation_concurrency = 32;
  auto found = search_rate(server.measure(), ttft_target(5, 90), options);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_FALSE(found->feasible);
  EXPECT_GT(found->best.ttft_ms, 5);
  EXPECT_LT(found->best.ttft_ms, 15);  // the lightest load's, not a loaded one
  EXPECT_NE(found->why.find("p90 TTFT"), std::string::npos) << found->why;
  EXPECT_NE(found->why.find("> 5 ms target"), std::string::npos) << found->why;
  EXPECT_LE(found->runs, 3);
}

TEST(RateSearch, NtpotTargetMissedIsNamed) {
  SyntheticServer server;
  server.ntpot_ms = 20;
  Targets targets;
  targets.ntpot_ms = 10;
  targets.percentile = 99;
  RateSearchOptions options;
  options.capacity_estimate = 40;
  auto found = search_rate(server.measure(), targets, options);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_FALSE(found->feasible);
  EXPECT_NE(found->why.find("p99 NTPOT 20.0 ms > 10 ms target"), std::string::npos) << found->why;
}

TEST(RateSearch, HintAboveOrBelowTheAnswerStillConverges) {
  for (double hint : {0.2, 3.0, 15.0, 19.9, 25.0, 120.0}) {
    SCOPED_TRACE(hint);
    SyntheticServer server;
    RateSearchOptions options;
    options.saturation_concurrency = 64;
    options.hint_rate = hint;
    auto found = search_rate(server.measure(), ttft_target(60), options);
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_TRUE(found->feasible);
    EXPECT_LE(found->point.offered_rate, 20);
    EXPECT_GE(found->point.offered_rate, 20 * (1 - options.tolerance));
  }
}

TEST(RateSearch, AnEstimateBelowTheTrueCapacityIsRaised) {
  SyntheticServer server;  // true answer 20 req/s
  RateSearchOptions options;
  options.capacity_estimate = 4;  // a fifth of the answer
  auto found = search_rate(server.measure(), ttft_target(60), options);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->feasible);
  EXPECT_LE(found->point.offered_rate, 20);
  EXPECT_GE(found->point.offered_rate, 20 * (1 - options.tolerance));
  // With an estimate there is no saturation run.
  EXPECT_EQ(server.closed_calls, 0);
  EXPECT_GT(server.max_rate_tried, 20);
}

TEST(RateSearch, AnEstimateFarAboveTheCapacityStillBrackets) {
  SyntheticServer server;
  RateSearchOptions options;
  options.capacity_estimate = 400;  // 10 C
  auto found = search_rate(server.measure(), ttft_target(60), options);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->feasible);
  EXPECT_LE(found->point.offered_rate, 20);
  EXPECT_GE(found->point.offered_rate, 20 * (1 - options.tolerance));
}

TEST(RateSearch, UnsustainedRatesCountAsMisses) {
  // TTFT always meets its target; only stability limits the rate. With a saturation run the
  // rate must stay within sustained_share of the capacity it measured: the answer is 0.95 C.
  SyntheticServer server;
  server.ttft_slope_ms = 0;
  RateSearchOptions options;
  options.saturation_concurrency = 64;
  auto found = search_rate(server.measure(), ttft_target(60), options);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->feasible);
  // The synthetic closed loop of 64 clients serves C x 64 / 72.
  double truth = server.capacity * 64 / 72 * options.sustained_share;
  EXPECT_LE(found->point.offered_rate, truth);
  EXPECT_GE(found->point.offered_rate, truth * (1 - options.tolerance));
  // With only an estimate (no saturation run) the finishes must keep up with the arrivals:
  // kept_up = min(1, C / r) >= 0.95 gives C / 0.95.
  SyntheticServer estimated = server;
  options.capacity_estimate = server.capacity * 1.15;
  found = search_rate(estimated.measure(), ttft_target(60), options);
  ASSERT_TRUE(found) << found.error().message;
  truth = server.capacity / options.sustained_share;
  EXPECT_LE(found->point.offered_rate, truth);
  EXPECT_GE(found->point.offered_rate, truth * (1 - options.tolerance));
  EXPECT_GE(found->point.kept_up, options.sustained_share);
}

TEST(RateSearch, ErrorsFromTheMeasureFunctionPropagate) {
  for (int failing_call : {1, 2, 3, 6}) {
    SCOPED_TRACE(failing_call);
    SyntheticServer server;
    int calls = 0;
    const MeasureLoad measure = [&](const Load& load) -> Result<OperatingPoint> {
      if (++calls == failing_call) return fail("engine exploded at call {}", calls);
      return server(load);
    };
    RateSearchOptions options;
    options.saturation_concurrency = 16;
    auto found = search_rate(measure, ttft_target(60), options);
    ASSERT_FALSE(found);
    EXPECT_NE(found.error().message.find("engine exploded"), std::string::npos)
        << found.error().message;
    EXPECT_EQ(calls, failing_call);  // nothing runs after the error
  }
  // The same without targets (the knee search).
  for (int failing_call : {1, 2}) {
    SyntheticServer server;
    int calls = 0;
    const MeasureLoad measure = [&](const Load& load) -> Result<OperatingPoint> {
      if (++calls == failing_call) return fail("engine exploded");
      return server(load);
    };
    RateSearchOptions options;
    options.saturation_concurrency = 256;
    auto found = search_rate(measure, Targets{}, options);
    EXPECT_FALSE(found);
  }
}

TEST(RateSearch, BadOptionsAreErrors) {
  SyntheticServer server;
  RateSearchOptions options;
  options.saturation_concurrency = 0;
  EXPECT_FALSE(search_rate(server.measure(), Targets{}, options));
  EXPECT_EQ(server.calls, 0);
}

TEST(RateSearch, RunCountIsBounded) {
  // A tolerance that bisection cannot reach stops at max_iterations; in all: a saturation run,
  // the low-load probe, up to 4 raises, max_iterations bisections (and up to 5 hint runs).
  for (double hint : {0.0, 7.0, 90.0}) {
    SCOPED_TRACE(hint);
    SyntheticServer server;
    RateSearchOptions options;
    options.saturation_concurrency = 64;
    options.tolerance = 1e-12;
    options.max_iterations = 6;
    options.hint_rate = hint;
    auto found = search_rate(server.measure(), ttft_target(60), options);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_TRUE(found->feasible);
    EXPECT_EQ(found->runs, server.calls);
    EXPECT_LE(found->runs, 1 + 5 + 1 + 4 + 6);
  }
  // The defaults on a plain case: about a dozen runs.
  SyntheticServer server;
  RateSearchOptions options;
  options.saturation_concurrency = 64;
  auto found = search_rate(server.measure(), ttft_target(60), options);
  ASSERT_TRUE(found);
  EXPECT_LE(found->runs, 14);
  // Requests per run reach the measure function (at least 10; the low-load probe at most 200).
  int64_t fewest = 1 << 30, most = 0;
  const MeasureLoad counting = [&](const Load& load) -> Result<OperatingPoint> {
    fewest = std::min(fewest, load.num_requests);
    most = std::max(most, load.num_requests);
    return server(load);
  };
  options.requests_per_run = 500;
  ASSERT_TRUE(search_rate(counting, ttft_target(60), options));
  EXPECT_EQ(most, 500);
  EXPECT_EQ(fewest, 200);
}

}  // namespace
}  // namespace kgai::quickstart
