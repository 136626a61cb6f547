// The saturation detector, as the Inference Gateway's: an endpoint's saturation is
// max(waiting / queueDepthThreshold, kv_cache_usage / kvCacheUtilThreshold), 1 or more meaning
// full; an endpoint that is unhealthy or whose metrics are older than
// metricsStalenessThreshold counts as full (no news is not good news). The pool's saturation
// is the average over its endpoints; at 1 or more the pool is saturated: sheddable requests
// (negative priority) get 429 and flow control holds the rest. Exported on /metrics for
// autoscalers.
#pragma once

#include "gateway/config.h"
#include "gateway/endpoint.h"

namespace kgai::gateway {

double endpoint_saturation(const EndpointState& endpoint, const SaturationConfig& config,
                           SteadyTime now);

// The average of endpoint_saturation; an empty pool is saturated (1).
double pool_saturation(const PoolSnapshot& pool, const SaturationConfig& config, SteadyTime now);

inline bool is_saturated(double saturation) { return saturation >= 1.0; }

}  // namespace kgai::gateway
