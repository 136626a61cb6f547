// A flat open-addressing table (linear probing, backward-shift deletion, no tombstones) of
// small trivially-copyable slots. It is the storage under the prefix index: lookups touch one
// or two cache lines, and erasing keeps probe chains short forever, which tombstones would
// not under the index's constant insert/evict churn.
//
// The slot type carries its own key: `bool empty() const` (a value-initialized Slot is empty)
// and `uint64_t key_hash() const`, a well-mixed hash whose top bits pick the home slot. The
// table never compares keys itself: find() takes a predicate, so a slot can hold a 4-byte
// reference to data kept elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kgai::gateway {

template <typename Slot>
class ProbeTable {
 public:
  static constexpr size_t kNotFound = SIZE_MAX;

  ProbeTable() : slots_(kMinSlots), shift_(64 - kMinBits) {}

  // The index of the slot with this key hash for which `matches(slot)` holds, or kNotFound.
  template <typename Matches>
  size_t find(uint64_t key_hash, Matches&& matches) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = home(key_hash);; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.empty()) return kNotFound;
      if (matches(slot)) return i;
    }
  }

  // Adds a slot whose key is absent; returns its index, valid until the next insert or erase.
  size_t insert(const Slot& slot) {
    // Grow at 3/4 full: load stays in (3/8, 3/4], which bounds memory per entry.
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    ++size_;
    return place(slot);
  }

  void erase(size_t index) {
    const size_t mask = slots_.size() - 1;
    size_t hole = index;
    for (size_t j = (hole + 1) & mask; !slots_[j].empty(); j = (j + 1) & mask) {
      // Slot j may move back into the hole unless its home lies cyclically in (hole, j].
      const size_t k = home(slots_[j].key_hash());
      const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  // Asks the CPU for the cache line of this key's home slot ahead of a find() or insert():
  // a batch of prefetches lets the misses overlap instead of queueing one behind another.
  void prefetch(uint64_t key_hash) const { __builtin_prefetch(&slots_[home(key_hash)]); }

  Slot& at(size_t index) { return slots_[index]; }
  const Slot& at(size_t index) const { return slots_[index]; }
  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  static constexpr int kMinBits = 4;
  static constexpr size_t kMinSlots = size_t{1} << kMinBits;

  size_t home(uint64_t key_hash) const { return static_cast<size_t>(key_hash >> shift_); }

  size_t place(const Slot& slot) {
    const size_t mask = slots_.size() - 1;
    size_t i = home(slot.key_hash());
    while (!slots_[i].empty()) i = (i + 1) & mask;
    slots_[i] = slot;
    return i;
  }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    --shift_;
    for (const Slot& slot : old) {
      if (!slot.empty()) place(slot);
    }
  }

  std::vector<Slot> slots_;
  int shift_;
  size_t size_ = 0;
};

}  // namespace kgai::gateway
