// The roofline latency model: the time of one model-server step from the shape of its batch
// (see ../shared/facts/latency-model.md and docs/sim.md). A pure function of the catalog's
// data, so the simulator, the planner and tests all agree.
#pragma once

#include <cstdint>

#include "catalog/catalog.h"

namespace kgai::catalog {

// The batch of one step, reduced to the sums the model needs. Build it with add() per
// scheduled request: `new_tokens` is n_i (its prefill chunk, or 1 in decode), `cached_tokens`
// is c_i (tokens already in its KV cache).
struct StepShape {
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  double attention_pairs = 0;  // sum n_i * (c_i + (n_i - 1) / 2)
  int64_t kv_tokens = 0;       // sum (c_i + n_i): KV read and written
  int num_requests = 0;

  void add(int64_t new_tokens, int64_t cached_tokens, bool prefill) {
    (prefill ? prefill_tokens : decode_tokens) += new_tokens;
    attention_pairs += static_cast<double>(new_tokens) *
                       (static_cast<double>(cached_tokens) +
                        static_cast<double>(new_tokens - 1) / 2.0);
    kv_tokens += cached_tokens + new_tokens;
    ++num_requests;
  }
  int64_t tokens() const { return prefill_tokens + decode_tokens; }
};

class LatencyModel {
 public:
  LatencyModel(const ModelSpec& model, const AcceleratorSpec& accelerator, int tensor_parallel);

  // Seconds for one step over `shape`. An empty shape costs nothing.
  double step_seconds(const StepShape& shape) const;

  // KV cache capacity in blocks across the TP group:
  // (memory * tp * utilization - weights - activation reserve) / (kv bytes per token * block).
  // Returns 0 when the weights do not fit.
  int64_t kv_cache_blocks(double gpu_memory_utilization, int block_size) const;

  // API-server overhead a request pays once before its first token.
  double frontend_seconds() const;

  const ModelSpec& model() const { return model_; }
  const AcceleratorSpec& accelerator() const { return accelerator_; }
  int tensor_parallel() const { return tp_; }

 private:
  ModelSpec model_;
  AcceleratorSpec accelerator_;
  int tp_;
};

}  // namespace kgai::catalog
