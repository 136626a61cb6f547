#include "dra/quantity.h"

#include <gtest/gtest.h>

namespace kgai::dra {
namespace {

Quantity q(std::string_view text) {
  auto parsed = Quantity::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.error().message;
  return parsed.value_or(Quantity{});
}

TEST(QuantityTest, ParsesAndPrintsCanonically) {
  struct Case {
    std::string_view text, canonical;
  };
  for (auto [text, canonical] : std::initializer_list<Case>{{"80Gi", "80Gi"},
                                                            {"500m", "500m"},
                                                            {"1.5", "1500m"},
                                                            {"2e3", "2e3"},
                                                            {"1k", "1k"},
                                                            {"-1", "-1"},
                                                            {"0.5Gi", "512Mi"},
                                                            {"1000m", "1"},
                                                            {"1024Mi", "1Gi"},
                                                            {"1025", "1025"},
                                                            {"2000", "2k"},
                                                            {"0", "0"},
                                                            {"+5", "5"},
                                                            {".5", "500m"},
                                                            {"1E", "1E"},
                                                            {"1E3", "1e3"},
                                                            {"100Ei", "100Ei"},
                                                            {"0.1n", "1n"},
                                                            {"512", "512"}}) {
    EXPECT_EQ(q(text).to_string(), canonical) << text;
  }
}

TEST(QuantityTest, ExactValues) {
  EXPECT_EQ(q("0.5Gi").as_integer().value(), 536870912);
  EXPECT_EQ(q("1Ki"), q("1024"));
  EXPECT_EQ(q("1000m"), q("1"));
  EXPECT_EQ(q("2e3").as_integer().value(), 2000);
  EXPECT_EQ(q("1k"), Quantity::from_int(1000));
  EXPECT_LT(q("999m"), q("1"));
  EXPECT_EQ(q("80Gi").compare(q("79Gi")), 1);
  EXPECT_EQ(q("-1").sign(), -1);
  EXPECT_EQ(q("0").sign(), 0);
  EXPECT_TRUE(q("1k").is_integer());
  EXPECT_FALSE(q("1.5").is_integer());
  EXPECT_DOUBLE_EQ(q("1.5").as_approximate_float(), 1.5);
  EXPECT_EQ(q("1.5").add(q("500m"))->to_string(), "2");
  EXPECT_EQ(q("1Gi").sub(q("512Mi"))->to_string(), "512Mi");
}

TEST(QuantityTest, RejectsBadText) {
  for (std::string_view bad : {"", "Gi", "1.2.3", "1 Gi", "1GB", "-", ".", "1e", "1Kii", "--1",
                               "1e+", "0x10", " 1", "1 "}) {
    auto parsed = Quantity::parse(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_NE(parsed.error().message.find("quantities must match"), std::string::npos)
        << parsed.error().message;
  }
}

TEST(QuantityTest, RejectsOverflow) {
  auto parsed = Quantity::parse("99999999999999999999999999999Ei");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.error().message.find("out of the representable range"), std::string::npos);
  EXPECT_FALSE(Quantity::parse("1e9999").has_value());
  Quantity big = q("100000000000000000000000000000");  // 1e29, near the top of the range
  auto sum = big.add(big);
  ASSERT_FALSE(sum.has_value());
  EXPECT_NE(sum.error().message.find("overflow"), std::string::npos);
  EXPECT_FALSE(big.sub(q("-1e29")).has_value());
  EXPECT_FALSE(q("100Ei").as_integer().has_value());
  EXPECT_FALSE(q("1.5").as_integer().has_value());
}

}  // namespace
}  // namespace kgai::dra
