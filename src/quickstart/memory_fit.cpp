#include "quickstart/memory_fit.h"

#include <fmt/format.h>

#include "sim/setup.h"

namespace kgai::quickstart {

std::vector<MemoryFit> fit_memory(const catalog::Catalog& catalog, const catalog::ModelSpec& model,
                                  const catalog::AcceleratorSpec& accelerator,
                                  const FitRequest& request) {
  std::vector<MemoryFit> out;
  const int64_t sequence = int64_t{request.input_tokens} + request.output_tokens;
  for (int tp : request.tensor_parallel) {
    MemoryFit& fit = out.emplace_back();
    fit.accelerator = &accelerator;
    fit.tensor_parallel = tp;
    if (request.input_tokens < 0 || request.output_tokens < 1) {
      fit.why = "a request needs at least one output token and no negative input length";
      continue;
    }
    if (sequence > model.max_model_len) {
      fit.why = fmt::format("{} + {} tokens exceed {}'s context window of {}", request.input_tokens,
                            request.output_tokens, model.name, model.max_model_len);
      continue;
    }
    sim::SetupRequest setup;
    setup.model = model.name;
    setup.accelerator = accelerator.name;
    setup.tensor_parallel = tp;
    setup.gpu_memory_utilization = request.gpu_memory_utilization;
    // The longest request asked must fit the KV cache alone, as vLLM checks max_model_len.
    setup.max_model_len = static_cast<int>(sequence);
    auto s = sim::make_setup(catalog, setup);
    if (!s) {
      fit.why = s.error().message;
      continue;
    }
    fit.fits = true;
    fit.kv_tokens = s->engine.num_gpu_blocks * s->engine.block_size;
    fit.max_num_seqs = s->engine.max_num_seqs;
    fit.max_num_batched_tokens = s->engine.max_num_batched_tokens;
    fit.concurrent_requests = sequence > 0 ? fit.kv_tokens / sequence : 0;
  }
  return out;
}

}  // namespace kgai::quickstart
