// Paged KV cache with automatic prefix caching, after vLLM V1's block pool:
// - a fixed number of blocks of `block_size` tokens;
// - full prompt blocks are registered under their chained hash and can be shared;
// - blocks nobody references sit in a free queue (LRU): allocation takes the head and
//   evicts the hash it carried; a finished request's blocks are appended in reverse order
//   so its tail is evicted first and its shared prefix survives longest.
// Request ownership of blocks is kept by the caller (a vector of block ids per request).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace kgai::sim {

using BlockId = int32_t;

class KvCache {
 public:
  KvCache(int64_t num_blocks, int block_size, bool prefix_caching);

  int block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t num_free() const { return free_count_; }
  // Share of blocks in use, as vLLM's kv_cache_usage_perc: 1 - free / total, where free
  // blocks include cached blocks nobody references (they can be evicted at any time).
  double usage() const {
    return num_blocks_ == 0
               ? 0.0
               : 1.0 - static_cast<double>(free_count_) / static_cast<double>(num_blocks_);
  }

  // Longest run of leading `hashes` present in the cache, at most `max_blocks`. Appends the
  // hit blocks to `hits` without taking references (call allocate() to take them).
  void find_cached_prefix(std::span<const uint64_t> hashes, size_t max_blocks,
                          std::vector<BlockId>& hits) const;

  // Gives `owned` the `hits` (taking a reference on each) and then enough fresh blocks to
  // reach `total_blocks` blocks. All or nothing: returns false, changing nothing, when
  // there are not enough free blocks.
  bool allocate(std::vector<BlockId>& owned, std::span<const BlockId> hits, size_t total_blocks);

  // Registers block `id` (full, computed) under `hash` so later requests can share it. A
  // hash already cached by another block keeps that block.
  void register_full_block(BlockId id, uint64_t hash);

  // Drops one reference from each block of `owned` (in reverse order) and clears it.
  void release(std::vector<BlockId>& owned);

  // Forgets every cached hash (vLLM's reset_prefix_cache); blocks in use are kept.
  void clear_cache();

  uint64_t evictions() const { return evictions_; }

 private:
  struct Block {
    uint64_t hash = 0;
    int32_t ref_count = 0;
    BlockId prev = -1;  // free-queue links
    BlockId next = -1;
    bool hashed = false;
  };

  void push_free_tail(BlockId id);
  void unlink_free(BlockId id);
  BlockId pop_free_head();

  int64_t num_blocks_;
  int64_t fresh_ = 0;          // blocks [0, fresh_) have been handed out at least once
  std::vector<Block> blocks_;  // of those blocks
  int block_size_;
  bool prefix_caching_;
  BlockId free_head_ = -1;
  BlockId free_tail_ = -1;
  int64_t free_count_ = 0;
  std::unordered_map<uint64_t, BlockId> cached_;
  uint64_t evictions_ = 0;
};

}  // namespace kgai::sim
