#include "gateway/outlier_detector.h"

#include <gtest/gtest.h>

#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

OutlierOptions options(int failures, int percent = 50) {
  OutlierOptions o;
  o.consecutive_failures = failures;
  o.base_ejection = seconds(5);
  o.max_ejection = seconds(60);
  o.max_ejection_percent = percent;
  return o;
}

TEST(OutlierDetector, EjectsAfterConsecutiveFailuresOnly) {
  const SteadyTime now = SteadyTime::clock::now();
  PoolSnapshot pool = testing::make_pool(4, now);
  OutlierDetector detector(options(3));
  EXPECT_FALSE(detector.failure(pool, 0, now));
  EXPECT_FALSE(detector.failure(pool, 0, now));
  detector.success(pool.endpoints[0]);  // the run is broken: counting starts over
  EXPECT_FALSE(detector.failure(pool, 0, now));
  EXPECT_FALSE(detector.failure(pool, 0, now));
  EXPECT_FALSE(pool.endpoints[0].ejected(now));
  EXPECT_TRUE(detector.failure(pool, 0, now));
  EXPECT_TRUE(pool.endpoints[0].ejected(now));
  EXPECT_FALSE(pool.endpoints[0].ready(now));
  EXPECT_TRUE(pool.endpoints[0].ejected(now + seconds(4)));
  EXPECT_FALSE(pool.endpoints[0].ejected(now + seconds(5)));
  EXPECT_EQ(pool.endpoints[0].load->ejections, 1u);
  // Failures reported during the ejection (requests sent before it) change nothing.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(detector.failure(pool, 0, now + seconds(1)));
  EXPECT_EQ(pool.endpoints[0].load->ejections, 1u);
}

TEST(OutlierDetector, EjectionsGrowForAFlappingEndpointAndShrinkAfterAQuietSpell) {
  SteadyTime now = SteadyTime::clock::now();
  PoolSnapshot pool = testing::make_pool(4, now);
  OutlierDetector detector(options(1));
  auto eject_and_measure = [&] {
    EXPECT_TRUE(detector.failure(pool, 0, now));
    const SteadyTime until(SteadyTime::duration(pool.endpoints[0].load->ejected_until.load()));
    const auto length = std::chrono::duration_cast<seconds>(until - now);
    now = until;  // back at the end of the ejection, failing again at once
    return length.count();
  };
  EXPECT_EQ(eject_and_measure(), 5);
  EXPECT_EQ(eject_and_measure(), 10);
  EXPECT_EQ(eject_and_measure(), 20);
  EXPECT_EQ(eject_and_measure(), 40);
  EXPECT_EQ(eject_and_measure(), 60);  // max_ejection
  EXPECT_EQ(eject_and_measure(), 60);
  // Two quiet base periods forgive two levels: 5 s x 2^6 -> 5 s x 2^4, still over 60 s.
  now += seconds(10);
  EXPECT_EQ(eject_and_measure(), 60);
  now += seconds(300);  // a long quiet spell: back to the first length
  EXPECT_EQ(eject_and_measure(), 5);
}

TEST(OutlierDetector, NeverEjectsMoreThanTheAllowedShareOfThePool) {
  const SteadyTime now = SteadyTime::clock::now();
  PoolSnapshot pool = testing::make_pool(4, now);
  OutlierDetector detector(options(1, 50));
  EXPECT_TRUE(detector.failure(pool, 0, now));
  EXPECT_TRUE(detector.failure(pool, 1, now));
  EXPECT_FALSE(detector.failure(pool, 2, now));  // a third would be 75 %
  EXPECT_FALSE(pool.endpoints[2].ejected(now));
  // A pool of one is never emptied.
  PoolSnapshot single = testing::make_pool(1, now);
  EXPECT_FALSE(OutlierDetector(options(1, 100 - 1)).failure(single, 0, now));
  // Off.
  EXPECT_FALSE(OutlierDetector(options(0)).failure(pool, 3, now));
}

}  // namespace
}  // namespace kgai::gateway
