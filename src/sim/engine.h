// The simulated model-server engine, after vLLM's V1 scheduler: continuous batching under a
// token budget per step, at most max_num_seqs running, chunked prefill, a paged KV cache
// with prefix caching, preemption by recompute, and LoRA slots.
//
// The engine knows nothing of clocks or sockets (DESIGN.md, "one engine, two clocks"): a
// driver adds requests and calls step(now); the step's duration comes from the latency
// model, and the tokens it produced are to be delivered at now + duration. The HTTP server
// drives it on the wall clock, the offline runner on a virtual clock.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "catalog/latency_model.h"
#include "common/result.h"
#include "sim/kv_cache.h"

namespace kgai::sim {

struct EngineConfig {
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  int max_model_len = 4096;
  int block_size = 16;
  int64_t num_gpu_blocks = 0;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  // Caps one prefill chunk (vLLM's long_prefill_token_threshold); 0 = no cap.
  int long_prefill_token_threshold = 0;
  // LoRA adapters resident on the GPU at once; requests for others wait.
  int max_loras = 1;
  // Time to bring an adapter that is not resident into a slot (CPU -> GPU copy).
  double lora_load_seconds = 0.002;
  // Extra step time when the batch runs any adapter (the LoRA kernels), as a fraction.
  double lora_step_overhead = 0.05;
  // Requests allowed to wait; add() refuses beyond it (the server answers 429). 0 = no cap.
  int max_waiting = 0;
};

using RequestId = uint64_t;

enum class FinishReason : uint8_t { kStop, kLength, kAbort };
const char* finish_reason_name(FinishReason reason);

struct NewRequest {
  RequestId id = 0;
  int prompt_tokens = 1;
  // Chained hashes of the prompt's full blocks (see tokenizer.h).
  std::vector<uint64_t> block_hashes;
  int max_tokens = 16;
  // The length at which the "model" emits EOS; >= max_tokens means it never does.
  int natural_length = 1 << 30;
  // LoRA adapter: 0 = base model, otherwise an id the driver assigns to an adapter name.
  int lora = 0;
  double arrival = 0;  // when the request reached the server (simulated seconds)
  // The driver's name for what the request's tokens are (e.g. its conversation), passed back
  // to its OutputBlockHasher; the engine does not read it.
  uint64_t content_key = 0;
};

// Names the content of a request's generated tokens, so that their full blocks enter the
// prefix cache as vLLM caches them (every full block whose KV is computed, prompt or output)
// under the hash a later prompt holding the same tokens gets: the next turn of a conversation
// then hits the previous answer. Each driver knows what its tokens are (text behind HTTP, block
// contents in a generated workload), so each brings its own.
class OutputBlockHasher {
 public:
  virtual ~OutputBlockHasher() = default;
  // `hashes` holds the request's chained block hashes so far (its prompt's full blocks, then
  // generated ones). Appends the hashes of the blocks that are full now that its first
  // `computed_outputs` output tokens have their KV computed (all sampled tokens but the last),
  // if any.
  virtual void extend(const NewRequest& request, int computed_outputs,
                      std::vector<uint64_t>& hashes) = 0;
};

// A token produced by a step. `gap` is the time since the request's previous token (0 for
// the first), which is the inter-token latency a client sees.
struct TokenEvent {
  RequestId id;
  int index;  // 0-based position in the output
  double gap;
};

struct FinishedRequest {
  RequestId id = 0;
  FinishReason reason = FinishReason::kStop;
  int lora = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  int cached_tokens = 0;  // prompt tokens served from the prefix cache at first scheduling
  int max_tokens = 0;
  double arrival = 0;
  double first_scheduled = -1;  // -1: never scheduled
  double first_token = -1;      // -1: no token produced
  double finished = 0;
};

struct StepOutput {
  double start = 0;
  double duration = 0;
  std::vector<TokenEvent> tokens;
  std::vector<FinishedRequest> finished;
  int prefill_tokens = 0;
  int decode_tokens = 0;
  int num_scheduled = 0;
  int preemptions = 0;
  int lora_loads = 0;
  double end() const { return start + duration; }
};

// Calls `observe(gap, count)` for the inter-token gaps of a step's tokens (all but each
// request's first). Gaps equal to the step itself, the common case, come as one call with
// their count, so consumers can keep exact distributions without a sample per token. "Equal"
// allows for rounding: a gap is end - previous end, which differs from the step's duration in
// the last bits of a double.
template <typename Observe>
void for_each_token_gap(const StepOutput& step, Observe&& observe) {
  uint64_t equal_to_step = 0;
  const double rounding = 1e-12 * (step.end() > 1.0 ? step.end() : 1.0);
  for (const TokenEvent& t : step.tokens) {
    if (t.index == 0) continue;
    if (t.gap - step.duration <= rounding && step.duration - t.gap <= rounding) {
      ++equal_to_step;
    } else {
      observe(t.gap, uint64_t{1});
    }
  }
  if (equal_to_step) observe(step.duration, equal_to_step);
}

// Running totals, as vLLM's counters.
struct EngineCounters {
  uint64_t preemptions = 0;
  uint64_t prefix_queries = 0;  // prompt tokens looked up in the prefix cache
  uint64_t prefix_hits = 0;     // of which found
  uint64_t prompt_tokens = 0;   // prompt tokens computed (recomputation counts again)
  uint64_t generation_tokens = 0;
  uint64_t steps = 0;
  uint64_t lora_loads = 0;
};

class Engine {
 public:
  Engine(EngineConfig config, const catalog::LatencyModel& latency);

  const EngineConfig& config() const { return config_; }

  // Registers generated blocks in the prefix cache through `hasher` (nullptr: only prompt
  // blocks are cached). It must outlive the engine or be reset before it goes.
  void set_output_block_hasher(OutputBlockHasher* hasher) { hasher_ = hasher; }

  // Queues a request. Fails with a message when the waiting queue is full, when the
  // request can never fit (prompt + max_tokens over max_model_len, or more KV blocks than
  // the cache has), or when the id is already in use.
  Result<void> add(NewRequest request);

  // Removes a request wherever it is (the client went away). Returns its record, with
  // reason kAbort, or nothing if the id is unknown (already finished).
  std::optional<FinishedRequest> abort(RequestId id, double now);

  // True when add() would refuse for lack of room in the waiting queue (HTTP 429).
  bool queue_full() const;

  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

  // Schedules and "runs" one step starting at `now`. When there is nothing to do, the
  // output has duration 0 and no tokens. The returned reference is valid until the next
  // call.
  const StepOutput& step(double now);

  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  double kv_usage() const { return kv_.usage(); }
  const KvCache& kv_cache() const { return kv_; }
  const EngineCounters& counters() const { return counters_; }

  // Drops adapter `lora` from the resident set: the driver reuses the id for another adapter,
  // which must be loaded before it runs. No request may be using it.
  void forget_lora(int lora);

  // Adapters in the running batch and in the waiting queue (ids, deduplicated, sorted).
  std::vector<int> running_loras() const;
  std::vector<int> waiting_loras() const;

 private:
  struct Request {
    NewRequest spec;
    int num_tokens = 0;    // prompt + outputs so far
    int num_computed = 0;  // tokens whose KV is computed
    int output_tokens = 0;
    int cached_tokens = -1;  // -1 until first scheduled
    int registered_blocks = 0;
    std::vector<BlockId> blocks;
    double first_scheduled = -1;
    double first_token = -1;
    double last_token = -1;
    bool active = true;
  };

  int tokens_to_schedule(const Request& r, int budget) const;
  void preempt(size_t slot);
  // Returns true when it had to preempt (then no waiting request starts this step).
  bool schedule_running(int& budget);
  void schedule_waiting(int& budget, double now);
  static void add_unique_lora(int lora, std::vector<int>& loras);
  // The distinct adapters of the requests in `slots`, in first-seen order.
  template <typename Slots>
  void collect_loras(const Slots& slots, std::vector<int>& out) const;
  // Makes the step's adapters resident; returns how many had to be loaded.
  int load_step_loras();
  FinishedRequest finish(Request& r, FinishReason reason, double when);
  // Enters the request's computed full blocks that have a hash into the prefix cache.
  void register_blocks(Request& r);
  void complete_step(double end);

  EngineConfig config_;
  const catalog::LatencyModel& latency_;
  KvCache kv_;
  // Requests live in slots, reused after they finish, so the step loop never allocates.
  std::vector<Request> slots_;
  std::vector<size_t> free_slots_;
  std::unordered_map<RequestId, size_t> slot_of_;
  std::vector<size_t> running_;
  std::deque<size_t> waiting_;
  // Per step scratch.
  struct Scheduled {
    size_t slot;
    int num_new;
  };
  std::vector<Scheduled> scheduled_;
  std::vector<BlockId> hits_;
  std::vector<size_t> skipped_;
  catalog::StepShape shape_;
  // LoRA slots resident on the "GPU", least recently used first.
  std::vector<int> resident_loras_;
  std::vector<int> step_loras_;
  StepOutput output_;
  EngineCounters counters_;
  OutputBlockHasher* hasher_ = nullptr;
};

}  // namespace kgai::sim
