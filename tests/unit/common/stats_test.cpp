#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/stats.h"

namespace kgai::stats {
namespace {

constexpr double kTolerance = 1e-12;

Samples make_samples(const std::vector<double>& values) {
  Samples samples;
  for (double value : values) samples.add(value);
  return samples;
}

// Expected values are numpy.percentile(data, p) with the default method="linear":
// position = p/100 * (n - 1), interpolated between the order statistics around it.
TEST(Samples, PercentilesMatchNumpyLinear) {
  Samples samples = make_samples({40, 15, 50, 20, 35});  // unsorted on purpose
  EXPECT_NEAR(samples.percentile(0), 15, kTolerance);
  EXPECT_NEAR(samples.percentile(25), 20, kTolerance);
  EXPECT_NEAR(samples.percentile(40), 29, kTolerance);
  EXPECT_NEAR(samples.percentile(50), 35, kTolerance);
  EXPECT_NEAR(samples.percentile(90), 46, kTolerance);
  EXPECT_NEAR(samples.percentile(99), 49.6, kTolerance);
  EXPECT_NEAR(samples.percentile(100), 50, kTolerance);
}

TEST(Samples, PercentilesOfOneToTen) {
  Samples samples;
  for (int i = 10; i >= 1; --i) samples.add(i);
  EXPECT_NEAR(samples.percentile(10), 1.9, kTolerance);
  EXPECT_NEAR(samples.percentile(50), 5.5, kTolerance);
  EXPECT_NEAR(samples.percentile(90), 9.1, kTolerance);
  EXPECT_NEAR(samples.percentile(95), 9.55, kTolerance);
  EXPECT_NEAR(samples.percentile(99), 9.91, kTolerance);
}

TEST(Samples, NumpyDocumentationExample) {
  // np.percentile([[10, 7, 4], [3, 2, 1]], 50) == 3.5
  EXPECT_NEAR(make_samples({10, 7, 4, 3, 2, 1}).percentile(50), 3.5, kTolerance);
}

TEST(Samples, PercentilesWithDuplicates) {
  Samples samples = make_samples({1, 1, 1, 5, 5, 2});  // sorted: 1 1 1 2 5 5
  EXPECT_NEAR(samples.percentile(20), 1, kTolerance);
  EXPECT_NEAR(samples.percentile(50), 1.5, kTolerance);
  EXPECT_NEAR(samples.percentile(75), 4.25, kTolerance);
}

TEST(Samples, SingleAndTwoValues) {
  Samples one = make_samples({7.5});
  for (double p : {0.0, 1.0, 50.0, 99.9, 100.0}) EXPECT_EQ(one.percentile(p), 7.5);
  Samples two = make_samples({10, 0});
  EXPECT_NEAR(two.percentile(37), 3.7, kTolerance);
}

TEST(Samples, OutOfRangePercentilesClamp) {
  Samples samples = make_samples({3, 1, 2});
  EXPECT_EQ(samples.percentile(-5), 1);
  EXPECT_EQ(samples.percentile(150), 3);
}

TEST(Samples, Moments) {
  Samples samples;
  samples.add(2, 3);
  samples.add(8);
  samples.add(-1);
  EXPECT_EQ(samples.count(), 5u);
  EXPECT_FALSE(samples.empty());
  EXPECT_EQ(samples.sum(), 13);
  EXPECT_NEAR(samples.mean(), 2.6, kTolerance);
  EXPECT_EQ(samples.min(), -1);
  EXPECT_EQ(samples.max(), 8);
}

TEST(Samples, EmptySet) {
  Samples samples;
  EXPECT_TRUE(samples.empty());
  EXPECT_EQ(samples.count(), 0u);
  EXPECT_EQ(samples.sum(), 0);
  EXPECT_EQ(samples.mean(), 0);
  EXPECT_EQ(samples.min(), 0);
  EXPECT_EQ(samples.max(), 0);
  EXPECT_EQ(samples.percentile(50), 0);
  samples.add(5, 0);  // a zero weight adds nothing
  EXPECT_TRUE(samples.empty());
  EXPECT_EQ(samples.percentile(99), 0);
}

// A weighted entry is the same as that many equal entries, for every percentile.
TEST(Samples, WeightedEqualsExpanded) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> value(0, 100);
  std::uniform_int_distribution<int> weight(1, 20);
  Samples weighted;
  Samples expanded;
  for (int i = 0; i < 300; ++i) {
    double v = std::round(value(rng) * 4) / 4;  // some ties across entries
    int w = weight(rng);
    weighted.add(v, static_cast<uint64_t>(w));
    for (int k = 0; k < w; ++k) expanded.add(v);
  }
  ASSERT_EQ(weighted.count(), expanded.count());
  EXPECT_NEAR(weighted.sum(), expanded.sum(), 1e-9);
  EXPECT_EQ(weighted.min(), expanded.min());
  EXPECT_EQ(weighted.max(), expanded.max());
  for (double p = 0; p <= 100; p += 0.25) {
    EXPECT_DOUBLE_EQ(weighted.percentile(p), expanded.percentile(p)) << "p" << p;
  }
}

TEST(Samples, AddingAfterAQueryResorts) {
  Samples samples = make_samples({5, 1});
  EXPECT_EQ(samples.percentile(50), 3);
  samples.add(0);
  EXPECT_EQ(samples.percentile(50), 1);
  EXPECT_EQ(samples.min(), 0);
  samples.add(100, 10);
  EXPECT_EQ(samples.percentile(100), 100);
  EXPECT_EQ(samples.percentile(50), 100);  // 10 of 13 entries are 100
}

TEST(Samples, Merge) {
  Samples a = make_samples({1, 3});
  Samples b;
  b.add(2);
  b.add(4, 2);
  a.merge(b);
  Samples expected = make_samples({1, 2, 3, 4, 4});
  EXPECT_EQ(a.count(), expected.count());
  EXPECT_EQ(a.sum(), expected.sum());
  for (double p : {0.0, 10.0, 33.0, 50.0, 66.6, 90.0, 100.0}) {
    EXPECT_DOUBLE_EQ(a.percentile(p), expected.percentile(p));
  }
  EXPECT_EQ(b.count(), 3u);  // the source is unchanged

  Samples empty;
  empty.merge(a);
  EXPECT_EQ(empty.count(), a.count());
  EXPECT_EQ(empty.percentile(50), a.percentile(50));
  a.merge(Samples());
  EXPECT_EQ(a.count(), 5u);
}

TEST(Samples, MergeWithItself) {
  Samples samples = make_samples({1, 2, 3});
  samples.merge(samples);
  EXPECT_EQ(samples.count(), 6u);
  EXPECT_EQ(samples.sum(), 12);
  EXPECT_NEAR(samples.percentile(50), 2, kTolerance);
}

TEST(Samples, Clear) {
  Samples samples = make_samples({1, 2, 3});
  samples.clear();
  EXPECT_TRUE(samples.empty());
  EXPECT_EQ(samples.sum(), 0);
  samples.add(9);
  EXPECT_EQ(samples.percentile(50), 9);
}

TEST(BucketHistogram, ValueOnABoundGoesInThatBucket) {
  BucketHistogram histogram({0.1, 1, 2.5});
  ASSERT_EQ(histogram.counts().size(), 4u);
  histogram.observe(0.1);
  histogram.observe(1);
  histogram.observe(2.5);
  EXPECT_EQ(histogram.counts(), (std::vector<uint64_t>{1, 1, 1, 0}));
  histogram.observe(std::nextafter(2.5, 3.0));
  histogram.observe(std::nextafter(0.1, 0.0));
  EXPECT_EQ(histogram.counts(), (std::vector<uint64_t>{2, 1, 1, 1}));
}

TEST(BucketHistogram, ExtremesCountsAndSum) {
  BucketHistogram histogram({0.1, 1, 2.5});
  histogram.observe(-5);
  histogram.observe(std::numeric_limits<double>::infinity());
  histogram.observe(0.5, 4);
  EXPECT_EQ(histogram.counts(), (std::vector<uint64_t>{1, 4, 0, 1}));
  EXPECT_EQ(histogram.count(), 6u);
  EXPECT_EQ(histogram.sum(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(histogram.upper_bounds(), (std::vector<double>{0.1, 1, 2.5}));
}

TEST(BucketHistogram, WeightsAndSum) {
  BucketHistogram histogram({1, 8, 16});
  histogram.observe(4, 3);
  histogram.observe(16);
  histogram.observe(20, 2);
  EXPECT_EQ(histogram.counts(), (std::vector<uint64_t>{0, 3, 1, 2}));
  EXPECT_EQ(histogram.count(), 6u);
  EXPECT_EQ(histogram.sum(), 4 * 3 + 16 + 20 * 2);
}

TEST(BucketHistogram, NoBounds) {
  BucketHistogram histogram({});
  histogram.observe(3);
  EXPECT_EQ(histogram.counts(), (std::vector<uint64_t>{1}));
  EXPECT_EQ(histogram.count(), 1u);
}

}  // namespace
}  // namespace kgai::stats
