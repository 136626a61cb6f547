// From "model X on accelerator Y with these vLLM flags" to an engine configuration: the KV
// cache size, vLLM's per-accelerator defaults, and the checks vLLM makes at startup. Shared
// by `kgai sim`, `kgai sim offline` and the capacity planner.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/latency_model.h"
#include "common/result.h"
#include "sim/engine.h"
#include "sim/vllm_metrics.h"

namespace kgai::sim {

struct SetupRequest {
  std::string model;
  std::string accelerator;
  int tensor_parallel = 1;
  // 0 = vLLM's default for the accelerator / model.
  int max_num_seqs = 0;
  int max_num_batched_tokens = 0;
  int max_model_len = 0;
  int block_size = 16;
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int long_prefill_token_threshold = 0;
  int max_loras = 1;
  int max_waiting = 0;
};

struct Setup {
  const catalog::ModelSpec* model = nullptr;
  const catalog::AcceleratorSpec* accelerator = nullptr;
  std::unique_ptr<catalog::LatencyModel> latency;
  EngineConfig engine;
  CacheConfigInfo cache;
  // Adjustments made on the user's behalf, worth a log line each.
  std::vector<std::string> notes;
};

Result<Setup> make_setup(const catalog::Catalog& catalog, const SetupRequest& request);

}  // namespace kgai::sim
