#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/plugin_registry.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

using testing::Cycle;
using ::testing::HasSubstr;

SchedulingProfile queue_and_kv() {
  SchedulingProfile p;
  p.scorers.push_back(
      {"queue-scorer", std::dynamic_pointer_cast<Scorer>(make_queue_scorer(PluginArgs{})), 2});
  p.scorers.push_back(
      {"kv", std::dynamic_pointer_cast<Scorer>(make_kv_cache_scorer(PluginArgs{})), 2});
  p.picker = {"max-score-picker",
              std::dynamic_pointer_cast<Picker>(make_max_score_picker(PluginArgs{}))};
  return p;
}

TEST(Scheduler, PicksTheLeastLoadedEndpoint) {
  Cycle c(4);
  auto& e = c.pool.endpoints;
  e[0].metrics.waiting = 8;
  e[0].metrics.kv_usage = 0.9;
  e[1].metrics.waiting = 0;
  e[1].metrics.kv_usage = 0.2;
  e[2].metrics.waiting = 2;
  e[2].metrics.kv_usage = 0.5;
  e[3].metrics.waiting = 8;
  e[3].metrics.kv_usage = 0.95;
  Scheduler scheduler(queue_and_kv(), 2.0);
  Decision d = scheduler.schedule(c.context);
  ASSERT_EQ(d.ranked.size(), 4u);
  EXPECT_EQ(d.ranked[0], 1u);
  EXPECT_EQ(d.ranked[1], 2u);
  EXPECT_EQ(d.ranked[2], 0u);
  EXPECT_EQ(d.ranked[3], 3u);
}

TEST(Scheduler, UnhealthyNeverAndStaleOnlyWhenNothingIsFresh) {
  Cycle c(3);
  auto& e = c.pool.endpoints;
  e[0].healthy = false;
  e[1].scraped_at = c.context.now - std::chrono::seconds(5);  // stale
  Scheduler scheduler(queue_and_kv(), 2.0);
  Decision d = scheduler.schedule(c.context);
  EXPECT_EQ(d.ranked, std::vector<uint32_t>{2});
  e[2].scraped_at = c.context.now - std::chrono::seconds(5);
  d = scheduler.schedule(c.context);
  ASSERT_EQ(d.ranked.size(), 2u);  // all healthy ones are stale: they still serve
  e[1].healthy = e[2].healthy = false;
  d = scheduler.schedule(c.context);
  EXPECT_TRUE(d.ranked.empty());
  EXPECT_EQ(d.reason, "no healthy endpoint");
  Cycle none(0);
  d = scheduler.schedule(none.context);
  EXPECT_EQ(d.reason, "no endpoints configured");
}

TEST(Scheduler, EjectedEndpointsServeOnlyWhenNothingElseIsReady) {
  Cycle c(3);
  auto& e = c.pool.endpoints;
  const int64_t later = (c.context.now + std::chrono::seconds(5)).time_since_epoch().count();
  e[0].load->ejected_until = later;
  Scheduler scheduler(queue_and_kv(), 2.0);
  Decision d = scheduler.schedule(c.context);
  ASSERT_EQ(d.ranked.size(), 2u);
  EXPECT_NE(d.ranked[0], 0u);
  EXPECT_NE(d.ranked[1], 0u);
  // Every healthy endpoint ejected: they serve anyway (panic mode), the unhealthy one never.
  e[1].load->ejected_until = later;
  e[2].healthy = false;
  d = scheduler.schedule(c.context);
  ASSERT_EQ(d.ranked.size(), 2u);
  // An ejection that ended is forgotten.
  e[0].load->ejected_until = (c.context.now - std::chrono::seconds(1)).time_since_epoch().count();
  d = scheduler.schedule(c.context);
  EXPECT_EQ(d.ranked, std::vector<uint32_t>{0});
}

TEST(Scheduler, TraceNamesEveryScoreAndThePick) {
  Cycle c(2);
  c.pool.endpoints[1].metrics.waiting = 4;
  c.context.trace = true;
  Scheduler scheduler(queue_and_kv(), 2.0);
  Decision d = scheduler.schedule(c.context);
  EXPECT_EQ(d.ranked[0], 0u);
  EXPECT_THAT(c.context.trace_text, HasSubstr("queue-scorer (x2): 10.0.0.0:8000=1.000 "
                                              "10.0.0.1:8000=0.000"));
  EXPECT_THAT(c.context.trace_text, HasSubstr("total: 10.0.0.0:8000=4.000 10.0.0.1:8000=2.000"));
  EXPECT_THAT(c.context.trace_text, HasSubstr("max-score-picker picked: 10.0.0.0:8000"));
}

}  // namespace
}  // namespace kgai::gateway
