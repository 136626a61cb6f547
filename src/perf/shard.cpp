#include "perf/shard.h"

#include <charconv>

namespace kgai::perf {

namespace {

int64_t share_of(int64_t total, int parts, int part) {
  return total / parts + (part < total % parts ? 1 : 0);
}

}  // namespace

Result<Shard> parse_shard(const std::string& text) {
  auto slash = text.find('/');
  auto bad = [&] {
    return fail("--shard '{}': expected INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4", text);
  };
  if (slash == std::string::npos) return bad();
  Shard s;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [p1, e1] = std::from_chars(begin, begin + slash, s.index);
  auto [p2, e2] = std::from_chars(begin + slash + 1, end, s.count);
  if (e1 != std::errc{} || p1 != begin + slash || e2 != std::errc{} || p2 != end) return bad();
  if (s.count < 1 || s.index < 0 || s.index >= s.count) return bad();
  if (s.count > 10000) return fail("--shard '{}': at most 10000 shards", text);
  return s;
}

Result<StagePlan> shard_plan(const StagePlan& whole, Shard shard) {
  if (!shard.active()) return whole;
  StagePlan part = whole;
  if (!whole.offsets.empty() || whole.rate > 0) {
    part.offsets.clear();
    for (size_t k = static_cast<size_t>(shard.index); k < whole.offsets.size();
         k += static_cast<size_t>(shard.count)) {
      part.offsets.push_back(whole.offsets[k]);
    }
    part.rate = whole.rate / shard.count;
    part.num_requests = static_cast<int64_t>(part.offsets.size());
    return part;
  }
  if (whole.concurrency < shard.count) {
    return fail(
        "stage {}: concurrency {} is below the shard count {}: every shard needs at least one "
        "stream (use fewer shards or more concurrency)",
        whole.index, whole.concurrency, shard.count);
  }
  part.concurrency = static_cast<int>(share_of(whole.concurrency, shard.count, shard.index));
  part.num_requests = share_of(whole.num_requests, shard.count, shard.index);
  return part;
}

}  // namespace kgai::perf
