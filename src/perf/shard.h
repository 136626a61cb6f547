// Scale out: one benchmark split over N cooperating load generators (`--shard i/N`). Every
// shard plans the whole run from the same config and seed, then sends only its share: request
// k of a stage belongs to shard k mod N. So the union of the shards' requests is exactly the
// request set one generator would send (same send times, prompts and adapters), and merging
// their records (perf/merge.h) gives the report one generator would have written.
#pragma once

#include <string>

#include "common/result.h"
#include "perf/load_plan.h"

namespace kgai::perf {

struct Shard {
  int index = 0;  // 0 .. count-1
  int count = 1;

  bool active() const { return count > 1; }
  // Request `local` of this shard's share is request global_index(local) of the whole stage.
  uint64_t global_index(uint64_t local) const {
    return static_cast<uint64_t>(index) + local * static_cast<uint64_t>(count);
  }
  bool owns(uint64_t global) const {
    return global % static_cast<uint64_t>(count) == static_cast<uint64_t>(index);
  }
};

// "i/N" with 0 <= i < N <= 10000. Errors name the text.
Result<Shard> parse_shard(const std::string& text);

// This shard's share of `whole`: open loop, the send offsets of the requests it owns (so its
// rate is the whole rate / N); closed loop, concurrency and num_requests split as evenly as
// possible (the first ones get one more). Errors when a closed-loop stage has fewer streams than
// shards, since a shard without a stream could not send its requests.
Result<StagePlan> shard_plan(const StagePlan& whole, Shard shard);

}  // namespace kgai::perf
