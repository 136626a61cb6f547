#include "sim/workload.h"

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

}  // namespace
}  // namespace kgai::sim
