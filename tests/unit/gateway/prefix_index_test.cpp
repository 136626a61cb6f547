#include "gateway/prefix_index.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// `blocks` distinct 64-character blocks, the i-th made of `tag` and i.
std::string text_of(char tag, int blocks, int first = 0) {
  std::string text;
  for (int i = first; i < first + blocks; ++i) {
    std::string block = fmt::format("{}{:04d}", tag, i);
    block.resize(64, '.');
    text += block;
  }
  return text;
}

std::vector<std::pair<uint32_t, uint32_t>> match(const PrefixIndex& index,
                                                 std::span<const uint64_t> hashes) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  index.match(hashes, &out);
  return out;
}

TEST(PrefixIndexHash, SameTextSameHashes) {
  PrefixIndex index;
  const std::string text = text_of('a', 5);
  EXPECT_EQ(index.hash_blocks("m", text), index.hash_blocks("m", text));
  EXPECT_EQ(index.hash_blocks("m", text).size(), 5u);
  std::vector<uint64_t> reused = {1, 2, 3, 4, 5, 6, 7};
  index.hash_blocks("m", text, &reused);
  EXPECT_EQ(reused, index.hash_blocks("m", text));
}

TEST(PrefixIndexHash, ModelChangesAllHashes) {
  PrefixIndex index;
  const std::string text = text_of('a', 8);
  const auto a = index.hash_blocks("model-a", text);
  const auto b = index.hash_blocks("model-b", text);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NE(a[i], b[i]) << i;
}

TEST(PrefixIndexHash, PartialLastBlockIgnored) {
  PrefixIndex index;
  const std::string text = text_of('a', 3);
  EXPECT_EQ(index.hash_blocks("m", text + "tail"), index.hash_blocks("m", text));
  EXPECT_THAT(index.hash_blocks("m", text.substr(0, 63)), IsEmpty());
  EXPECT_THAT(index.hash_blocks("m", ""), IsEmpty());
  EXPECT_EQ(index.hash_blocks("m", text.substr(0, 64 * 2 + 63)).size(), 2u);
}

TEST(PrefixIndexHash, MaxBlocksCapAndBlockSize) {
  PrefixIndex index({.block_chars = 64, .max_blocks = 4});
  const auto hashes = index.hash_blocks("m", text_of('a', 10));
  EXPECT_EQ(hashes.size(), 4u);
  PrefixIndex full;
  const auto all = full.hash_blocks("m", text_of('a', 10));
  EXPECT_TRUE(std::equal(hashes.begin(), hashes.end(), all.begin()));
  EXPECT_EQ(PrefixIndex().hash_blocks("m", std::string(300 * 64, 'x')).size(), 256u);
  EXPECT_EQ(PrefixIndex({.block_chars = 16}).hash_blocks("m", std::string(64, 'x')).size(), 4u);
}

TEST(PrefixIndexHash, ChainingSameBlockDifferentPositions) {
  PrefixIndex index;
  // The same 64 characters repeated: each position hashes differently.
  const auto hashes = index.hash_blocks("m", std::string(64 * 4, 'z'));
  ASSERT_EQ(hashes.size(), 4u);
  std::vector<uint64_t> sorted = hashes;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  // A block after a different predecessor hashes differently too.
  const auto x = index.hash_blocks("m", text_of('a', 1) + text_of('c', 1));
  const auto y = index.hash_blocks("m", text_of('b', 1) + text_of('c', 1));
  EXPECT_NE(x[1], y[1]);
}

TEST(PrefixIndex, MatchesLongestPrefixPerEndpoint) {
  PrefixIndex index;
  const auto hashes = index.hash_blocks("m", text_of('a', 10));
  EXPECT_THAT(match(index, hashes), IsEmpty());
  index.record(1, std::span(hashes).first(10));
  index.record(2, std::span(hashes).first(3));
  index.record(3, std::span(hashes).first(3));
  index.record(4, std::span(hashes).first(1));
  index.record(5, index.hash_blocks("other", text_of('a', 10)));  // another model
  EXPECT_THAT(match(index, hashes),
              UnorderedElementsAre(Pair(1, 10), Pair(2, 3), Pair(3, 3), Pair(4, 1)));
  EXPECT_EQ(match(index, hashes).front(), std::pair(1u, 10u));  // deepest first
  // A request shorter than what is held.
  EXPECT_THAT(match(index, std::span(hashes).first(2)),
              UnorderedElementsAre(Pair(1, 2), Pair(2, 2), Pair(3, 2), Pair(4, 1)));
  EXPECT_THAT(match(index, std::span<const uint64_t>()), IsEmpty());
  // Appends.
  std::vector<std::pair<uint32_t, uint32_t>> out = {{99, 99}};
  index.match(std::span(hashes).first(1), &out);
  EXPECT_EQ(out.size(), 5u);
}

TEST(PrefixIndex, DivergenceMidway) {
  PrefixIndex index;
  const std::string shared = text_of('s', 4);
  const auto a = index.hash_blocks("m", shared + text_of('a', 4));
  const auto b = index.hash_blocks("m", shared + text_of('b', 4));
  index.record(7, a);
  EXPECT_THAT(match(index, b), ElementsAre(Pair(7, 4)));
  index.record(8, b);
  EXPECT_THAT(match(index, a), UnorderedElementsAre(Pair(7, 8), Pair(8, 4)));
  EXPECT_THAT(match(index, b), UnorderedElementsAre(Pair(7, 4), Pair(8, 8)));
  // A different first block matches nothing even if later text is the same.
  EXPECT_THAT(match(index, index.hash_blocks("m", text_of('q', 1) + shared)), IsEmpty());
}

TEST(PrefixIndex, LruEvictsLeastRecentlyUsedChainsDeepestFirst) {
  PrefixIndex index({.default_capacity = 6});
  const auto a = index.hash_blocks("m", text_of('a', 4));
  const auto b = index.hash_blocks("m", text_of('b', 4));
  index.record(0, a);
  EXPECT_EQ(index.blocks(0), 4u);
  index.record(0, std::span(b).first(2));
  EXPECT_EQ(index.blocks(0), 6u);
  // Two more blocks of b evict a's two deepest blocks, not its first.
  index.record(0, b);
  EXPECT_EQ(index.blocks(0), 6u);
  EXPECT_THAT(match(index, a), ElementsAre(Pair(0, 2)));
  EXPECT_THAT(match(index, b), ElementsAre(Pair(0, 4)));
  // Using a again makes it the most recent: b's tail goes next.
  index.record(0, std::span(a).first(2));
  const auto c = index.hash_blocks("m", text_of('c', 2));
  index.record(0, c);
  EXPECT_THAT(match(index, a), ElementsAre(Pair(0, 2)));
  EXPECT_THAT(match(index, b), ElementsAre(Pair(0, 2)));
  EXPECT_THAT(match(index, c), ElementsAre(Pair(0, 2)));
  EXPECT_EQ(index.blocks(0), 6u);
}

TEST(PrefixIndex, ChainLongerThanCapacityKeepsItsHead) {
  PrefixIndex index({.default_capacity = 5});
  const auto a = index.hash_blocks("m", text_of('a', 20));
  index.record(3, a);
  EXPECT_EQ(index.blocks(3), 5u);
  EXPECT_THAT(match(index, a), ElementsAre(Pair(3, 5)));
}

TEST(PrefixIndex, SetCapacityShrinksAndGrows) {
  PrefixIndex index({.default_capacity = 100});
  const auto a = index.hash_blocks("m", text_of('a', 10));
  index.record(1, a);
  index.record(2, a);
  index.set_capacity(1, 4);
  EXPECT_EQ(index.blocks(1), 4u);
  EXPECT_THAT(match(index, a), UnorderedElementsAre(Pair(1, 4), Pair(2, 10)));
  index.set_capacity(1, 0);
  EXPECT_EQ(index.blocks(1), 0u);
  index.record(1, a);  // capacity 0 holds nothing
  EXPECT_THAT(match(index, a), ElementsAre(Pair(2, 10)));
  index.set_capacity(1, 50);
  index.record(1, a);
  EXPECT_THAT(match(index, a), UnorderedElementsAre(Pair(1, 10), Pair(2, 10)));
  // Set before the endpoint was ever seen.
  index.set_capacity(9, 3);
  index.record(9, a);
  EXPECT_EQ(index.blocks(9), 3u);
}

TEST(PrefixIndex, RemoveEndpoint) {
  PrefixIndex index({.default_capacity = 8});
  const auto a = index.hash_blocks("m", text_of('a', 6));
  index.record(1, a);
  index.set_capacity(2, 3);
  index.record(2, a);
  index.remove_endpoint(2);
  index.remove_endpoint(77);  // unknown: nothing
  EXPECT_EQ(index.blocks(2), 0u);
  EXPECT_THAT(match(index, a), ElementsAre(Pair(1, 6)));
  index.remove_endpoint(1);
  EXPECT_THAT(match(index, a), IsEmpty());
  // Back with the default capacity.
  index.record(2, a);
  EXPECT_EQ(index.blocks(2), 6u);
}

// Against a slow model: per endpoint, an LRU list of hashes.
TEST(PrefixIndex, AgreesWithAReferenceModel) {
  constexpr size_t kCapacity = 40;
  PrefixIndex index({.default_capacity = kCapacity});
  std::map<uint32_t, std::vector<uint64_t>> lru;  // most recent first
  std::mt19937 rng(7);
  std::vector<std::vector<uint64_t>> chains;
  for (int c = 0; c < 12; ++c) {
    // Chains share prefixes: chain c extends a shorter random prefix of a random earlier one.
    std::string text = c == 0 ? "" : text_of('s', static_cast<int>(rng() % 6));
    text += text_of(static_cast<char>('a' + c), 1 + static_cast<int>(rng() % 20));
    chains.push_back(index.hash_blocks("m", text));
  }
  for (int step = 0; step < 3000; ++step) {
    const uint32_t endpoint = rng() % 6;
    const auto& chain = chains[rng() % chains.size()];
    const size_t length = 1 + rng() % chain.size();
    const auto hashes = std::span(chain).first(length);
    if (rng() % 3 == 0) {
      index.record(endpoint, hashes);
      auto& list = lru[endpoint];
      for (size_t i = std::min(length, kCapacity); i-- > 0;) {
        std::erase(list, hashes[i]);
        list.insert(list.begin(), hashes[i]);
      }
      if (list.size() > kCapacity) list.resize(kCapacity);
      ASSERT_EQ(index.blocks(endpoint), list.size());
    } else {
      std::map<uint32_t, uint32_t> want;
      for (const auto& [e, list] : lru) {
        uint32_t n = 0;
        while (n < hashes.size() && std::find(list.begin(), list.end(), hashes[n]) != list.end()) {
          ++n;
        }
        if (n > 0) want[e] = n;
      }
      const auto got = match(index, hashes);
      const std::map<uint32_t, uint32_t> got_map(got.begin(), got.end());
      ASSERT_EQ(got_map, want) << step;
      ASSERT_EQ(got.size(), want.size());
    }
  }
}

// Far more blocks than the capacities, each chain on `holders` endpoints (1: no holder
// lists; 2: the most list overhead per entry; 16: long lists).
void check_memory_bound(uint32_t holders) {
  constexpr size_t kCapacity = 1000;
  constexpr uint32_t kEndpoints = 64;
  PrefixIndex index({.default_capacity = kCapacity});
  std::vector<uint64_t> hashes;
  for (int round = 0; round < 200 * static_cast<int>(kEndpoints / holders); ++round) {
    index.hash_blocks(fmt::format("m{}", round), text_of('a', 16), &hashes);
    for (uint32_t e = 0; e < kEndpoints; ++e) {
      if ((round + e) % (kEndpoints / holders) == 0) index.record(e, hashes);
    }
  }
  for (uint32_t e = 0; e < kEndpoints; ++e) EXPECT_EQ(index.blocks(e), kCapacity);
  const size_t bound = PrefixIndex::kMaxBytesPerEntry * kCapacity * kEndpoints + 64 * 1024;
  EXPECT_LE(index.memory_bytes(), bound) << holders;
  // And steady: more churn of the same shape does not grow it past the bound.
  for (int round = 0; round < 400; ++round) {
    index.hash_blocks(fmt::format("n{}", round), text_of('a', 16), &hashes);
    for (uint32_t e = 0; e < kEndpoints; ++e) {
      if ((round + e) % (kEndpoints / holders) == 0) index.record(e, hashes);
    }
  }
  EXPECT_LE(index.memory_bytes(), bound) << holders;
  // Removing every endpoint frees the holder lists' buffers.
  for (uint32_t e = 0; e < kEndpoints; ++e) index.remove_endpoint(e);
  EXPECT_LE(index.memory_bytes(), bound) << holders;
}

TEST(PrefixIndex, MemoryStaysBounded) {
  for (uint32_t holders : {1, 2, 16}) check_memory_bound(holders);
}

TEST(PrefixIndex, ConcurrentMatchAndRecord) {
  PrefixIndex index({.default_capacity = 200});
  const std::string system = text_of('s', 8);
  std::vector<std::vector<uint64_t>> chains;
  for (int c = 0; c < 64; ++c) {
    chains.push_back(index.hash_blocks("m", system + text_of(static_cast<char>('A' + c), 24)));
  }
  std::atomic<bool> bad = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<uint32_t, uint32_t>> out;
      for (int i = 0; i < 20000; ++i) {
        const auto& chain = chains[rng() % chains.size()];
        out.clear();
        index.match(chain, &out);
        for (const auto& [e, n] : out) {
          if (e >= 16 || n == 0 || n > chain.size()) bad = true;
        }
        const uint32_t endpoint = rng() % 16;
        if (i % 3 == 0) index.record(endpoint, chain);
        if (i % 997 == 0) index.set_capacity(endpoint, 50 + rng() % 200);
        if (i % 4999 == 0) index.remove_endpoint(endpoint);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(bad);
  size_t total = 0;
  for (uint32_t e = 0; e < 16; ++e) total += index.blocks(e);
  EXPECT_GT(total, 0u);
}

}  // namespace
}  // namespace kgai::gateway
