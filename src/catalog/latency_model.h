// The roofline latency model: the time of one model-server step from the shape of its batch
// (see docs/latency-model.md). A pure function of the catalog's data, so the simulator, the
// planner and tests all agree.
#pragma once

#include <algorithm>
#include <cstdint>

#include "catalog/catalog.h"
#include "common/result.h"

namespace kgai::catalog {

// The batch of one step, reduced to the sums the model needs. Build it with add() per
// scheduled request: `new_tokens` is n_i (its prefill chunk, or 1 in decode), `cached_tokens`
// is c_i (tokens already in its KV cache).
struct StepShape {
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  double attention_pairs = 0;  // sum n_i * (c_i + (n_i - 1) / 2)
  // The part of attention_pairs from prefill requests: their attention runs at the prefill
  // efficiency (0 when the shape is filled by hand: all attention counts as decode).
  double prefill_attention_pairs = 0;
  int64_t kv_tokens = 0;  // sum (c_i + n_i): KV read and written
  int num_requests = 0;

  void add(int64_t new_tokens, int64_t cached_tokens, bool prefill) {
    (prefill ? prefill_tokens : decode_tokens) += new_tokens;
    double pairs = static_cast<double>(new_tokens) *
                   (static_cast<double>(cached_tokens) + static_cast<double>(new_tokens - 1) / 2.0);
    attention_pairs += pairs;
    if (prefill) prefill_attention_pairs += pairs;
    kv_tokens += cached_tokens + new_tokens;
    ++num_requests;
  }
  int64_t tokens() const { return prefill_tokens + decode_tokens; }
};

// The parts of one step's time, per chip of the TP group (see docs/latency-model.md).
struct StepBreakdown {
  double compute_s = 0;    // FLOPs / (peak * eta_c) / TP
  double memory_s = 0;     // bytes / (bandwidth * eta_m), per chip
  double overhead_s = 0;   // t_fixed + L * t_layer + |R| * t_req
  double allreduce_s = 0;  // 2 all-reduces per layer when TP > 1

  double total() const { return std::max(compute_s, memory_s) + overhead_s + allreduce_s; }
  bool memory_bound() const { return memory_s >= compute_s; }
};

class LatencyModel {
 public:
  // `tensor_parallel` below 1 counts as 1; prefer create(), which checks it.
  LatencyModel(const ModelSpec& model, const AcceleratorSpec& accelerator, int tensor_parallel);

  // As the constructor, but fails when the model cannot be split `tensor_parallel` ways as
  // vLLM splits it (query heads divided evenly; KV heads divided or replicated evenly).
  static Result<LatencyModel> create(const ModelSpec& model, const AcceleratorSpec& accelerator,
                                     int tensor_parallel);

  // Seconds for one step over `shape`. An empty shape costs nothing.
  double step_seconds(const StepShape& shape) const;
  StepBreakdown breakdown(const StepShape& shape) const;

  // KV cache capacity in blocks across the TP group:
  // (memory * tp * utilization - weights - activation reserve) / (kv bytes per token * block).
  // Returns 0 when the weights do not fit. The activation reserve follows the accelerator's
  // default max_num_batched_tokens / max_num_seqs; the overload takes the server's values.
  int64_t kv_cache_blocks(double gpu_memory_utilization, int block_size) const;
  int64_t kv_cache_blocks(double gpu_memory_utilization, int block_size, int max_num_batched_tokens,
                          int max_num_seqs) const;

  // Bytes per chip kept out of the KV cache for activations and runtime buffers (the
  // approximation is described in docs/latency-model.md).
  double activation_reserve_bytes(int max_num_batched_tokens, int max_num_seqs) const;

  // The API server's fixed delay a request pays once, outside its serial CPU (which
  // sim/frontend.h models as a queue from the efficiency's frontend_cpu_* costs).
  double frontend_seconds() const;

  const ModelSpec& model() const { return model_; }
  const AcceleratorSpec& accelerator() const { return accelerator_; }
  int tensor_parallel() const { return tp_; }

 private:
  double weight_bytes_read(double tokens) const;
  double windowed(double amount, double window, double units) const;
  double kv_heads_per_chip() const;

  ModelSpec model_;
  AcceleratorSpec accelerator_;
  int tp_;
  // MoE: the weights outside the experts (attention, embeddings, norms, router) and in all
  // experts, in parameters. For a dense model expert_params_ is 0.
  double shared_params_ = 0;
  double expert_params_ = 0;
};

}  // namespace kgai::catalog
