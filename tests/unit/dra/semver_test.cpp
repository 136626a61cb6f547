#include "dra/semver.h"

#include <gtest/gtest.h>

namespace kgai::dra {
namespace {

Semver v(std::string_view text) {
  auto parsed = Semver::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.error().message;
  return parsed.value_or(Semver{});
}

TEST(SemverTest, ParsesAndPrints) {
  for (std::string_view text : {"1.2.3", "0.0.0", "1.2.3-rc.1", "1.2.3-rc.1+build.5",
                                "1.0.0+20130313144700", "1.0.0-x-y-z.--", "12.345.6789"}) {
    EXPECT_EQ(v(text).to_string(), text);
  }
  Semver parsed = v("1.2.3-alpha.7+exp.sha");
  EXPECT_EQ(parsed.major, 1u);
  EXPECT_EQ(parsed.minor, 2u);
  EXPECT_EQ(parsed.patch, 3u);
  EXPECT_EQ(parsed.prerelease, (std::vector<std::string>{"alpha", "7"}));
  EXPECT_EQ(parsed.build, "exp.sha");
}

TEST(SemverTest, PrecedenceFollowsTheSpec) {
  // Semver 2.0.0, section 11's example chain.
  std::vector<std::string_view> ordered = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                           "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                           "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                           "1.1.0",       "2.0.0",         "10.0.0"};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    EXPECT_EQ(v(ordered[i]).compare(v(ordered[i + 1])), -1)
        << ordered[i] << " < " << ordered[i + 1];
    EXPECT_EQ(v(ordered[i + 1]).compare(v(ordered[i])), 1);
  }
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0+b"));
  EXPECT_EQ(v("1.0.0-99999999999999999999999").compare(v("1.0.0-100000000000000000000000")), -1);
}

TEST(SemverTest, RejectsBadInput) {
  for (std::string_view bad :
       {"", "1.2", "01.2.3", "1.02.3", "1.2.3-", "v1.2.3", "1.2.3+", "1.2.3-01", "1.2.3-a..b",
        "1.2.3.4", "1..3", "1.2.3-a_b", "18446744073709551616.0.0", " 1.2.3", "1.2.-3"}) {
    auto parsed = Semver::parse(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_NE(parsed.error().message.find("invalid semantic version"), std::string::npos);
  }
}

}  // namespace
}  // namespace kgai::dra
