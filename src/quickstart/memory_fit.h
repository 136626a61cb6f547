// Memory feasibility, the first cut of the quickstart search: on which tensor-parallel sizes a
// model fits an accelerator with room for the KV cache of the lengths asked. It runs vLLM's own
// startup arithmetic (sim::make_setup: weights, the activation reserve of the step's token
// budget, KV blocks at --gpu-memory-utilization), so a setup the search keeps is one the
// simulator, and vLLM, would start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace kgai::quickstart {

struct FitRequest {
  int input_tokens = 0;   // per request (average or the largest to serve)
  int output_tokens = 0;  // per request
  double gpu_memory_utilization = 0.9;
  std::vector<int> tensor_parallel = {1, 2, 4, 8};
};

struct MemoryFit {
  const catalog::AcceleratorSpec* accelerator = nullptr;
  int tensor_parallel = 1;
  bool fits = false;
  std::string why;  // when it does not: weights too large, context too short, TP and heads...
  // When it fits: the KV cache in tokens, vLLM's defaults chosen for the step, and how many
  // requests of input + output tokens the cache holds at once.
  int64_t kv_tokens = 0;
  int max_num_seqs = 0;
  int max_num_batched_tokens = 0;
  int64_t concurrent_requests = 0;
};

// One entry per tensor-parallel size asked, in order; `fits` says which ones work.
std::vector<MemoryFit> fit_memory(const catalog::Catalog& catalog, const catalog::ModelSpec& model,
                                  const catalog::AcceleratorSpec& accelerator,
                                  const FitRequest& request);

}  // namespace kgai::quickstart
