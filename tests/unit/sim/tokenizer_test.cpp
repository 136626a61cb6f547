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

TEST(PromptText, PlaceholdersCountAndHashAsTheirWrittenOutBytes) {
  // Text and placeholders of awkward lengths, so blocks start and end inside both.
  PromptText prompt;
  std::string written;
  for (int i = 0; i < 7; ++i) {
    const std::string text(static_cast<size_t>(13 * i + 3), static_cast<char>('a' + i));
    prompt.append(text);
    written += text;
    const size_t run = static_cast<size_t>(100 * i + 37 + (i == 3 ? 9000 : 0));
    prompt.append_placeholder(run);
    written.append(run, PromptText::kPlaceholderByte);
  }
  prompt.append("tail");
  written += "tail";
  EXPECT_EQ(prompt.size(), written.size());
  EXPECT_EQ(prompt.materialize(), written);
  EXPECT_EQ(prompt.stored_text().find(PromptText::kPlaceholderByte), std::string::npos);
  for (int block_size : {1, 3, 16, 64}) {
    auto a = tokenize(prompt, block_size, 5);
    auto b = tokenize(written, block_size, 5);
    EXPECT_EQ(a.num_tokens, b.num_tokens) << block_size;
    EXPECT_EQ(a.block_hashes, b.block_hashes) << block_size;
  }
}

TEST(PromptText, StoresOnlyItsText) {
  PromptText prompt;
  for (int i = 0; i < 100000; ++i) prompt.append_placeholder(2304);
  EXPECT_EQ(prompt.size(), 100000u * 2304);
  EXPECT_TRUE(prompt.stored_text().empty());
  EXPECT_EQ(tokens_for_bytes(prompt.size()), 100000 * 576);
  PromptText empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(tokenize(empty, 16).num_tokens, 1);
  EXPECT_TRUE(tokenize(empty, 16).block_hashes.empty());
  prompt.clear();
  EXPECT_TRUE(prompt.empty());
}

}  // namespace
}  // namespace kgai::sim
