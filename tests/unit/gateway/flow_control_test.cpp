#include "gateway/flow_control.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::gateway {
namespace {

using ::testing::ElementsAre;

struct Log {
  std::vector<std::pair<std::string, FlowOutcome>> events;
  FlowController::Callback note(std::string name) {
    return [this, name](FlowOutcome o) { events.emplace_back(name, o); };
  }
  std::vector<std::string> dispatched() const {
    std::vector<std::string> out;
    for (const auto& [name, o] : events) {
      if (o == FlowOutcome::kDispatch) out.push_back(name);
    }
    return out;
  }
};

const auto kNow = SteadyTime::clock::now();

FlowControlConfig config(std::string fairness = "round-robin", std::string ordering = "fcfs") {
  FlowControlConfig c;
  c.enabled = true;
  c.ttl = 10;
  c.fairness = std::move(fairness);
  c.ordering = std::move(ordering);
  return c;
}

TEST(FlowControl, HigherPriorityBandsFirst) {
  FlowController fc(config());
  Log log;
  fc.enqueue(0, "f", 10, kNow, log.note("normal-1"));
  fc.enqueue(-1, "f", 10, kNow, log.note("batch"));
  fc.enqueue(10, "f", 10, kNow, log.note("chat"));
  fc.enqueue(0, "f", 10, kNow, log.note("normal-2"));
  EXPECT_EQ(fc.stats().queued, 4u);
  EXPECT_EQ(fc.stats().queued_bytes, 40);
  EXPECT_EQ(fc.release([] { return true; }), 4u);
  EXPECT_THAT(log.dispatched(), ElementsAre("chat", "normal-1", "normal-2", "batch"));
  EXPECT_TRUE(fc.empty());
}

TEST(FlowControl, RoundRobinAcrossFlowsWithinABand) {
  FlowController fc(config());
  Log log;
  for (int i = 0; i < 3; ++i) fc.enqueue(0, "heavy", 1, kNow, log.note("h" + std::to_string(i)));
  fc.enqueue(0, "light", 1, kNow, log.note("l0"));
  fc.release([] { return true; });
  EXPECT_THAT(log.dispatched(), ElementsAre("h0", "l0", "h1", "h2"));
}

TEST(FlowControl, GlobalStrictIsArrivalOrder) {
  FlowController fc(config("global-strict"));
  Log log;
  for (int i = 0; i < 3; ++i) fc.enqueue(0, "heavy", 1, kNow, log.note("h" + std::to_string(i)));
  fc.enqueue(0, "light", 1, kNow, log.note("l0"));
  fc.release([] { return true; });
  EXPECT_THAT(log.dispatched(), ElementsAre("h0", "h1", "h2", "l0"));
}

TEST(FlowControl, EdfServesEarliestDeadlineFirst) {
  FlowController fc(config("round-robin", "edf"));
  Log log;
  fc.enqueue(0, "f", 1, kNow + std::chrono::seconds(5), log.note("late"));
  fc.enqueue(0, "f", 1, kNow, log.note("early"));
  fc.release([] { return true; });
  EXPECT_THAT(log.dispatched(), ElementsAre("early", "late"));
}

TEST(FlowControl, ReleaseStopsWithoutCapacity) {
  FlowController fc(config());
  Log log;
  for (int i = 0; i < 5; ++i) fc.enqueue(0, "f", 1, kNow, log.note(std::to_string(i)));
  int budget = 2;
  EXPECT_EQ(fc.release([&] { return budget-- > 0; }), 2u);
  EXPECT_EQ(fc.stats().queued, 3u);
  EXPECT_EQ(fc.release([] { return false; }), 0u);
}

TEST(FlowControl, ByteLimitsReject) {
  FlowControlConfig c = config();
  c.max_bytes = 100;
  c.max_bytes_per_band = 60;
  FlowController fc(c);
  Log log;
  fc.enqueue(0, "f", 50, kNow, log.note("a"));
  fc.enqueue(0, "f", 20, kNow, log.note("over-band"));  // band would hold 70 > 60
  fc.enqueue(1, "f", 40, kNow, log.note("b"));
  fc.enqueue(2, "f", 20, kNow, log.note("over-total"));  // 110 > 100
  ASSERT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.events[0], std::pair(std::string("over-band"), FlowOutcome::kRejected));
  EXPECT_EQ(log.events[1], std::pair(std::string("over-total"), FlowOutcome::kRejected));
  EXPECT_EQ(fc.stats().queued_bytes, 90);
}

TEST(FlowControl, ExpireAndCancel) {
  FlowController fc(config());
  Log log;
  const uint64_t a = fc.enqueue(0, "f", 1, kNow, log.note("a"));
  fc.enqueue(0, "g", 1, kNow + std::chrono::seconds(5), log.note("b"));
  const uint64_t c = fc.enqueue(0, "f", 1, kNow + std::chrono::seconds(1), log.note("c"));
  EXPECT_EQ(fc.next_deadline(), kNow + std::chrono::seconds(10));
  EXPECT_TRUE(fc.cancel(c));
  EXPECT_FALSE(fc.cancel(c));
  EXPECT_EQ(fc.expire(kNow + std::chrono::seconds(12)), 1u);  // only a's TTL has passed
  EXPECT_FALSE(fc.cancel(a));
  ASSERT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.events[0].second, FlowOutcome::kCancelled);
  EXPECT_EQ(log.events[1], std::pair(std::string("a"), FlowOutcome::kExpired));
  fc.release([] { return true; });
  EXPECT_THAT(log.dispatched(), ElementsAre("b"));
  EXPECT_TRUE(fc.empty());
  EXPECT_EQ(fc.next_deadline(), SteadyTime::max());
}

}  // namespace
}  // namespace kgai::gateway
