// The approximate prefix-cache index (as GIE/llm-d's approximate prefix scorer): which model
// servers probably still hold the KV cache of a request's leading text. The text is cut into
// fixed-size character blocks whose hashes are chained, so a block's hash stands for the whole
// prefix that ends with it; each endpoint keeps an LRU of the block hashes it was sent, sized
// like its KV cache. Nothing is learned from the servers: the index only remembers the
// gateway's own routing decisions, hence "approximate".
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/probe_table.h"

namespace kgai::gateway {

struct PrefixIndexOptions {
  size_t block_chars = 64;  // 16 tokens x 4 characters
  size_t max_blocks = 256;  // per request: longer texts are hashed only this far
  // Blocks remembered per endpoint unless set_capacity says otherwise: an H100's
  // (80 - 16) GB / 128 KiB per token / 16 tokens per block.
  size_t default_capacity = 31'250;
};

// Thread-safe (one mutex: a match or record holds it for a few microseconds; see
// bench/gateway_prefix_bench.cpp). Endpoint ids index a vector: keep them small and dense,
// such as the datastore's slot numbers.
class PrefixIndex {
 public:
  // The most memory_bytes() may use per remembered (endpoint, block) pair at the peak: slab
  // (24 B a node, x2 for vector growth), pair table (<= 21 B), block table (<= 43 B) and holder
  // lists (<= 28 B) at their worst. Measured: 50 to 78 B. (1,024 endpoints x 31,250 blocks
  // full: about 2.5 GB; size capacities for the pool you run.)
  static constexpr size_t kMaxBytesPerEntry = 144;

  explicit PrefixIndex(PrefixIndexOptions options = {});
  PrefixIndex(const PrefixIndex&) = delete;
  PrefixIndex& operator=(const PrefixIndex&) = delete;

  const PrefixIndexOptions& options() const { return options_; }

  // The chained hashes of the full blocks of `text` (a partial last block is ignored, at most
  // max_blocks): h0 = xxh3(block0, seed xxh3(model)), h_i = xxh3(block_i, seed h_{i-1}).
  // Seeding with the model keeps two models' caches apart; chaining makes a block's hash
  // depend on everything before it, as a KV cache does.
  std::vector<uint64_t> hash_blocks(std::string_view model, std::string_view text) const;
  // The same into `out` (cleared first), reusing its capacity so the hot path allocates nothing.
  void hash_blocks(std::string_view model, std::string_view text, std::vector<uint64_t>* out) const;

  // For each endpoint holding hashes[0]: how many leading blocks it holds (greedy longest
  // prefix). Appends (endpoint id, matched blocks) pairs to `out`, deepest matches first.
  // Costs O(log n) probes per distinct match length plus a walk of the holders of each such
  // length; never O(blocks x endpoints), even when all endpoints share a long system prompt.
  void match(std::span<const uint64_t> hashes,
             std::vector<std::pair<uint32_t, uint32_t>>* out) const;

  // After a pick: the endpoint now holds these blocks, `hashes` being a chain from
  // hash_blocks() or a prefix of one. They become its most recently used, block 0 the most
  // recent of all, so eviction (of its least recently used beyond capacity) always takes a
  // chain's deepest blocks first and what an endpoint holds stays prefix-closed: match()
  // relies on that.
  void record(uint32_t endpoint, std::span<const uint64_t> hashes);

  // From the server's cache size (num_gpu_blocks x block_size / (block_chars / 4)); shrinking
  // evicts the least recently used at once.
  void set_capacity(uint32_t endpoint, size_t blocks);
  // Forgets the endpoint and its blocks; its capacity goes back to the default.
  void remove_endpoint(uint32_t endpoint);

  size_t blocks(uint32_t endpoint) const;
  // Bytes held by the index (tables grow, never shrink: bounded by the peak, not the present).
  size_t memory_bytes() const;

 private:
  static constexpr uint32_t kNil = UINT32_MAX;

  // One (endpoint, block) pair: in the endpoint's LRU list and in the block's holders.
  struct Node {
    uint64_t hash;
    uint32_t endpoint;
    uint32_t lru_prev, lru_next;  // lru_next links the free list too
    uint32_t holder_pos;          // its index in the block's holder list (when it has one)
  };
  // A block's holders are read contiguously by match(): walking 1,024 scattered nodes of a
  // shared system prompt's block costs tens of microseconds in cache misses, an array one.
  struct Holder {
    uint32_t endpoint;
    uint32_t node;
  };
  // Block hash -> its holders: one holder inline (most blocks), else a list in lists_.
  struct BlockSlot {
    uint64_t hash = 0;
    uint32_t count = 0;
    uint32_t holders = kNil;  // count == 1: the node; count > 1: the index into lists_
    bool empty() const { return count == 0; }
    uint64_t key_hash() const { return hash * 0x9E3779B97F4A7C15ull; }
  };
  // (block hash, endpoint) -> node; `tag` is the top half of the pair's mixed hash.
  struct PairSlot {
    uint32_t node = kNil;
    uint32_t tag = 0;
    bool empty() const { return node == kNil; }
    uint64_t key_hash() const { return uint64_t{tag} << 32; }
  };
  struct EndpointState {
    uint32_t head = kNil, tail = kNil;  // most and least recently used
    uint32_t size = 0;
    uint32_t capacity = 0;
  };

  EndpointState& state_of(uint32_t endpoint);
  void touch(uint32_t endpoint, EndpointState& state, uint64_t hash);
  void evict(EndpointState& state, uint32_t node);
  void lru_unlink(EndpointState& state, uint32_t node);
  void lru_push_front(EndpointState& state, uint32_t node);
  size_t find_pair(uint64_t hash, uint32_t endpoint) const;
  size_t find_block(uint64_t hash) const;
  void add_holder(uint32_t endpoint, uint32_t node);
  void remove_holder(const Node& node);

  PrefixIndexOptions options_;
  uint32_t default_capacity_;
  mutable std::mutex mutex_;
  std::vector<Node> nodes_;  // a slab: freed nodes are reused, never returned
  uint32_t free_head_ = kNil;
  std::vector<EndpointState> endpoints_;
  ProbeTable<BlockSlot> blocks_;
  ProbeTable<PairSlot> pairs_;
  std::vector<std::vector<Holder>> lists_;  // holder lists of blocks with several holders
  std::vector<uint32_t> free_lists_;        // released lists (their buffers freed)
  size_t holder_bytes_ = 0;                 // the lists' buffers
};

}  // namespace kgai::gateway
