#include "quickstart/use_cases.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::quickstart {
namespace {

using ::testing::HasSubstr;

TEST(UseCases, GiqTableAsData) {
  ASSERT_EQ(use_cases().size(), 7u);
  auto chat = find_use_case("Chatbot (ShareGPT)");
  ASSERT_TRUE(chat);
  EXPECT_EQ((*chat)->input_tokens, 128);
  EXPECT_EQ((*chat)->output_tokens, 128);
  auto support = find_use_case("advanced-customer-support");
  ASSERT_TRUE(support);
  EXPECT_EQ((*support)->input_tokens, 8912);
  EXPECT_EQ((*support)->output_tokens, 256);
  auto multi = find_use_case("Multi Agent Large Document Summarization");
  ASSERT_TRUE(multi);
  EXPECT_EQ((*multi)->input_tokens, 7936);
  EXPECT_EQ((*multi)->output_tokens, 64);
}

TEST(UseCases, NamesIgnoreCase) {
  auto research = find_use_case("DEEP RESEARCH");
  ASSERT_TRUE(research);
  EXPECT_EQ((*research)->output_tokens, 4096);
  auto code = find_use_case("Code-Completion");
  ASSERT_TRUE(code);
  EXPECT_EQ((*code)->input_tokens, 512);
  EXPECT_EQ((*code)->output_tokens, 32);
}

TEST(UseCases, UnknownNameSuggestsAndListsTheKnown) {
  auto typo = find_use_case("Chatbt");
  ASSERT_FALSE(typo);
  EXPECT_THAT(typo.error().message, HasSubstr("unknown use case 'Chatbt'"));
  EXPECT_THAT(typo.error().message, HasSubstr("did you mean 'chatbot'"));
  EXPECT_THAT(typo.error().message, HasSubstr("text-generation"));
  EXPECT_FALSE(find_use_case(""));
}

}  // namespace
}  // namespace kgai::quickstart
