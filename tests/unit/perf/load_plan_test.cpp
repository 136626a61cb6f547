#include "perf/load_plan.h"

#include <cmath>
#include <numeric>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::perf {
namespace {

using ::testing::HasSubstr;

struct GapStats {
  double mean = 0;
  double cv = 0;  // standard deviation / mean
};

GapStats gap_stats(const std::vector<double>& offsets) {
  std::vector<double> gaps;
  for (size_t i = 1; i < offsets.size(); ++i) gaps.push_back(offsets[i] - offsets[i - 1]);
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / gaps.size();
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  var /= gaps.size() - 1;
  return {mean, std::sqrt(var) / mean};
}

TEST(SendOffsets, ConstantIsEvenlySpacedFromZero) {
  auto offsets = send_offsets("constant", 4, 10, 1, 0);
  ASSERT_TRUE(offsets) << offsets.error().message;
  ASSERT_EQ(offsets->size(), 40u);
  for (size_t i = 0; i < offsets->size(); ++i) EXPECT_DOUBLE_EQ((*offsets)[i], i * 0.25);
}

TEST(SendOffsets, ConstantCountRoundsDown) {
  EXPECT_EQ(send_offsets("constant", 2.5, 1, 1, 0)->size(), 2u);  // 2.5 -> 2
  EXPECT_EQ(send_offsets("constant", 3, 1, 1, 0)->size(), 3u);
  EXPECT_EQ(send_offsets("constant", 0.5, 1, 1, 0)->size(), 0u);
  EXPECT_EQ(send_offsets("constant", 0.1, 30, 1, 0)->size(), 3u);
  EXPECT_EQ(send_offsets("constant", 0.7, 10, 1, 0)->size(), 7u);
  // 0.29 * 100 is 28.999999999999996: still 29 requests.
  EXPECT_EQ(send_offsets("constant", 0.29, 100, 1, 0)->size(), 29u);
}

TEST(SendOffsets, PoissonCountGapsAndVariation) {
  const double rate = 50, duration = 2000;  // 100k arrivals expected
  auto offsets = send_offsets("poisson", rate, duration, 1, 42);
  ASSERT_TRUE(offsets) << offsets.error().message;
  const double expected = rate * duration;
  EXPECT_NEAR(offsets->size(), expected, 5 * std::sqrt(expected));
  EXPECT_TRUE(std::is_sorted(offsets->begin(), offsets->end()));
  EXPECT_GT(offsets->front(), 0);
  EXPECT_LT(offsets->back(), duration);
  const GapStats s = gap_stats(*offsets);
  EXPECT_NEAR(s.mean, 1 / rate, 0.02 / rate);
  EXPECT_NEAR(s.cv, 1.0, 0.03);
}

TEST(SendOffsets, GammaBurstinessSetsVariation) {
  // Gamma gaps with shape k have CV 1 / sqrt(k) whatever the mean.
  for (auto [burstiness, cv] : {std::pair{0.5, std::sqrt(2.0)}, std::pair{4.0, 0.5}}) {
    auto offsets = send_offsets("poisson", 20, 5000, burstiness, 7);
    ASSERT_TRUE(offsets) << offsets.error().message;
    EXPECT_NEAR(offsets->size(), 100000, 2000) << burstiness;
    const GapStats s = gap_stats(*offsets);
    EXPECT_NEAR(s.mean, 1.0 / 20, 0.02 / 20) << burstiness;
    EXPECT_NEAR(s.cv, cv, 0.05 * cv) << burstiness;
  }
}

TEST(SendOffsets, DeterministicPerSeed) {
  for (double burstiness : {1.0, 0.5, 3.0}) {
    auto a = send_offsets("poisson", 10, 60, burstiness, 5);
    auto b = send_offsets("poisson", 10, 60, burstiness, 5);
    auto c = send_offsets("poisson", 10, 60, burstiness, 6);
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(*a, *b);
    EXPECT_NE(*a, *c);
  }
}

TEST(SendOffsets, Errors) {
  EXPECT_THAT(send_offsets("bursty", 1, 1, 1, 0).error().message,
              HasSubstr("unknown load type 'bursty'"));
  EXPECT_THAT(send_offsets("trace_replay", 1, 1, 1, 0).error().message, HasSubstr("not supported"));
  EXPECT_THAT(send_offsets("concurrent", 1, 1, 1, 0).error().message,
              HasSubstr("unknown load type"));
  EXPECT_THAT(send_offsets("constant", 0, 1, 1, 0).error().message, HasSubstr("rate must be"));
  EXPECT_THAT(send_offsets("constant", -1, 1, 1, 0).error().message, HasSubstr("rate must be"));
  EXPECT_THAT(send_offsets("poisson", NAN, 1, 1, 0).error().message, HasSubstr("rate must be"));
  EXPECT_THAT(send_offsets("constant", 1, 0, 1, 0).error().message, HasSubstr("duration must be"));
  EXPECT_THAT(send_offsets("poisson", 1, INFINITY, 1, 0).error().message,
              HasSubstr("duration must be"));
  EXPECT_THAT(send_offsets("poisson", 1, 1, 0, 0).error().message, HasSubstr("burstiness must be"));
  EXPECT_THAT(send_offsets("poisson", 1e6, 1e6, 1, 0).error().message, HasSubstr("more than the"));
}

LoadConfig open_loop(std::string type) {
  LoadConfig load;
  load.type = std::move(type);
  load.base_seed = 100;
  load.stages = {{.rate = 5, .duration = 10}, {.rate = 20, .duration = 4}};
  return load;
}

TEST(PlanStages, ConstantStages) {
  auto plans = plan_stages(open_loop("constant"));
  ASSERT_TRUE(plans) << plans.error().message;
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].index, 0);
  EXPECT_EQ((*plans)[0].rate, 5);
  EXPECT_EQ((*plans)[0].duration, 10);
  EXPECT_EQ((*plans)[0].num_requests, 50);
  EXPECT_EQ((*plans)[0].offsets.size(), 50u);
  EXPECT_EQ((*plans)[1].index, 1);
  EXPECT_EQ((*plans)[1].num_requests, 80);
  EXPECT_EQ((*plans)[1].concurrency, 0);
}

TEST(PlanStages, PoissonStagesUseBaseSeedPlusIndex) {
  LoadConfig load = open_loop("poisson");
  load.burstiness = 2;
  auto plans = plan_stages(load);
  ASSERT_TRUE(plans) << plans.error().message;
  ASSERT_EQ(plans->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const StageConfig& stage = load.stages[i];
    auto expected = send_offsets("poisson", stage.rate, stage.duration, 2, 100 + i);
    EXPECT_EQ((*plans)[i].offsets, *expected);
    EXPECT_EQ((*plans)[i].num_requests, static_cast<int64_t>(expected->size()));
  }
}

TEST(PlanStages, ConcurrentStages) {
  LoadConfig load;
  load.type = "concurrent";
  load.stages = {{.num_requests = 100, .concurrency_level = 8},
                 {.num_requests = 50, .concurrency_level = 2}};
  auto plans = plan_stages(load);
  ASSERT_TRUE(plans) << plans.error().message;
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].concurrency, 8);
  EXPECT_EQ((*plans)[0].num_requests, 100);
  EXPECT_EQ((*plans)[1].index, 1);
  EXPECT_EQ((*plans)[1].concurrency, 2);
  EXPECT_EQ((*plans)[1].num_requests, 50);
  EXPECT_TRUE((*plans)[1].offsets.empty());
  EXPECT_EQ((*plans)[1].rate, 0);
}

std::string plan_error(const LoadConfig& load) {
  auto plans = plan_stages(load);
  return plans ? "(no error)" : plans.error().message;
}

TEST(PlanStages, Errors) {
  LoadConfig load = open_loop("constant");
  load.stages.clear();
  EXPECT_EQ(plan_error(load), "load.stages: no stages");

  load = open_loop("constant");
  load.sweep = SweepConfig{};
  EXPECT_THAT(plan_error(load), HasSubstr("plan_sweep"));

  load = open_loop("ramp");
  EXPECT_THAT(plan_error(load), HasSubstr("load.type: unknown load type 'ramp'"));
  load = open_loop("trace_replay");
  EXPECT_THAT(plan_error(load), HasSubstr("load.type: load type trace_replay is not supported"));

  load = open_loop("constant");
  load.stages[1].rate = 0;
  EXPECT_EQ(plan_error(load), "load.stages[1].rate: must be a positive number, got 0");
  load = open_loop("poisson");
  load.stages[0].duration = -3;
  EXPECT_EQ(plan_error(load), "load.stages[0].duration: must be a positive number, got -3");
  load = open_loop("poisson");
  load.burstiness = -1;
  EXPECT_THAT(plan_error(load), HasSubstr("load.stages[0]: burstiness must be"));

  load = LoadConfig{};
  load.type = "concurrent";
  load.stages = {{.num_requests = 10, .concurrency_level = 0}};
  EXPECT_EQ(plan_error(load), "load.stages[0].concurrency_level: must be positive, got 0");
  load.stages = {{.num_requests = 10, .concurrency_level = 1}, {.concurrency_level = 4}};
  EXPECT_EQ(plan_error(load), "load.stages[1].num_requests: must be positive, got 0");
}

LoadConfig sweep_load(std::string type, int stages) {
  LoadConfig load;
  load.type = "constant";
  load.sweep = SweepConfig{.type = std::move(type), .num_stages = stages, .stage_duration = 10};
  return load;
}

std::vector<double> rates(const std::vector<StagePlan>& plans) {
  std::vector<double> out;
  for (const auto& p : plans) out.push_back(p.rate);
  return out;
}

TEST(PlanSweep, LinearIsLinspaceFromOne) {
  auto plans = plan_sweep(sweep_load("linear", 5), 9);
  ASSERT_TRUE(plans) << plans.error().message;
  EXPECT_THAT(rates(*plans), ::testing::ElementsAre(1, 3, 5, 7, 9));
  for (size_t i = 0; i < plans->size(); ++i) {
    const StagePlan& p = (*plans)[i];
    EXPECT_EQ(p.index, static_cast<int>(i));
    EXPECT_EQ(p.duration, 10);
    EXPECT_EQ(p.num_requests, static_cast<int64_t>(p.rate * 10));
    EXPECT_EQ(p.offsets.size(), static_cast<size_t>(p.num_requests));
  }
}

TEST(PlanSweep, GeometricFromOne) {
  auto plans = plan_sweep(sweep_load("geometric", 4), 27);
  ASSERT_TRUE(plans) << plans.error().message;
  const auto r = rates(*plans);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_DOUBLE_EQ(r[0], 1);
  EXPECT_NEAR(r[1], 3, 1e-9);
  EXPECT_NEAR(r[2], 9, 1e-9);
  EXPECT_EQ(r[3], 27);
}

TEST(PlanSweep, EdgeCases) {
  // One stage runs at saturation.
  EXPECT_THAT(rates(*plan_sweep(sweep_load("linear", 1), 40)), ::testing::ElementsAre(40));
  // Below 1 req/s the range starts at saturation / num_stages.
  auto low = rates(*plan_sweep(sweep_load("linear", 4), 0.8));
  ASSERT_EQ(low.size(), 4u);
  EXPECT_NEAR(low[0], 0.2, 1e-12);
  EXPECT_NEAR(low[1], 0.4, 1e-12);
  EXPECT_NEAR(low[2], 0.6, 1e-12);
  EXPECT_EQ(low[3], 0.8);
}

TEST(PlanSweep, PoissonStagesAreSeededPerStage) {
  LoadConfig load = sweep_load("linear", 3);
  load.type = "poisson";
  load.base_seed = 9;
  auto plans = plan_sweep(load, 21);
  ASSERT_TRUE(plans) << plans.error().message;
  EXPECT_EQ((*plans)[2].offsets, *send_offsets("poisson", 21, 10, 1, 11));
}

TEST(PlanSweep, Errors) {
  auto error = [](const LoadConfig& load, double sat) {
    auto plans = plan_sweep(load, sat);
    return plans ? "(no error)" : plans.error().message;
  };
  LoadConfig load = sweep_load("linear", 5);
  EXPECT_THAT(error(load, 0), HasSubstr("saturation rate must be"));
  EXPECT_THAT(error(load, NAN), HasSubstr("saturation rate must be"));
  load.sweep->type = "log";
  EXPECT_THAT(error(load, 10), HasSubstr("load.sweep.type: unknown type 'log'"));
  load = sweep_load("linear", 0);
  EXPECT_THAT(error(load, 10), HasSubstr("load.sweep.num_stages"));
  load = sweep_load("linear", 3);
  load.sweep->stage_duration = 0;
  EXPECT_THAT(error(load, 10), HasSubstr("load.sweep.stage_duration"));
  load = sweep_load("linear", 3);
  load.type = "concurrent";
  EXPECT_THAT(error(load, 10), HasSubstr("open-loop"));
  load.type = "weird";
  EXPECT_THAT(error(load, 10), HasSubstr("load.type: unknown load type"));
  load = LoadConfig{};
  EXPECT_EQ(error(load, 10), "load.sweep: not set");
}

TEST(SaturationFromSamples, HandComputed) {
  // Drains of 10, 20, 0 (a rise counts as 0), 30, 10 requests per 0.5 s:
  // rates 20, 40, 0, 60, 20 req/s; sorted 0, 20, 20, 40, 60.
  const std::vector<int64_t> in_flight = {100, 90, 70, 75, 45, 35};
  EXPECT_DOUBLE_EQ(saturation_from_samples(in_flight, 0.5, 50), 20);
  EXPECT_DOUBLE_EQ(saturation_from_samples(in_flight, 0.5, 100), 60);
  EXPECT_DOUBLE_EQ(saturation_from_samples(in_flight, 0.5, 0), 0);
  // numpy: rank 0.95 * 4 = 3.8 -> 40 + 0.8 * (60 - 40) = 56.
  EXPECT_DOUBLE_EQ(saturation_from_samples(in_flight, 0.5, 95), 56);
  // rank 0.75 * 4 = 3 -> 40.
  EXPECT_DOUBLE_EQ(saturation_from_samples(in_flight, 0.5, 75), 40);
  // rank 0.6 * 4 = 2.4 -> 20 + 0.4 * 20 = 28.
  EXPECT_DOUBLE_EQ(saturation_from_samples(in_flight, 0.5, 60), 28);
}

TEST(SaturationFromSamples, Degenerate) {
  EXPECT_EQ(saturation_from_samples({}, 0.5, 95), 0);
  EXPECT_EQ(saturation_from_samples({10}, 0.5, 95), 0);
  EXPECT_EQ(saturation_from_samples({10, 5}, 0, 95), 0);
  EXPECT_EQ(saturation_from_samples({5, 10, 20}, 1, 95), 0);  // never drained
  EXPECT_DOUBLE_EQ(saturation_from_samples({10, 4}, 2, 95), 3);
}

}  // namespace
}  // namespace kgai::perf
