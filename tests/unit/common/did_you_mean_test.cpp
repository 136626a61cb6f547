#include "common/did_you_mean.h"

#include <gtest/gtest.h>

namespace kgai {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("stages", "stages"), 0u);
  EXPECT_EQ(edit_distance("stagez", "stages"), 1u);
  EXPECT_EQ(edit_distance("stage", "stages"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(DidYouMean, SuggestsTheClosestKnownNameWithinTheLimit) {
  const std::string_view known[] = {"stages", "sweep", "interval"};
  EXPECT_EQ(did_you_mean("stagez", known, 2), "; did you mean 'stages'?");
  EXPECT_EQ(did_you_mean("swep", known, 2), "; did you mean 'sweep'?");
  EXPECT_EQ(did_you_mean("zzzzzzzz", known, 2), "");
  EXPECT_EQ(did_you_mean("stagez", {}, 2), "");
}

}  // namespace
}  // namespace kgai
