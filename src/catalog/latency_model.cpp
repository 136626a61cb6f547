#include "catalog/latency_model.h"

#include <cmath>

namespace kgai::catalog {
namespace {

// Activations and all-reduce payloads are BF16 whatever the weight format.
constexpr double kActivationBytes = 2;
// Sampling works on FP32 logits.
constexpr double kLogitBytes = 4;
// Memory vLLM's profiler finds outside PyTorch's allocator (CUDA context, cuBLAS and
// attention workspaces, NCCL buffers) and so keeps out of the KV cache: a few hundred MiB.
constexpr double kRuntimeBytes = 512.0 * 1024 * 1024;

}  // namespace

LatencyModel::LatencyModel(const ModelSpec& model, const AcceleratorSpec& accelerator,
                           int tensor_parallel)
    : model_(model), accelerator_(accelerator), tp_(std::max(1, tensor_parallel)) {
  int experts = model_.num_experts;
  int top_k = model_.experts_per_token;
  if (experts > 0 && top_k > 0 && top_k < experts) {
    // active = shared + experts * k / E and total = shared + experts, solved for both.
    expert_params_ = (model_.num_params - model_.active_params) * experts / (experts - top_k);
    expert_params_ = std::clamp(expert_params_, 0.0, model_.num_params);
    shared_params_ = model_.num_params - expert_params_;
  } else {
    shared_params_ = model_.num_params;
  }
}

Result<LatencyModel> LatencyModel::create(const ModelSpec& model,
                                          const AcceleratorSpec& accelerator, int tensor_parallel) {
  int tp = tensor_parallel;
  if (tp < 1) return fail("tensor parallel size must be at least 1, got {}", tp);
  if (model.num_heads % tp != 0) {
    return fail("tensor parallel size {} does not divide the {} attention heads of {}", tp,
                model.num_heads, model.name);
  }
  if (model.num_kv_heads % tp != 0 && tp % model.num_kv_heads != 0) {
    return fail(
        "tensor parallel size {} neither divides nor is a multiple of the {} KV heads of {}", tp,
        model.num_kv_heads, model.name);
  }
  return LatencyModel(model, accelerator, tp);
}

// Weights a step streams from memory. Dense: all of them. MoE: the shared weights plus the
// experts the step's tokens route to. With uniform top-k routing a layer's expert is missed
// by all N tokens with probability (1 - k/E)^N, so the expected share touched is
// 1 - (1 - k/E)^N: k/E at one token, nearly all experts by a few dozen.
double LatencyModel::weight_bytes_read(double tokens) const {
  double params = shared_params_;
  if (expert_params_ > 0) {
    double miss = 1.0 - static_cast<double>(model_.experts_per_token) / model_.num_experts;
    params += expert_params_ * (1.0 - std::pow(miss, tokens));
  }
  return params * model_.bytes_per_param;
}

// Sliding-window layers (Gemma 2) attend to at most `window` tokens. From the step's sums we
// bound their work by min(amount, units * window): exact for one request, an overestimate
// (never below the true work) when requests of very different lengths share a step.
double LatencyModel::windowed(double amount, double window, double units) const {
  double share = model_.sliding_window > 0 ? model_.sliding_window_layer_fraction : 0.0;
  if (share == 0) return amount;
  return (1.0 - share) * amount + share * std::min(amount, units * window);
}

// vLLM splits KV heads across the TP group, or replicates them when TP exceeds their count.
double LatencyModel::kv_heads_per_chip() const {
  return std::max(1.0, static_cast<double>(model_.num_kv_heads) / tp_);
}

StepBreakdown LatencyModel::breakdown(const StepShape& shape) const {
  StepBreakdown out;
  double tokens = static_cast<double>(shape.tokens());
  if (tokens <= 0) return out;
  const Efficiency& eff = accelerator_.efficiency;
  const double layers = model_.num_layers;
  const double window = model_.sliding_window;

  // FLOPs, prefill and decode each at its own efficiency: time-weighting the two shares keeps
  // the step time monotone in every token added.
  double gemm_flops_per_token = 2.0 * model_.active_params;
  double attention_flops_per_pair =
      4.0 * layers * model_.num_heads * static_cast<double>(model_.head_dim);
  double prefill_pairs = std::clamp(shape.prefill_attention_pairs, 0.0, shape.attention_pairs);
  double decode_pairs = shape.attention_pairs - prefill_pairs;
  auto prefill = static_cast<double>(shape.prefill_tokens);
  auto decode = static_cast<double>(shape.decode_tokens);
  double prefill_flops = gemm_flops_per_token * prefill +
                         attention_flops_per_pair * windowed(prefill_pairs, window, prefill);
  double decode_flops = gemm_flops_per_token * decode +
                        attention_flops_per_pair * windowed(decode_pairs, window, decode);
  out.compute_s = (prefill_flops / eff.compute_prefill + decode_flops / eff.compute_decode) /
                  (accelerator_.peak_flops * tp_);

  // Bytes per chip: its share of the weights and activations, and the KV of its heads.
  double kv_bytes_per_token_per_chip =
      model_.kv_bytes_per_token() * kv_heads_per_chip() / model_.num_kv_heads;
  double kv_bytes = kv_bytes_per_token_per_chip *
                    windowed(static_cast<double>(shape.kv_tokens), window, shape.num_requests);
  double activation_bytes = layers * model_.hidden_size * kActivationBytes * tokens;
  double bytes = (weight_bytes_read(tokens) + activation_bytes) / tp_ + kv_bytes;
  out.memory_s = bytes / (accelerator_.memory_bandwidth * eff.memory);

  out.overhead_s =
      eff.step_fixed_s + layers * eff.per_layer_s + shape.num_requests * eff.per_request_s;

  if (tp_ > 1) {
    // Ring all-reduce of the hidden states, after attention and after the MLP of each layer.
    double payload = tokens * model_.hidden_size * kActivationBytes;
    double ring = 2.0 * (tp_ - 1) / tp_ * payload / accelerator_.interconnect_bandwidth;
    out.allreduce_s = 2.0 * layers * (ring + eff.allreduce_latency_s);
  }
  return out;
}

double LatencyModel::step_seconds(const StepShape& shape) const { return breakdown(shape).total(); }

// Peak activations of a max_num_batched_tokens forward pass (the MLP's gate/up output and
// activated input, 3 * FFN wide per routed expert, split by TP, plus a few hidden-size
// buffers), FP32 logits for max_num_seqs sequences (gathered on one rank), and runtime buffers.
double LatencyModel::activation_reserve_bytes(int max_num_batched_tokens, int max_num_seqs) const {
  double experts = std::max(1, model_.experts_per_token);
  double per_token = (3.0 * model_.intermediate_size * experts / tp_ + 4.0 * model_.hidden_size) *
                     kActivationBytes;
  double logits = static_cast<double>(max_num_seqs) * model_.vocab_size * kLogitBytes;
  return kRuntimeBytes + max_num_batched_tokens * per_token + logits;
}

int64_t LatencyModel::kv_cache_blocks(double gpu_memory_utilization, int block_size) const {
  return kv_cache_blocks(gpu_memory_utilization, block_size,
                         accelerator_.default_max_num_batched_tokens,
                         accelerator_.default_max_num_seqs);
}

int64_t LatencyModel::kv_cache_blocks(double gpu_memory_utilization, int block_size,
                                      int max_num_batched_tokens, int max_num_seqs) const {
  if (block_size <= 0 || !(gpu_memory_utilization > 0)) return 0;
  // Every chip holds the same blocks (its share of each), so count on one chip.
  double budget = accelerator_.memory_bytes * std::min(gpu_memory_utilization, 1.0);
  double free = budget - model_.weight_bytes() / tp_ -
                activation_reserve_bytes(max_num_batched_tokens, max_num_seqs);
  double block_bytes =
      model_.kv_bytes_per_token() * kv_heads_per_chip() / model_.num_kv_heads * block_size;
  if (!(free > 0) || !(block_bytes > 0)) return 0;
  double blocks = std::floor(free / block_bytes);
  constexpr double kMax = 1e18;  // far above any real count; keeps the cast defined
  return static_cast<int64_t>(std::min(blocks, kMax));
}

double LatencyModel::frontend_seconds() const { return accelerator_.efficiency.frontend_s; }

}  // namespace kgai::catalog
