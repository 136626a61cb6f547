// The gateway's engine metrics mapping (src/gateway/engine_metrics.h): what the gateway reads
// from each model server's /metrics page every 50 ms, for every engine type. The header's
// promises are checked: KV use clamped to [0, 1], absent rather than non-finite values.
#include <cmath>

#include "fuzz/fuzz_target.h"
#include "gateway/engine_metrics.h"

using kgai::gateway::EngineType;

namespace {

void check_finite(const std::optional<double>& v) { FUZZ_CHECK(!v || std::isfinite(*v)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = kgai::fuzz::as_text(data, size);
  for (EngineType engine :
       {EngineType::kVllm, EngineType::kSglang, EngineType::kTrtllm, EngineType::kTriton}) {
    auto metrics = kgai::gateway::read_engine_metrics(text, engine);
    if (!metrics) continue;
    check_finite(metrics->waiting);
    check_finite(metrics->running);
    check_finite(metrics->kv_usage);
    FUZZ_CHECK(!metrics->kv_usage || (*metrics->kv_usage >= 0 && *metrics->kv_usage <= 1));
  }
  return 0;
}
