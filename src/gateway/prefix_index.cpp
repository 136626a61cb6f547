#include "gateway/prefix_index.h"

#include <algorithm>
#include <array>
#include <limits>

#include <xxhash.h>

namespace kgai::gateway {
namespace {

// The pair's hash: the block hash is already uniform, the endpoint is spread over all bits.
uint64_t pair_mix(uint64_t hash, uint32_t endpoint) {
  uint64_t x = hash ^ (uint64_t{endpoint} * 0x9E3779B97F4A7C15ull);
  x ^= x >> 31;
  return x * 0xBF58476D1CE4E5B9ull;
}

uint32_t clamp_capacity(size_t blocks) {
  return static_cast<uint32_t>(std::min<size_t>(blocks, std::numeric_limits<uint32_t>::max() - 1));
}

// Per-thread scratch for match(), reused so that a warm thread allocates nothing.
struct MatchScratch {
  std::vector<uint32_t> count;  // holders of each level, kUnknown until probed
  std::vector<uint32_t> slot;   // the level's BlockSlot index
  std::vector<uint32_t> stamp;  // per endpoint: == generation when already answered
  uint32_t generation = 0;
};

constexpr uint32_t kUnknown = UINT32_MAX;

}  // namespace

PrefixIndex::PrefixIndex(PrefixIndexOptions options)
    : options_(options), default_capacity_(clamp_capacity(options.default_capacity)) {}

std::vector<uint64_t> PrefixIndex::hash_blocks(std::string_view model,
                                               std::string_view text) const {
  std::vector<uint64_t> out;
  hash_blocks(model, text, &out);
  return out;
}

void PrefixIndex::hash_blocks(std::string_view model, std::string_view text,
                              std::vector<uint64_t>* out) const {
  out->clear();
  const size_t size = options_.block_chars;
  if (size == 0) return;
  const size_t n = std::min(text.size() / size, options_.max_blocks);
  out->reserve(n);
  uint64_t hash = XXH3_64bits(model.data(), model.size());
  for (size_t i = 0; i < n; ++i) {
    hash = XXH3_64bits_withSeed(text.data() + i * size, size, hash);
    out->push_back(hash);
  }
}

size_t PrefixIndex::find_pair(uint64_t hash, uint32_t endpoint) const {
  const uint64_t mixed = pair_mix(hash, endpoint);
  const auto tag = static_cast<uint32_t>(mixed >> 32);
  return pairs_.find(uint64_t{tag} << 32, [&](const PairSlot& slot) {
    if (slot.tag != tag) return false;
    const Node& node = nodes_[slot.node];
    return node.hash == hash && node.endpoint == endpoint;
  });
}

size_t PrefixIndex::find_block(uint64_t hash) const {
  return blocks_.find(BlockSlot{hash}.key_hash(),
                      [&](const BlockSlot& slot) { return slot.hash == hash; });
}

void PrefixIndex::add_holder(uint32_t endpoint, uint32_t node) {
  const size_t index = find_block(nodes_[node].hash);
  if (index == ProbeTable<BlockSlot>::kNotFound) {
    blocks_.insert(BlockSlot{nodes_[node].hash, 1, node});
    return;
  }
  BlockSlot& slot = blocks_.at(index);
  if (slot.count == 1) {
    // The second holder: the block gets a list (a recycled slot in lists_ when there is one).
    const uint32_t first = slot.holders;
    uint32_t list;
    if (free_lists_.empty()) {
      list = static_cast<uint32_t>(lists_.size());
      lists_.emplace_back();
    } else {
      list = free_lists_.back();
      free_lists_.pop_back();
    }
    lists_[list].reserve(2);
    holder_bytes_ += lists_[list].capacity() * sizeof(Holder);
    lists_[list].push_back({nodes_[first].endpoint, first});
    nodes_[first].holder_pos = 0;
    slot.holders = list;
  }
  std::vector<Holder>& holders = lists_[slot.holders];
  nodes_[node].holder_pos = static_cast<uint32_t>(holders.size());
  const size_t capacity = holders.capacity();
  holders.push_back({endpoint, node});
  holder_bytes_ += (holders.capacity() - capacity) * sizeof(Holder);
  ++slot.count;
}

void PrefixIndex::remove_holder(const Node& node) {
  const size_t index = find_block(node.hash);
  BlockSlot& slot = blocks_.at(index);
  if (slot.count == 1) {
    blocks_.erase(index);
    return;
  }
  std::vector<Holder>& holders = lists_[slot.holders];
  const Holder moved = holders.back();
  holders[node.holder_pos] = moved;
  nodes_[moved.node].holder_pos = node.holder_pos;
  holders.pop_back();
  if (--slot.count == 1) {
    // Back inline; the buffer is freed so that idle lists hold no memory.
    const uint32_t list = slot.holders;
    slot.holders = holders.front().node;
    holder_bytes_ -= lists_[list].capacity() * sizeof(Holder);
    std::vector<Holder>().swap(lists_[list]);
    free_lists_.push_back(list);
  }
}

void PrefixIndex::match(std::span<const uint64_t> hashes,
                        std::vector<std::pair<uint32_t, uint32_t>>* out) const {
  if (hashes.empty()) return;
  thread_local MatchScratch scratch;
  const size_t n = hashes.size();
  scratch.count.assign(n, kUnknown);
  scratch.slot.resize(n);

  std::lock_guard lock(mutex_);
  auto count = [&](size_t level) -> uint32_t {
    if (scratch.count[level] == kUnknown) {
      const size_t slot = find_block(hashes[level]);
      scratch.slot[level] = static_cast<uint32_t>(slot);
      scratch.count[level] = slot == ProbeTable<BlockSlot>::kNotFound ? 0 : blocks_.at(slot).count;
    }
    return scratch.count[level];
  };
  if (count(0) == 0) return;

  // Every endpoint's blocks are prefix-closed (see record()), so the holders of level i+1 are
  // a subset of those of level i and the counts never grow with depth. The deepest held
  // level, then each level where the count drops (a "step"), are found by bisection; the
  // endpoints that stop at a step are among its holders.
  size_t lo = 0, hi = n;  // count(lo) > 0; count(hi) == 0 (hi == n: past the end)
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    (count(mid) > 0 ? lo : hi) = mid;
  }
  const size_t last = lo;

  if (scratch.stamp.size() < endpoints_.size()) scratch.stamp.resize(endpoints_.size(), 0);
  if (++scratch.generation == 0) {
    std::fill(scratch.stamp.begin(), scratch.stamp.end(), 0);
    scratch.generation = 1;
  }
  const uint32_t generation = scratch.generation;

  // Answers the endpoints that hold `level` but not the level below it (`deeper` holders).
  auto answer_step = [&](size_t level, uint32_t deeper) {
    uint32_t left = count(level) - deeper;
    auto answer = [&](uint32_t endpoint) {
      if (scratch.stamp[endpoint] == generation) return;
      scratch.stamp[endpoint] = generation;
      out->emplace_back(endpoint, static_cast<uint32_t>(level + 1));
      --left;
    };
    const BlockSlot& slot = blocks_.at(scratch.slot[level]);
    if (slot.count == 1) {
      answer(nodes_[slot.holders].endpoint);
      return;
    }
    for (const Holder& holder : lists_[slot.holders]) {
      answer(holder.endpoint);
      if (left == 0) break;
    }
  };
  answer_step(last, 0);

  // Steps in [a, b) with count(a) >= count(b), deepest first: a stack of ranges, right halves
  // popped first. Its depth is at most log2(n) + 1.
  std::array<std::pair<uint32_t, uint32_t>, 66> stack;
  size_t top = 0;
  stack[top++] = {0, static_cast<uint32_t>(last)};
  while (top > 0) {
    const auto [a, b] = stack[--top];
    if (a >= b || count(a) == count(b)) continue;
    if (b - a == 1) {
      answer_step(a, count(b));
      continue;
    }
    const uint32_t mid = a + (b - a) / 2;
    stack[top++] = {a, mid};
    stack[top++] = {mid, b};
  }
}

PrefixIndex::EndpointState& PrefixIndex::state_of(uint32_t endpoint) {
  if (endpoint >= endpoints_.size()) {
    endpoints_.resize(size_t{endpoint} + 1, EndpointState{.capacity = default_capacity_});
  }
  return endpoints_[endpoint];
}

void PrefixIndex::lru_unlink(EndpointState& state, uint32_t node) {
  Node& n = nodes_[node];
  (n.lru_prev == kNil ? state.head : nodes_[n.lru_prev].lru_next) = n.lru_next;
  (n.lru_next == kNil ? state.tail : nodes_[n.lru_next].lru_prev) = n.lru_prev;
}

void PrefixIndex::lru_push_front(EndpointState& state, uint32_t node) {
  Node& n = nodes_[node];
  n.lru_prev = kNil;
  n.lru_next = state.head;
  (state.head == kNil ? state.tail : nodes_[state.head].lru_prev) = node;
  state.head = node;
}

void PrefixIndex::evict(EndpointState& state, uint32_t node) {
  Node& n = nodes_[node];
  pairs_.erase(find_pair(n.hash, n.endpoint));
  remove_holder(n);
  lru_unlink(state, node);
  --state.size;
  n.lru_next = free_head_;
  free_head_ = node;
}

void PrefixIndex::touch(uint32_t endpoint, EndpointState& state, uint64_t hash) {
  if (const size_t pair = find_pair(hash, endpoint); pair != ProbeTable<PairSlot>::kNotFound) {
    const uint32_t node = pairs_.at(pair).node;
    if (state.head != node) {
      lru_unlink(state, node);
      lru_push_front(state, node);
    }
    return;
  }
  if (state.size >= state.capacity) evict(state, state.tail);

  uint32_t node = free_head_;
  if (node != kNil) {
    free_head_ = nodes_[node].lru_next;
  } else {
    node = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[node];
  n.hash = hash;
  n.endpoint = endpoint;
  pairs_.insert(PairSlot{node, static_cast<uint32_t>(pair_mix(hash, endpoint) >> 32)});
  add_holder(endpoint, node);
  lru_push_front(state, node);
  ++state.size;
}

void PrefixIndex::record(uint32_t endpoint, std::span<const uint64_t> hashes) {
  std::lock_guard lock(mutex_);
  EndpointState& state = state_of(endpoint);
  // Blocks past the capacity would be evicted by their own ancestors: skip them.
  const size_t n = std::min<size_t>(hashes.size(), state.capacity);
  // Cache misses are most of a record's cost: every touch probes both tables at random
  // places. Asking for all those cache lines first lets their misses overlap. (Prefetching
  // the evictions too would need a walk of the LRU's tail: one miss after another, no gain.)
  for (size_t i = 0; i < n; ++i) {
    pairs_.prefetch(uint64_t{static_cast<uint32_t>(pair_mix(hashes[i], endpoint) >> 32)} << 32);
    blocks_.prefetch(BlockSlot{hashes[i]}.key_hash());
  }
  for (size_t i = n; i-- > 0;) touch(endpoint, state, hashes[i]);
}

void PrefixIndex::set_capacity(uint32_t endpoint, size_t blocks) {
  std::lock_guard lock(mutex_);
  EndpointState& state = state_of(endpoint);
  state.capacity = clamp_capacity(blocks);
  while (state.size > state.capacity) evict(state, state.tail);
}

void PrefixIndex::remove_endpoint(uint32_t endpoint) {
  std::lock_guard lock(mutex_);
  if (endpoint >= endpoints_.size()) return;
  EndpointState& state = endpoints_[endpoint];
  while (state.size > 0) evict(state, state.tail);
  state = EndpointState{.capacity = default_capacity_};
}

size_t PrefixIndex::blocks(uint32_t endpoint) const {
  std::lock_guard lock(mutex_);
  return endpoint < endpoints_.size() ? endpoints_[endpoint].size : 0;
}

size_t PrefixIndex::memory_bytes() const {
  std::lock_guard lock(mutex_);
  return sizeof(*this) + nodes_.capacity() * sizeof(Node) +
         endpoints_.capacity() * sizeof(EndpointState) + blocks_.memory_bytes() +
         pairs_.memory_bytes() + lists_.capacity() * sizeof(std::vector<Holder>) +
         free_lists_.capacity() * sizeof(uint32_t) + holder_bytes_;
}

}  // namespace kgai::gateway
