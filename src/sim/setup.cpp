#include "sim/setup.h"

#include <fmt/format.h>

namespace kgai::sim {

Result<Setup> make_setup(const catalog::Catalog& catalog, const SetupRequest& req) {
  Setup s;
  auto model = catalog.model(req.model);
  if (!model) return fail(model.error());
  auto accelerator = catalog.accelerator(req.accelerator);
  if (!accelerator) return fail(accelerator.error());
  s.model = *model;
  s.accelerator = *accelerator;

  if (req.tensor_parallel < 1 || req.tensor_parallel > 64) {
    return fail("--tp must be between 1 and 64, got {}", req.tensor_parallel);
  }
  if (s.model->num_heads % req.tensor_parallel != 0) {
    return fail("--tp {} does not divide the {} attention heads of {}", req.tensor_parallel,
                s.model->num_heads, s.model->name);
  }
  if (req.block_size < 1 || req.block_size > 1024) {
    return fail("--block-size must be between 1 and 1024, got {}", req.block_size);
  }
  if (!(req.gpu_memory_utilization > 0 && req.gpu_memory_utilization <= 1)) {
    return fail("--gpu-memory-utilization must be in (0, 1], got {}", req.gpu_memory_utilization);
  }
  for (auto [name, value] :
       {std::pair{"--max-num-seqs", req.max_num_seqs},
        {"--max-num-batched-tokens", req.max_num_batched_tokens},
        {"--max-model-len", req.max_model_len},
        {"--max-loras", req.max_loras},
        {"--max-waiting", req.max_waiting},
        {"--long-prefill-token-threshold", req.long_prefill_token_threshold}}) {
    if (value < 0) return fail("{} must not be negative, got {}", name, value);
  }

  if (req.max_loras < 1) {
    return fail("--max-loras must be at least 1 (adapter requests could never run), got {}",
                req.max_loras);
  }

  s.latency =
      std::make_unique<catalog::LatencyModel>(*s.model, *s.accelerator, req.tensor_parallel);
  const int max_num_seqs =
      req.max_num_seqs ? req.max_num_seqs : s.accelerator->default_max_num_seqs;
  const int max_num_batched_tokens = req.max_num_batched_tokens
                                         ? req.max_num_batched_tokens
                                         : s.accelerator->default_max_num_batched_tokens;
  // The activation reserve vLLM profiles grows with the step's token budget and batch.
  const int64_t blocks = s.latency->kv_cache_blocks(req.gpu_memory_utilization, req.block_size,
                                                    max_num_batched_tokens, max_num_seqs);
  if (blocks <= 0) {
    return fail(
        "{} does not fit: its weights take {:.1f} GB, and {} x {} has {:.1f} GB at "
        "--gpu-memory-utilization {} (try a larger --tp or another accelerator)",
        s.model->name, s.model->weight_bytes() / 1e9, req.tensor_parallel, s.accelerator->name,
        s.accelerator->memory_bytes * req.tensor_parallel * req.gpu_memory_utilization / 1e9,
        req.gpu_memory_utilization);
  }
  const int64_t kv_tokens = blocks * req.block_size;

  EngineConfig& e = s.engine;
  e.block_size = req.block_size;
  e.num_gpu_blocks = blocks;
  e.enable_prefix_caching = req.enable_prefix_caching;
  e.enable_chunked_prefill = req.enable_chunked_prefill;
  e.long_prefill_token_threshold = req.long_prefill_token_threshold;
  e.max_loras = req.max_loras;
  e.max_waiting = req.max_waiting;
  e.max_num_seqs = max_num_seqs;
  e.max_num_batched_tokens = max_num_batched_tokens;
  if (req.max_model_len) {
    if (req.max_model_len > s.model->max_model_len) {
      return fail("--max-model-len {} is larger than {}'s context window of {} tokens",
                  req.max_model_len, s.model->name, s.model->max_model_len);
    }
    if (req.max_model_len > kv_tokens) {
      return fail(
          "--max-model-len {} is larger than the maximum number of tokens that can be stored in "
          "the KV cache ({}); lower it or raise --gpu-memory-utilization",
          req.max_model_len, kv_tokens);
    }
    e.max_model_len = req.max_model_len;
  } else {
    e.max_model_len = s.model->max_model_len;
    if (e.max_model_len > kv_tokens) {
      // vLLM refuses to start here; a simulator is more useful if it adapts and says so.
      e.max_model_len = static_cast<int>(kv_tokens);
      s.notes.push_back(
          fmt::format("max_model_len lowered from {} to {}, the KV cache's capacity in tokens",
                      s.model->max_model_len, kv_tokens));
    }
  }
  if (!e.enable_chunked_prefill && e.max_num_batched_tokens < e.max_model_len) {
    s.notes.push_back(fmt::format(
        "without chunked prefill max_num_batched_tokens is raised to max_model_len ({})",
        e.max_model_len));
    e.max_num_batched_tokens = e.max_model_len;
  }

  s.cache.block_size = req.block_size;
  s.cache.num_gpu_blocks = blocks;
  s.cache.enable_prefix_caching = req.enable_prefix_caching;
  s.cache.gpu_memory_utilization = req.gpu_memory_utilization;
  return s;
}

}  // namespace kgai::sim
