#include "gateway/saturation.h"

#include <gtest/gtest.h>

#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

TEST(Saturation, EndpointIsTheWorseOfQueueAndKv) {
  const auto now = SteadyTime::clock::now();
  auto pool = testing::make_pool(4, now);
  SaturationConfig c;                                            // 5 waiting, 0.8 KV
  pool.endpoints[0].metrics.waiting = 10;                        // 2.0
  pool.endpoints[1].metrics.kv_usage = 0.4;                      // 0.5
  pool.endpoints[2].healthy = false;                             // 1.0
  pool.endpoints[3].scraped_at = now - std::chrono::seconds(3);  // stale: 1.0
  EXPECT_DOUBLE_EQ(endpoint_saturation(pool.endpoints[0], c, now), 2.0);
  EXPECT_DOUBLE_EQ(endpoint_saturation(pool.endpoints[1], c, now), 0.5);
  EXPECT_DOUBLE_EQ(endpoint_saturation(pool.endpoints[2], c, now), 1.0);
  EXPECT_DOUBLE_EQ(endpoint_saturation(pool.endpoints[3], c, now), 1.0);
  EXPECT_DOUBLE_EQ(pool_saturation(pool, c, now), 4.5 / 4);
  EXPECT_TRUE(is_saturated(pool_saturation(pool, c, now)));
  EXPECT_DOUBLE_EQ(pool_saturation(PoolSnapshot{}, c, now), 1.0);
  auto idle = testing::make_pool(2, now);
  EXPECT_FALSE(is_saturated(pool_saturation(idle, c, now)));
}

}  // namespace
}  // namespace kgai::gateway
