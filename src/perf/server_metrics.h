// Server-side metrics per benchmark stage: what the model server itself reported while a
// stage ran (KV-cache use, queue, running batch, prefix-cache hit rate, preemptions, its own
// latency means), written next to the client-side lifecycle metrics so a slow stage can be
// explained (queueing? preemption? cache misses?) from the same report folder.
//
// Two sources, picked by metrics.type:
//  - "default" (direct): a background thread scrapes {server.base_url}/metrics every
//    `scrape_interval` while a stage runs, plus once at the stage's start and end, and keeps
//    running aggregates. Needs nothing but the model server.
//  - "prometheus": at each stage's end, asks the Prometheus HTTP API for the stage's window
//    (avg_over_time, max_over_time, increase over [stage seconds]). Sees every replica that
//    Prometheus scrapes (narrowed by metrics.prometheus.filters), not just the base_url.
//
// Metric names drift between engines and versions, so each signal is a list of candidates
// and the first one present wins: vLLM (new and old names), SGLang, trtllm-serve and Triton
// TRT-LLM (as each engine documents its /metrics). A metric the server does not expose is null in
// the report, never an error; a failed scrape or query is counted and reported, never fatal.
//
// A server may expose several series of one metric (one per engine core, model or replica).
// Counts (waiting, running, counters) are summed across series; KV-cache use, a fraction, is
// averaged across series for "mean" and the largest series is taken for "max". Both sources
// follow this rule, so their reports compare.
//
// The JSON of one stage (stage_N_prometheus_metrics.json); the summary
// (summary_prometheus_metrics.json) has the same keys over all stages, with "stages": count
// instead of "stage":
//   {
//     "source": "direct" | "prometheus",
//     "stage": 0,
//     "duration": 12.3,                               // seconds the window covered
//     "kv_cache_usage":       {"mean": 0.41, "max": 0.73},   // 0..1
//     "num_requests_waiting": {"mean": 2.5, "max": 9},
//     "num_requests_running": {"mean": 31.0, "max": 48},
//     "prefix_cache_hit_rate": 0.62,                  // delta hits / delta queries (tokens)
//     "prefix_cache_queries": 51200, "prefix_cache_hits": 31744,
//     "num_preemptions": 0,
//     "num_requests": 120,                            // requests the server finished
//     "prompt_tokens": 61440, "generation_tokens": 15360,
//     "request_latency": {"mean": 1.92},              // server-side E2E, seconds
//     "time_to_first_token": {"mean": 0.081},         // server-side, seconds
//     "scrapes": 13, "scrape_errors": 0,              // prometheus: API queries sent / failed
//     "errors": ["..."]                               // the first few distinct messages
//   }
// Every value may be null when the server does not expose the metric (or, for a delta, when
// fewer than two scrapes saw it). Counter deltas treat a decrease as a restart (as PromQL's
// increase() does). In the summary, gauge means are weighted by scrape count (direct) or
// stage duration (prometheus), counters and latency sums are added up, and ratios recomputed.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/result.h"
#include "perf/config.h"

namespace kgai::perf {

enum class MetricsSource { kDirect, kPrometheus };

struct ServerMetricsOptions {
  MetricsSource source = MetricsSource::kDirect;
  // Direct: the model server's base URL ("/metrics" is appended after any path prefix).
  std::string base_url;
  // Direct: time between background scrapes while a stage runs.
  std::chrono::milliseconds scrape_interval{1000};
  // Prometheus: the server's base URL ("http://prometheus:9090") and extra label matchers
  // ("namespace=\"llm\"") added to every selector.
  std::string prometheus_url;
  std::vector<std::string> filters;
  // Prometheus: its scrape interval in seconds, the resolution of max-of-sum subqueries.
  double prometheus_scrape_interval = 15;
  // For each scrape or API query. Kept short: a slow /metrics must not stall stage ends.
  http::ClientOptions http = {std::chrono::milliseconds(2'000), std::chrono::milliseconds(5'000)};
};

// The options metrics.* and server.base_url of `config` ask for.
ServerMetricsOptions server_metrics_options(const PerfConfig& config);

// Not thread-safe: start_stage, end_stage and summary are called from one thread (the
// runner's); the direct source's background thread is internal.
class ServerMetricsCollector {
 public:
  // Errors only for a URL that cannot be used (not http://host:port/...); an unreachable
  // server is not an error here, it shows up as scrape_errors.
  static Result<std::unique_ptr<ServerMetricsCollector>> create(ServerMetricsOptions options);
  virtual ~ServerMetricsCollector() = default;

  // Marks the start of stage `index` (the direct source scrapes now for counter baselines).
  virtual void start_stage(int index) = 0;
  // Ends the stage started last and returns its JSON (layout above).
  virtual nlohmann::json end_stage(int index) = 0;
  // All ended stages together (layout above).
  virtual nlohmann::json summary() const = 0;
};

// Percent-encodes `text` for a URL query value (everything but RFC 3986 unreserved bytes).
std::string url_encode(std::string_view text);

}  // namespace kgai::perf
