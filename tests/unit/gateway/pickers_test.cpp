#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/plugin_registry.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

using testing::Cycle;

std::shared_ptr<Picker> picker(std::shared_ptr<Plugin> (*factory)(const PluginArgs&)) {
  return std::dynamic_pointer_cast<Picker>(factory(PluginArgs{}));
}

TEST(MaxScorePicker, RanksBestFirstAndBreaksTiesAtRandom) {
  Cycle c(6);
  auto p = picker(&make_max_score_picker);
  auto all = c.all();
  std::vector<double> totals = {0.1, 0.9, 0.5, 0.9, 0.2, 0.7};
  std::map<uint32_t, int> firsts;
  for (int i = 0; i < 400; ++i) {
    std::vector<uint32_t> ranked;
    p->pick(c.context, all, totals, ranked);
    ASSERT_EQ(ranked.size(), 4u);  // the pick and three fallbacks
    EXPECT_TRUE((ranked[0] == 1 && ranked[1] == 3) || (ranked[0] == 3 && ranked[1] == 1));
    EXPECT_EQ(ranked[2], 5u);
    EXPECT_EQ(ranked[3], 2u);
    ++firsts[ranked[0]];
  }
  EXPECT_GT(firsts[1], 120);
  EXPECT_GT(firsts[3], 120);
}

TEST(RandomPicker, UniformOverCandidates) {
  Cycle c(4);
  auto p = picker(&make_random_picker);
  auto all = c.all();
  std::vector<double> totals = {1, 0, 0, 0};
  std::map<uint32_t, int> firsts;
  for (int i = 0; i < 4000; ++i) {
    std::vector<uint32_t> ranked;
    p->pick(c.context, all, totals, ranked);
    ASSERT_EQ(ranked.size(), 4u);
    std::vector<uint32_t> sorted = ranked;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, all);  // a permutation
    ++firsts[ranked[0]];
  }
  for (uint32_t i = 0; i < 4; ++i) EXPECT_NEAR(firsts[i], 1000, 150) << i;
}

TEST(WeightedRandomPicker, ProportionalToTotals) {
  Cycle c(3);
  auto p = picker(&make_weighted_random_picker);
  auto all = c.all();
  std::vector<double> totals = {3, 1, 0};
  std::map<uint32_t, int> firsts;
  for (int i = 0; i < 8000; ++i) {
    std::vector<uint32_t> ranked;
    p->pick(c.context, all, totals, ranked);
    ASSERT_EQ(ranked.size(), 2u);  // zero totals are never picked
    ++firsts[ranked[0]];
  }
  EXPECT_NEAR(firsts[0], 6000, 250);
  EXPECT_NEAR(firsts[1], 2000, 250);
  EXPECT_EQ(firsts[2], 0);
  std::vector<double> zeros = {0, 0, 0};
  std::vector<uint32_t> ranked;
  p->pick(c.context, all, zeros, ranked);
  EXPECT_EQ(ranked.size(), 3u);  // all zero: uniform
}

TEST(RoundRobinPicker, TakesEndpointsInTurn) {
  Cycle c(3);
  auto p = picker(&make_round_robin_picker);
  auto all = c.all();
  std::vector<double> totals(3, 0);
  std::vector<uint32_t> firsts;
  for (int i = 0; i < 6; ++i) {
    std::vector<uint32_t> ranked;
    p->pick(c.context, all, totals, ranked);
    firsts.push_back(ranked[0]);
  }
  EXPECT_THAT(firsts, ::testing::ElementsAre(0, 1, 2, 0, 1, 2));
}

}  // namespace
}  // namespace kgai::gateway
