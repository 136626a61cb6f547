// The gateway's configuration: the shape of the Inference Gateway's EndpointPickerConfig
// (plugins, schedulingProfiles, saturationDetector, flowControl) plus kgai's objectives,
// modelRewrites and sessionHeader, so an existing EPP config reads as is:
//
//   plugins:
//   - type: queue-scorer
//   - {name: prefix, type: prefix-cache-scorer, parameters: {blockSize: 64}}
//   - type: max-score-picker
//   schedulingProfiles:
//   - name: default
//     plugins: [{pluginRef: queue-scorer, weight: 2}, {pluginRef: prefix, weight: 3},
//               {pluginRef: max-score-picker}]
//   saturationDetector: {queueDepthThreshold: 5, kvCacheUtilThreshold: 0.8,
//                        metricsStalenessThreshold: 2s}
//   flowControl: {enabled: true, ttl: 30s, maxBytes: 1Gi}
//   objectives: [{name: batch, priority: -1}, {name: chat, priority: 10}]
//   modelRewrites:
//   - match: [llama]
//     targets: [{model: llama-v2, weight: 90}, {model: llama-v3, weight: 10}]
//
// Parsing is strict: an unknown key, a wrong type, an unknown plugin type or an undefined
// pluginRef rejects the file with the key's path and line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "gateway/scheduler.h"

namespace kgai::gateway {

struct SaturationConfig {
  double queue_depth_threshold = 5;          // waiting requests that count as full
  double kv_cache_util_threshold = 0.8;      // KV-cache use that counts as full
  double metrics_staleness_threshold = 2.0;  // seconds; older metrics count as saturated
};

struct FlowControlConfig {
  bool enabled = false;
  double ttl = 30;                       // seconds a request may wait before a 503
  int64_t max_bytes = 1LL << 30;         // request bytes queued in all bands together (429 beyond)
  int64_t max_bytes_per_band = 0;        // 0: only the total applies
  std::string fairness = "round-robin";  // across flows within a band: round-robin | global-strict
  std::string ordering = "fcfs";         // within a flow: fcfs | edf (earliest deadline first)
};

struct ObjectiveConfig {
  std::string name;
  int priority = 0;  // negative: sheddable when the pool is saturated
};

struct RewriteTarget {
  std::string model;
  double weight = 1;
};

struct ModelRewriteConfig {
  std::vector<std::string> match;  // requested model names this rule applies to
  std::vector<RewriteTarget> targets;
};

struct GatewayConfig {
  SchedulingProfile profile;
  SaturationConfig saturation;
  FlowControlConfig flow_control;
  std::vector<ObjectiveConfig> objectives;
  std::vector<ModelRewriteConfig> rewrites;
  std::string session_header = "x-session-id";
  // The profile's plugins with their weights, for --help and logs: "queue-scorer x2, ...".
  std::string describe() const;
};

// Without a file: queue-scorer x2, kv-cache-utilization-scorer x2, prefix-cache-scorer x3,
// max-score-picker (the Inference Gateway's default since v1.2).
GatewayConfig default_gateway_config();

Result<GatewayConfig> parse_gateway_config(std::string_view yaml, std::string_view source);
Result<GatewayConfig> load_gateway_config(const std::string& path);

// "200ms", "2s", "1.5m", "1h" or a plain number of seconds.
Result<double> parse_duration_seconds(std::string_view text);

}  // namespace kgai::gateway
