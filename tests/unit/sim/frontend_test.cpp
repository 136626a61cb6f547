#include "sim/frontend.h"

#include <gtest/gtest.h>

namespace kgai::sim {
namespace {

FrontendCosts costs() {
  FrontendCosts c;
  c.latency_s = 0.010;
  c.request_s = 0.004;
  c.per_prompt_token_s = 10e-6;
  c.per_output_token_s = 50e-6;
  return c;
}

TEST(Frontend, AnIdleServerCostsTheFixedPartsOnly) {
  Frontend f(costs());
  // 4 ms + 200 x 10 us of CPU, then the 10 ms latency.
  EXPECT_DOUBLE_EQ(f.admit(1.0, 200), 1.0 + 0.004 + 0.002 + 0.010);
  // Long after: the server is idle again, the same cost.
  EXPECT_DOUBLE_EQ(f.admit(5.0, 200), 5.0 + 0.016);
  EXPECT_NEAR(f.busy_seconds(), 2 * 0.006, 1e-12);
}

TEST(Frontend, ABurstIsHandedOverOneAtATime) {
  Frontend f(costs());
  // 100 requests at t = 0: request i reaches the engine after i + 1 intakes of 6 ms each.
  for (int i = 0; i < 100; ++i) {
    EXPECT_NEAR(f.admit(0.0, 200), (i + 1) * 0.006 + 0.010, 1e-9) << i;
  }
  EXPECT_NEAR(f.free_at(), 0.6, 1e-9);
  // One arriving after the burst waits for it.
  EXPECT_NEAR(f.admit(0.3, 0), 0.6 + 0.004 + 0.010, 1e-9);
}

TEST(Frontend, TokensWaitBehindEarlierWorkAndCostPerToken) {
  Frontend f(costs());
  EXPECT_DOUBLE_EQ(f.deliver(1.0, 0), 1.0);  // nothing to stream
  EXPECT_NEAR(f.deliver(1.0, 100), 1.005, 1e-12);
  // Intake queued before a step's end delays its tokens (FIFO).
  f.admit(2.0, 600);  // busy until 2.010
  EXPECT_NEAR(f.deliver(2.001, 20), 2.010 + 0.001, 1e-12);
}

TEST(Frontend, ZeroCostsAreAFixedDelay) {
  FrontendCosts c;
  c.latency_s = 0.014;
  Frontend f(c);
  for (int i = 0; i < 10; ++i) EXPECT_DOUBLE_EQ(f.admit(0.5, 1000), 0.514);
  EXPECT_DOUBLE_EQ(f.deliver(0.7, 1000), 0.7);
  EXPECT_EQ(f.busy_seconds(), 0.0);
}

TEST(Frontend, CostsComeFromTheCatalog) {
  catalog::Efficiency e;
  e.frontend_s = 0.01;
  e.frontend_cpu_s = 0.007;
  e.frontend_cpu_per_prompt_token_s = 8e-6;
  e.frontend_cpu_per_output_token_s = 30e-6;
  const FrontendCosts c = FrontendCosts::from(e);
  EXPECT_EQ(c.latency_s, 0.01);
  EXPECT_EQ(c.request_s, 0.007);
  EXPECT_EQ(c.per_prompt_token_s, 8e-6);
  EXPECT_EQ(c.per_output_token_s, 30e-6);
}

}  // namespace
}  // namespace kgai::sim
