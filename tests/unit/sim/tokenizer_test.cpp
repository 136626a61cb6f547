#include "sim/tokenizer.h"

#include <string>

#include <gtest/gtest.h>

namespace kgai::sim {
namespace {

TEST(Tokenizer, CountsFourBytesPerToken) {
  EXPECT_EQ(count_tokens(""), 1);
  EXPECT_EQ(count_tokens("a"), 1);
  EXPECT_EQ(count_tokens("abcd"), 1);
  EXPECT_EQ(count_tokens("abcde"), 2);
  EXPECT_EQ(count_tokens(std::string(400, 'x')), 100);
}

TEST(Tokenizer, HashesOnlyFullBlocks) {
  const std::string text(16 * 4 * 3 + 10, 'x');  // three full blocks of 16 tokens and a bit
  auto t = tokenize(text, 16);
  EXPECT_EQ(t.num_tokens, 16 * 3 + 3);
  EXPECT_EQ(t.block_hashes.size(), 3u);
}

TEST(Tokenizer, EqualPrefixesGiveEqualBlocks) {
  std::string system(64 * 2, 's');  // two blocks
  auto a = tokenize(system + std::string(100, 'a'), 16);
  auto b = tokenize(system + std::string(100, 'b'), 16);
  ASSERT_GE(a.block_hashes.size(), 3u);
  ASSERT_GE(b.block_hashes.size(), 3u);
  EXPECT_EQ(a.block_hashes[0], b.block_hashes[0]);
  EXPECT_EQ(a.block_hashes[1], b.block_hashes[1]);
  EXPECT_NE(a.block_hashes[2], b.block_hashes[2]);
}

TEST(Tokenizer, HashesAreChained) {
  // The same block content after a different prefix must hash differently.
  std::string block(64, 'z');
  auto a = tokenize(std::string(64, 'a') + block, 16);
  auto b = tokenize(std::string(64, 'b') + block, 16);
  EXPECT_NE(a.block_hashes[1], b.block_hashes[1]);
}

TEST(Tokenizer, SaltSeparatesCaches) {
  std::string text(256, 'q');
  EXPECT_NE(tokenize(text, 16, 0).block_hashes[0], tokenize(text, 16, 1).block_hashes[0]);
  EXPECT_EQ(tokenize(text, 16, 3).block_hashes, tokenize(text, 16, 3).block_hashes);
}

}  // namespace
}  // namespace kgai::sim
