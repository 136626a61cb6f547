#include "sim/kv_cache.h"

#include <gtest/gtest.h>

namespace kgai::sim {
namespace {

TEST(KvCache, AllocatesAndReleasesBlocks) {
  KvCache kv(10, 16, true);
  std::vector<BlockId> owned;
  EXPECT_TRUE(kv.allocate(owned, {}, 4));
  EXPECT_EQ(owned.size(), 4u);
  EXPECT_EQ(kv.num_free(), 6);
  EXPECT_DOUBLE_EQ(kv.usage(), 0.4);
  // Growing to 6 takes two more.
  EXPECT_TRUE(kv.allocate(owned, {}, 6));
  EXPECT_EQ(owned.size(), 6u);
  kv.release(owned);
  EXPECT_TRUE(owned.empty());
  EXPECT_EQ(kv.num_free(), 10);
  EXPECT_DOUBLE_EQ(kv.usage(), 0.0);
}

TEST(KvCache, AllocationIsAllOrNothing) {
  KvCache kv(4, 16, true);
  std::vector<BlockId> a, b;
  ASSERT_TRUE(kv.allocate(a, {}, 3));
  EXPECT_FALSE(kv.allocate(b, {}, 2));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(kv.num_free(), 1);
}

TEST(KvCache, SharesRegisteredBlocksByHash) {
  KvCache kv(8, 16, true);
  std::vector<BlockId> a;
  ASSERT_TRUE(kv.allocate(a, {}, 3));
  const uint64_t hashes[] = {11, 22, 33};
  for (int i = 0; i < 3; ++i) kv.register_full_block(a[i], hashes[i]);

  std::vector<BlockId> hits;
  kv.find_cached_prefix(hashes, 3, hits);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits, a);
  // A different second block stops the prefix.
  const uint64_t other[] = {11, 99, 33};
  hits.clear();
  kv.find_cached_prefix(other, 3, hits);
  EXPECT_EQ(hits.size(), 1u);
  // max_blocks limits the hit.
  hits.clear();
  kv.find_cached_prefix(hashes, 2, hits);
  EXPECT_EQ(hits.size(), 2u);

  // Sharing takes references, not new blocks.
  std::vector<BlockId> b;
  ASSERT_TRUE(kv.allocate(b, hits, 3));
  EXPECT_EQ(kv.num_free(), 8 - 3 - 1);
  kv.release(a);
  kv.release(b);
  EXPECT_EQ(kv.num_free(), 8);
}

TEST(KvCache, FreedCachedBlocksStayFindableUntilEvicted) {
  KvCache kv(4, 16, true);
  std::vector<BlockId> a;
  ASSERT_TRUE(kv.allocate(a, {}, 2));
  const uint64_t hashes[] = {1, 2};
  kv.register_full_block(a[0], 1);
  kv.register_full_block(a[1], 2);
  kv.release(a);
  std::vector<BlockId> hits;
  kv.find_cached_prefix(hashes, 2, hits);
  EXPECT_EQ(hits.size(), 2u);

  // Taking a free cached block as a hit counts against the free blocks.
  std::vector<BlockId> b;
  EXPECT_TRUE(kv.allocate(b, hits, 4));
  EXPECT_EQ(kv.num_free(), 0);
  std::vector<BlockId> c;
  EXPECT_FALSE(kv.allocate(c, {}, 1));
  kv.release(b);
}

TEST(KvCache, EvictsTheTailOfAFinishedRequestFirst) {
  KvCache kv(4, 16, true);
  std::vector<BlockId> a;
  ASSERT_TRUE(kv.allocate(a, {}, 3));
  const uint64_t hashes[] = {7, 8, 9};
  for (int i = 0; i < 3; ++i) kv.register_full_block(a[i], hashes[i]);
  kv.release(a);
  // Free queue: the never-used block, then 9, 8, 7 (reverse order). Two allocations take the
  // unused block and then block "9": the shared prefix 7, 8 survives.
  std::vector<BlockId> b;
  ASSERT_TRUE(kv.allocate(b, {}, 2));
  std::vector<BlockId> hits;
  kv.find_cached_prefix(hashes, 3, hits);
  EXPECT_EQ(hits.size(), 2u);
  EXPECT_EQ(kv.evictions(), 1u);
}

TEST(KvCache, WithoutPrefixCachingNothingIsShared) {
  KvCache kv(4, 16, false);
  std::vector<BlockId> a;
  ASSERT_TRUE(kv.allocate(a, {}, 1));
  kv.register_full_block(a[0], 5);
  const uint64_t hashes[] = {5};
  std::vector<BlockId> hits;
  kv.find_cached_prefix(hashes, 1, hits);
  EXPECT_TRUE(hits.empty());
}

TEST(KvCache, ClearCacheForgetsHashes) {
  KvCache kv(4, 16, true);
  std::vector<BlockId> a;
  ASSERT_TRUE(kv.allocate(a, {}, 1));
  kv.register_full_block(a[0], 5);
  kv.clear_cache();
  const uint64_t hashes[] = {5};
  std::vector<BlockId> hits;
  kv.find_cached_prefix(hashes, 1, hits);
  EXPECT_TRUE(hits.empty());
}

}  // namespace
}  // namespace kgai::sim
