#include "sim/kv_cache.h"

#include <algorithm>
#include <cassert>

namespace kgai::sim {

// The free queue starts as every block in id order. Blocks never handed out stay implicit
// (ids fresh_ and up, ahead of every block freed later): a cache of millions of blocks costs
// nothing until they are used, which matters when the planner builds an engine per run.
KvCache::KvCache(int64_t num_blocks, int block_size, bool prefix_caching)
    : num_blocks_(std::max<int64_t>(0, num_blocks)),
      block_size_(block_size),
      prefix_caching_(prefix_caching),
      free_count_(num_blocks_) {}

void KvCache::push_free_tail(BlockId id) {
  Block& b = blocks_[id];
  b.prev = free_tail_;
  b.next = -1;
  if (free_tail_ >= 0) {
    blocks_[free_tail_].next = id;
  } else {
    free_head_ = id;
  }
  free_tail_ = id;
  ++free_count_;
}

void KvCache::unlink_free(BlockId id) {
  Block& b = blocks_[id];
  if (b.prev >= 0) {
    blocks_[b.prev].next = b.next;
  } else {
    free_head_ = b.next;
  }
  if (b.next >= 0) {
    blocks_[b.next].prev = b.prev;
  } else {
    free_tail_ = b.prev;
  }
  b.prev = b.next = -1;
  --free_count_;
}

BlockId KvCache::pop_free_head() {
  if (fresh_ < num_blocks_) {
    --free_count_;
    blocks_.emplace_back();
    return static_cast<BlockId>(fresh_++);
  }
  BlockId id = free_head_;
  assert(id >= 0);
  unlink_free(id);
  Block& b = blocks_[id];
  if (b.hashed) {
    auto it = cached_.find(b.hash);
    if (it != cached_.end() && it->second == id) cached_.erase(it);
    b.hashed = false;
    ++evictions_;
  }
  return id;
}

void KvCache::find_cached_prefix(std::span<const uint64_t> hashes, size_t max_blocks,
                                 std::vector<BlockId>& hits) const {
  if (!prefix_caching_) return;
  size_t limit = std::min(hashes.size(), max_blocks);
  for (size_t i = 0; i < limit; ++i) {
    auto it = cached_.find(hashes[i]);
    if (it == cached_.end()) break;
    hits.push_back(it->second);
  }
}

bool KvCache::allocate(std::vector<BlockId>& owned, std::span<const BlockId> hits,
                       size_t total_blocks) {
  size_t have = owned.size() + hits.size();
  size_t fresh = total_blocks > have ? total_blocks - have : 0;
  // Hit blocks nobody references are in the free queue: taking them uses up free blocks too.
  int64_t hits_in_free_queue = 0;
  for (BlockId id : hits) hits_in_free_queue += blocks_[id].ref_count == 0;
  if (static_cast<int64_t>(fresh) + hits_in_free_queue > free_count_) return false;

  for (BlockId id : hits) {
    Block& b = blocks_[id];
    if (b.ref_count++ == 0) unlink_free(id);
    owned.push_back(id);
  }
  for (size_t i = 0; i < fresh; ++i) {
    BlockId id = pop_free_head();  // may grow blocks_: no reference held across it
    blocks_[id].ref_count = 1;
    owned.push_back(id);
  }
  return true;
}

void KvCache::register_full_block(BlockId id, uint64_t hash) {
  if (!prefix_caching_) return;
  Block& b = blocks_[id];
  if (b.hashed) return;
  auto [it, inserted] = cached_.try_emplace(hash, id);
  if (!inserted) return;
  b.hash = hash;
  b.hashed = true;
}

void KvCache::release(std::vector<BlockId>& owned) {
  for (auto it = owned.rbegin(); it != owned.rend(); ++it) {
    Block& b = blocks_[*it];
    assert(b.ref_count > 0);
    if (--b.ref_count == 0) push_free_tail(*it);
  }
  owned.clear();
}

void KvCache::clear_cache() {
  cached_.clear();
  for (auto& b : blocks_) b.hashed = false;
}

}  // namespace kgai::sim
