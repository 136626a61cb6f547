#include "sim/workload.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace kgai::sim {
namespace {

TEST(LengthDistribution, ParsesEveryForm) {
  for (const char* text : {"200", "fixed:200", "normal:200,50", "uniform:100,300",
                           "exponential:200", "lognormal:200,0.5"}) {
    auto d = LengthDistribution::parse(text);
    ASSERT_TRUE(d) << text << ": " << d.error().message;
    EXPECT_EQ(d->text(), text);
  }
}

TEST(LengthDistribution, RejectsBadText) {
  for (const char* text :
       {"", "abc", "normal:200", "normal:200,50,3", "gamma:2,3", "uniform:300,100", "-5", "0",
        "normal:200,-1", "1e12", "200x", "normal:,", "nan"}) {
    auto d = LengthDistribution::parse(text);
    EXPECT_FALSE(d) << text;
    if (!d) {
      EXPECT_NE(d.error().message.find('\''), std::string::npos) << d.error().message;
    }
  }
}

TEST(LengthDistribution, SamplesAroundTheMeanWithinBounds) {
  std::mt19937_64 rng(7);
  for (const char* text :
       {"normal:200,50", "uniform:100,300", "exponential:200", "lognormal:200,0.5"}) {
    auto d = *LengthDistribution::parse(text);
    double sum = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      int x = d.sample(rng);
      ASSERT_GE(x, 1);
      sum += x;
    }
    EXPECT_NEAR(sum / n, 200, 8) << text;
  }
  auto capped = *LengthDistribution::parse("uniform:100,300");
  capped.set_max(150);
  for (int i = 0; i < 1000; ++i) EXPECT_LE(capped.sample(rng), 150);
  EXPECT_EQ(LengthDistribution::fixed(9).sample(rng), 9);
}

TEST(WorkloadGenerator, GroupsShareTheirPrefixBlocks) {
  WorkloadSpec spec;
  spec.input = LengthDistribution::fixed(64);
  spec.shared_prefix_groups = 2;
  spec.shared_prefix_len = 128;  // 8 blocks of 16
  WorkloadGenerator gen(spec, 16, true);
  GeneratedRequest a, b, c;
  gen.next(a);  // group 0
  gen.next(b);  // group 1
  gen.next(c);  // group 0
  EXPECT_EQ(a.prompt_tokens, 192);
  ASSERT_EQ(a.block_hashes.size(), 12u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(a.block_hashes[i], c.block_hashes[i]);
    EXPECT_NE(a.block_hashes[i], b.block_hashes[i]);
  }
  EXPECT_NE(a.block_hashes[8], c.block_hashes[8]);
}

TEST(WorkloadGenerator, SameSeedSameWorkload) {
  WorkloadSpec spec;
  spec.rate = 10;
  spec.input = *LengthDistribution::parse("normal:200,50");
  WorkloadGenerator g1(spec, 16, true), g2(spec, 16, true);
  for (int i = 0; i < 50; ++i) {
    GeneratedRequest a, b;
    g1.next(a);
    g2.next(b);
    EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
    EXPECT_EQ(a.block_hashes, b.block_hashes);
    EXPECT_EQ(g1.next_gap(), g2.next_gap());
  }
}

TEST(WorkloadGenerator, AFollowUpHoldsThePreviousPromptAndAnswer) {
  WorkloadSpec spec;
  spec.input = LengthDistribution::fixed(100);
  spec.output = LengthDistribution::fixed(40);
  spec.turns = 3;
  WorkloadGenerator g(spec, 16, true);
  GeneratedRequest first, second, third, done;
  g.next(first);
  EXPECT_EQ(first.turn, 0);
  ASSERT_TRUE(g.follow_up(first, 40, 4096, second));
  EXPECT_EQ(second.turn, 1);
  EXPECT_EQ(second.conversation, first.conversation);
  EXPECT_EQ(second.prompt_tokens, 100 + 40 + 100);
  // Its blocks begin with the first prompt's, then the blocks the first turn's answer fills,
  // as the engine asks for them while generating it.
  std::vector<uint64_t> sequence = first.block_hashes;
  g.hash_blocks(first.conversation, 100 + 39, sequence);  // the last token has no KV
  ASSERT_EQ(sequence.size(), 8u);
  ASSERT_EQ(second.block_hashes.size(), 15u);
  EXPECT_TRUE(std::equal(sequence.begin(), sequence.end(), second.block_hashes.begin()));
  ASSERT_TRUE(g.follow_up(second, 40, 4096, third));
  EXPECT_FALSE(g.follow_up(third, 40, 4096, done));  // three turns
  // Another conversation shares nothing.
  GeneratedRequest other;
  g.next(other);
  EXPECT_NE(other.conversation, first.conversation);
  EXPECT_NE(other.block_hashes[0], first.block_hashes[0]);
}

TEST(WorkloadGenerator, AConversationEndsWhenTheNextTurnWouldNotFit) {
  WorkloadSpec spec;
  spec.input = LengthDistribution::fixed(1000);
  spec.output = LengthDistribution::fixed(500);
  spec.turns = 10;
  WorkloadGenerator g(spec, 16, true);
  GeneratedRequest r;
  g.next(r);
  ASSERT_TRUE(g.follow_up(r, 500, 4096, r));   // 2500 + 500
  EXPECT_FALSE(g.follow_up(r, 500, 4096, r));  // 4000 + 500 > 4096
}

TEST(WorkloadGenerator, MultiTurnIsDeterministicForASeed) {
  WorkloadSpec spec;
  spec.input = LengthDistribution::parse("lognormal:200,0.8").value();
  spec.output = LengthDistribution::parse("normal:100,30").value();
  spec.turns = 4;
  spec.think_time = 3;
  auto draw = [&spec] {
    WorkloadGenerator g(spec, 16, true);
    std::vector<double> values;
    GeneratedRequest r;
    g.next(r);
    while (g.follow_up(r, r.output_tokens, 1 << 20, r)) {
      values.push_back(r.prompt_tokens);
      values.push_back(static_cast<double>(r.block_hashes.back()));
      values.push_back(g.next_think_time());
    }
    return values;
  };
  const auto a = draw();
  EXPECT_EQ(a.size(), 9u);
  EXPECT_EQ(a, draw());
  spec.seed = 7;
  EXPECT_NE(a, draw());
}

TEST(WorkloadSpec, RejectsBadMultiTurnSettings) {
  WorkloadSpec spec;
  EXPECT_TRUE(spec.validate());
  spec.turns = 0;
  auto bad = spec.validate();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--multi-turn"), std::string::npos);
  spec.turns = 2;
  for (double t : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    spec.think_time = t;
    auto r = spec.validate();
    ASSERT_FALSE(r) << t;
    EXPECT_NE(r.error().message.find("--think-time"), std::string::npos);
  }
}

}  // namespace
}  // namespace kgai::sim
