// prefix-cache-scorer: the share of the request's leading blocks an endpoint probably still
// holds in its KV cache (gateway/prefix_index.h), as the Inference Gateway's approximate
// prefix scorer. After each pick the chosen endpoint's index learns the request's blocks.
//
// Parameters (the Inference Gateway's names): blockSize (characters per block, 64),
// maxPrefixBlocksToMatch (256), lruCapacityPerServer (blocks remembered per endpoint,
// 31,250), autoTune (true: size each endpoint's LRU from its reported KV-cache block size and
// count instead).
#include <algorithm>
#include <atomic>
#include <mutex>

#include "common/config_reader.h"
#include "gateway/plugin_registry.h"
#include "gateway/prefix_index.h"

namespace kgai::gateway {

namespace {

class PrefixCacheScorer final : public Scorer, public PostPick {
 public:
  PrefixCacheScorer(PrefixIndexOptions options, bool auto_tune)
      : index_(options), auto_tune_(auto_tune) {}

  std::string_view type() const override { return "prefix-cache-scorer"; }

  void score(SchedulingContext& context, std::span<const uint32_t> candidates,
             std::span<double> scores) override {
    if (auto_tune_) tune(*context.pool);
    const RequestInfo& request = *context.request;
    index_.hash_blocks(request.target_model, request.prefix_text, &context.prefix_hashes);
    if (context.prefix_hashes.empty()) return;
    thread_local std::vector<std::pair<uint32_t, uint32_t>> matches;
    thread_local std::vector<uint32_t> matched_by_id;  // dense ids: O(candidates + matches)
    matches.clear();
    index_.match(context.prefix_hashes, &matches);
    if (matches.empty()) return;
    for (const auto& [id, blocks] : matches) {
      if (id >= matched_by_id.size()) matched_by_id.resize(id + 1, 0);
      matched_by_id[id] = blocks;
    }
    const double total = static_cast<double>(context.prefix_hashes.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
      const uint32_t id = context.endpoint(candidates[i]).id;
      if (id < matched_by_id.size()) scores[i] = matched_by_id[id] / total;
    }
    for (const auto& [id, blocks] : matches) matched_by_id[id] = 0;
  }

  void picked(SchedulingContext& context, const EndpointState& endpoint) override {
    if (!context.prefix_hashes.empty()) index_.record(endpoint.id, context.prefix_hashes);
  }

 private:
  // Once per snapshot: each endpoint's LRU holds as many blocks as its KV cache, when the
  // server reports its geometry (block_size tokens x num_blocks, 4 characters per token).
  void tune(const PoolSnapshot& pool) {
    const int64_t taken = pool.taken_at.time_since_epoch().count();
    int64_t seen = tuned_at_.load(std::memory_order_relaxed);
    if (taken <= seen || !tuned_at_.compare_exchange_strong(seen, taken)) return;
    std::lock_guard lock(tune_mutex_);
    const size_t chars_per_block = index_.options().block_chars;
    for (const EndpointState& e : pool.endpoints) {
      const auto& m = e.metrics;
      if (!m.block_size || !m.num_blocks || *m.block_size <= 0 || *m.num_blocks <= 0) continue;
      const size_t tokens = static_cast<size_t>(*m.block_size) * static_cast<size_t>(*m.num_blocks);
      const size_t capacity = std::max<size_t>(1, tokens * 4 / chars_per_block);
      if (e.id >= capacities_.size()) capacities_.resize(e.id + 1, 0);
      if (capacities_[e.id] == capacity) continue;
      capacities_[e.id] = capacity;
      index_.set_capacity(e.id, capacity);
    }
  }

  PrefixIndex index_;
  const bool auto_tune_;
  std::atomic<int64_t> tuned_at_{0};
  std::mutex tune_mutex_;
  std::vector<size_t> capacities_;  // what set_capacity was last told, by endpoint id
};

}  // namespace

std::shared_ptr<Plugin> make_prefix_cache_scorer(const PluginArgs& args) {
  constexpr std::string_view kKeys[] = {"blockSize", "maxPrefixBlocksToMatch",
                                        "lruCapacityPerServer", "autoTune"};
  PrefixIndexOptions options;
  bool auto_tune = true;
  if (args.parameters != nullptr) {
    config::MapReader p(*args.reader, *args.parameters, args.path, kKeys);
    int64_t block = static_cast<int64_t>(options.block_chars);
    int64_t max_blocks = static_cast<int64_t>(options.max_blocks);
    int64_t capacity = static_cast<int64_t>(options.default_capacity);
    p.read("blockSize", block);
    p.read("maxPrefixBlocksToMatch", max_blocks);
    p.read("lruCapacityPerServer", capacity);
    p.read("autoTune", auto_tune);
    if (!args.reader->ok()) return nullptr;
    for (auto [key, value] :
         {std::pair{"blockSize", block}, std::pair{"maxPrefixBlocksToMatch", max_blocks},
          std::pair{"lruCapacityPerServer", capacity}}) {
      if (value < 1) {
        args.reader->fail(p.node(key), p.path(key), "must be at least 1");
        return nullptr;
      }
    }
    options.block_chars = static_cast<size_t>(block);
    options.max_blocks = static_cast<size_t>(max_blocks);
    options.default_capacity = static_cast<size_t>(capacity);
  }
  return std::make_shared<PrefixCacheScorer>(options, auto_tune);
}

}  // namespace kgai::gateway
