#include "gateway/saturation.h"

#include <algorithm>

namespace kgai::gateway {

double endpoint_saturation(const EndpointState& endpoint, const SaturationConfig& config,
                           SteadyTime now) {
  if (!endpoint.healthy || endpoint.metrics_age(now) > config.metrics_staleness_threshold) {
    return 1.0;
  }
  const double queue = endpoint.metrics.waiting.value_or(0.0) / config.queue_depth_threshold;
  const double kv = endpoint.metrics.kv_usage.value_or(0.0) / config.kv_cache_util_threshold;
  return std::max(queue, kv);
}

double pool_saturation(const PoolSnapshot& pool, const SaturationConfig& config, SteadyTime now) {
  if (pool.endpoints.empty()) return 1.0;
  double sum = 0;
  for (const auto& e : pool.endpoints) sum += endpoint_saturation(e, config, now);
  return sum / static_cast<double>(pool.endpoints.size());
}

}  // namespace kgai::gateway
