#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/plugin_registry.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

using testing::Cycle;
using ::testing::DoubleNear;
using ::testing::ElementsAre;

template <typename T>
std::shared_ptr<T> make(std::shared_ptr<Plugin> (*factory)(const PluginArgs&)) {
  auto plugin = std::dynamic_pointer_cast<T>(factory(PluginArgs{}));
  EXPECT_TRUE(plugin);
  return plugin;
}

TEST(QueueScorer, MinMaxNormalisedShorterIsBetter) {
  Cycle c(3);
  c.pool.endpoints[0].metrics.waiting = 10;
  c.pool.endpoints[1].metrics.waiting = 0;
  c.pool.endpoints[2].metrics.waiting = 5;
  auto scorer = make<Scorer>(&make_queue_scorer);
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 1.0, 0.5));
  // All equal: all 1. A missing queue counts as empty.
  for (auto& e : c.pool.endpoints) e.metrics.waiting = 3;
  EXPECT_THAT(c.score(*scorer), ElementsAre(1.0, 1.0, 1.0));
  c.pool.endpoints[2].metrics.waiting.reset();
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 1.0));
}

TEST(KvCacheScorer, FreeCacheIsBetter) {
  Cycle c(3);
  c.pool.endpoints[0].metrics.kv_usage = 0.9;
  c.pool.endpoints[1].metrics.kv_usage = 0.1;
  c.pool.endpoints[2].metrics.kv_usage.reset();
  auto scorer = make<Scorer>(&make_kv_cache_scorer);
  EXPECT_THAT(c.score(*scorer), ElementsAre(DoubleNear(0.1, 1e-12), DoubleNear(0.9, 1e-12), 0.5));
  c.pool.endpoints[0].metrics.kv_usage = 1.5;  // out of range values are clamped
  EXPECT_EQ(c.score(*scorer)[0], 0.0);
}

TEST(LoraAffinityScorer, ActiveThenRoomThenWaiting) {
  Cycle c(5);
  c.request.target_model = "sql-lora";
  auto& e = c.pool.endpoints;
  e[0].metrics.max_lora = 2;
  e[0].metrics.running_loras = {"sql-lora", "other"};  // active
  e[1].metrics.max_lora = 2;
  e[1].metrics.running_loras = {"other"};  // room for one more
  e[2].metrics.max_lora = 1;
  e[2].metrics.waiting_loras = {"sql-lora"};  // full, but it waits here
  e[3].metrics.max_lora = 1;
  e[3].metrics.running_loras = {"other"};  // full, not here
  // e[4] reports no LoRA information
  auto scorer = make<Scorer>(&make_lora_affinity_scorer);
  EXPECT_THAT(c.score(*scorer), ElementsAre(1.0, 0.8, 0.6, 0.0, 1.0));
}

TEST(ActiveRequestScorer, FewerInFlightIsBetter) {
  Cycle c(3);
  c.pool.endpoints[0].load->in_flight = 4;
  c.pool.endpoints[1].load->in_flight = 2;
  c.pool.endpoints[2].load->in_flight = 0;
  auto scorer = make<Scorer>(&make_active_request_scorer);
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.5, 1.0));
}

TEST(SessionAffinityScorer, ReturnsToTheLastEndpointOfTheSession) {
  Cycle c(3);
  auto plugin = make_session_affinity_scorer(PluginArgs{});
  auto scorer = std::dynamic_pointer_cast<Scorer>(plugin);
  auto hook = std::dynamic_pointer_cast<PostPick>(plugin);
  ASSERT_TRUE(scorer && hook);
  c.request.session_id = "s1";
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 0.0));  // unknown session: no preference
  hook->picked(c.context, c.pool.endpoints[2]);
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 1.0));
  c.request.session_id = "s2";
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 0.0));
  c.request.session_id = "";
  hook->picked(c.context, c.pool.endpoints[0]);  // no session: nothing remembered
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 0.0));
}

}  // namespace
}  // namespace kgai::gateway
