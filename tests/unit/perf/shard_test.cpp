#include "perf/shard.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace kgai::perf {
namespace {

TEST(ParseShard, AcceptsIndexOverCount) {
  auto s = parse_shard("2/5");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 5);
  EXPECT_TRUE(s->active());
  auto one = parse_shard("0/1");
  ASSERT_TRUE(one);
  EXPECT_FALSE(one->active());
}

TEST(ParseShard, RejectsMalformedText) {
  for (const char* bad : {"", "1", "/", "1/", "/2", "2/2", "-1/2", "1/0", "a/b", "1/2x", " 1/2",
                          "1//2", "1/2/3", "0/99999999999999999999", "0/10001"}) {
    auto s = parse_shard(bad);
    EXPECT_FALSE(s) << bad;
    if (!s) {
      EXPECT_NE(s.error().message.find("--shard"), std::string::npos) << bad;
    }
  }
}

TEST(Shard, GlobalIndexAndOwnership) {
  Shard s{.index = 1, .count = 3};
  EXPECT_EQ(s.global_index(0), 1u);
  EXPECT_EQ(s.global_index(4), 13u);
  EXPECT_TRUE(s.owns(13));
  EXPECT_FALSE(s.owns(12));
  Shard whole;
  EXPECT_EQ(whole.global_index(7), 7u);
  EXPECT_TRUE(whole.owns(7));
}

TEST(ShardPlan, OpenLoopSharesPartitionTheSendTimes) {
  StagePlan whole;
  whole.index = 3;
  whole.rate = 10;
  whole.duration = 1;
  for (int i = 0; i < 10; ++i) whole.offsets.push_back(i * 0.1);
  whole.num_requests = 10;
  std::multiset<double> seen;
  for (int i = 0; i < 3; ++i) {
    Shard s{.index = i, .count = 3};
    auto part = shard_plan(whole, s);
    ASSERT_TRUE(part) << part.error().message;
    EXPECT_EQ(part->index, 3);
    EXPECT_DOUBLE_EQ(part->rate, 10.0 / 3);
    EXPECT_EQ(part->num_requests, static_cast<int64_t>(part->offsets.size()));
    for (size_t k = 0; k < part->offsets.size(); ++k) {
      // Local request k is the whole stage's request global_index(k), at the same time.
      EXPECT_DOUBLE_EQ(part->offsets[k], whole.offsets[s.global_index(k)]);
      seen.insert(part->offsets[k]);
    }
  }
  EXPECT_EQ(seen, std::multiset<double>(whole.offsets.begin(), whole.offsets.end()));
}

TEST(ShardPlan, ClosedLoopSplitsStreamsAndRequests) {
  StagePlan whole;
  whole.concurrency = 7;
  whole.num_requests = 20;
  int streams = 0;
  int64_t requests = 0;
  for (int i = 0; i < 3; ++i) {
    auto part = shard_plan(whole, Shard{.index = i, .count = 3});
    ASSERT_TRUE(part);
    streams += part->concurrency;
    requests += part->num_requests;
    // The global indices i, i+3, ... below num_requests: exactly num_requests of them.
    int64_t owned = 0;
    for (int64_t g = 0; g < whole.num_requests; ++g) owned += g % 3 == i;
    EXPECT_EQ(part->num_requests, owned) << i;
  }
  EXPECT_EQ(streams, 7);
  EXPECT_EQ(requests, 20);
}

TEST(ShardPlan, ClosedLoopNeedsAStreamPerShard) {
  StagePlan whole;
  whole.index = 1;
  whole.concurrency = 2;
  whole.num_requests = 10;
  auto part = shard_plan(whole, Shard{.index = 0, .count = 3});
  ASSERT_FALSE(part);
  EXPECT_NE(part.error().message.find("concurrency 2 is below the shard count 3"),
            std::string::npos);
}

TEST(ShardPlan, FewerRequestsThanShardsLeavesSomeShardsIdle) {
  StagePlan whole;
  whole.concurrency = 4;
  whole.num_requests = 2;
  auto last = shard_plan(whole, Shard{.index = 3, .count = 4});
  ASSERT_TRUE(last);
  EXPECT_EQ(last->num_requests, 0);
  StagePlan open;
  open.rate = 1;
  open.duration = 1;
  open.offsets = {0.0};
  auto idle = shard_plan(open, Shard{.index = 1, .count = 2});
  ASSERT_TRUE(idle);
  EXPECT_TRUE(idle->offsets.empty());
}

TEST(ShardPlan, UnshardedIsTheWholeStage) {
  StagePlan whole;
  whole.rate = 5;
  whole.offsets = {0, 0.2, 0.4};
  auto same = shard_plan(whole, Shard{});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->offsets, whole.offsets);
  EXPECT_EQ(same->rate, 5);
}

}  // namespace
}  // namespace kgai::perf
