// The gateway's own Prometheus metrics (its /metrics, port 9090 like the Inference Gateway's
// EPP): what it decided and served, and the pool as it sees it, for dashboards and autoscalers.
//
// Families (all prefixed kgai_gateway_):
//   requests_total{model,objective,code}          counter: finished requests by the HTTP status
//                                                  sent to the client (499: the client went away)
//   request_duration_seconds{model}               histogram: arrival to last byte
//   ttft_seconds{model}                           histogram: arrival to first byte of the answer
//                                                  (vLLM's TTFT buckets)
//   input_tokens_total{model}, output_tokens_total{model}   counters (from the response's usage)
//   shed_total{model}                             counter: 429s from saturation shedding
//   decisions_total{endpoint}                     counter: scheduling decisions by picked endpoint
//   decisions_without_endpoint_total              counter: decisions that found no endpoint
//   decision_duration_seconds                     histogram: one decision, 1 µs to 100 ms buckets
//   retries_total{endpoint}                       counter: attempts that failed before the response
//                                                  and were retried elsewhere, by failed endpoint
//   label_values_capped_total{label}              counter: updates whose model / objective /
//                                                  endpoint label became "other", or whose
//                                                  requests_total combination did (label=
//                                                  "requests_total"); see Options
// Gauges computed at scrape time from render()'s arguments:
//   pool_saturation                               the saturation detector's pool average
//                                                  (>= 1: saturated), for autoscalers
//   endpoint_healthy{endpoint}                    1 or 0
//   endpoint_in_flight{endpoint}                  requests the gateway has in flight there
//   endpoint_waiting{endpoint}                    its queue, as last scraped (absent if unknown)
//   endpoint_kv_cache_usage{endpoint}             0..1, as last scraped (absent if unknown)
//   endpoint_metrics_age_seconds{endpoint}        since the last good scrape (+Inf: never)
//   endpoint_ejected{endpoint}                    1 while outlier detection keeps it out
//   endpoint_ejections_total{endpoint}            counter: ejections by outlier detection
//   flow_control_queue_size{priority}             requests waiting in flow control, by band
//   flow_control_queue_bytes                      their body bytes
//
// Label cardinality: model and objective names come from clients, so only the first
// Options::max_models (max_objectives) distinct values get their own series; later ones are
// counted under "other" (a real model called "other" shares that series), and requests_total
// has a cap of its own over all its label combinations. Endpoint addresses are bounded by
// config but churn with pod IPs; they are capped too. Label values are cut to max_label_bytes
// and invalid UTF-8 in them is repaired by the writer, so whatever clients send, the page
// stays valid Prometheus text of bounded size. Series are never removed: a counter that
// vanished and came back would read as a reset.
//
// Thread-safe. An update takes one mutex to find its series (a map lookup) and the series' own
// lock for the increment: a few hundred ns, and proxy threads touching different models do not
// share the second lock. render() copies one series at a time under its lock and formats
// outside all locks, so a scrape of a big registry never stalls the proxy for more than a
// copy of one series.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/http_server.h"
#include "common/stats.h"
#include "gateway/endpoint.h"
#include "gateway/flow_control.h"

namespace kgai::gateway {

// The client connection counters of the gateway's HTTP servers (summed over its threads), as
// Prometheus families to append to GatewayMetrics::render()'s page:
//   kgai_gateway_client_connections                  gauge: open now
//   kgai_gateway_client_connections_refused_total{reason}   counter: per_source (closed
//                                                    unread), accept_error (EMFILE...)
//   kgai_gateway_client_connections_reclaimed_total  counter: idle ones closed at the cap
//   kgai_gateway_accept_paused_total                 counter: times accepting paused at the cap
std::string render_connection_metrics(const http::Server::Stats& stats);

class GatewayMetrics {
 public:
  struct Options {
    size_t max_models = 200;
    size_t max_objectives = 100;
    size_t max_endpoints = 10'000;
    // (model, objective, code) series of requests_total over all models; past it, requests
    // count under model="other", objective="other".
    size_t max_request_series = 5'000;
    // Label values longer than this are cut (at a character boundary).
    size_t max_label_bytes = 128;
  };
  static constexpr std::string_view kOther = "other";

  GatewayMetrics();
  explicit GatewayMetrics(Options options);
  ~GatewayMetrics();
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // One finished request. `code`: the HTTP status sent to the client, or 499 when the client
  // went away. `ttft_seconds` is absent when no byte of the answer was sent. Negative token
  // counts (usage unknown) count as 0.
  void request_done(std::string_view model, std::string_view objective, int code,
                    double duration_seconds, std::optional<double> ttft_seconds,
                    int64_t input_tokens, int64_t output_tokens);
  // One scheduling decision and how long it took; an empty address: no endpoint could serve.
  void decision(std::string_view endpoint_address, double decision_seconds);
  // An attempt on `endpoint_address` failed before the response started and was retried.
  void retry(std::string_view endpoint_address);
  // A 429 from saturation shedding.
  void shed(std::string_view model);

  // Prometheus text (format 0.0.4): the counters and histograms above plus gauges from the
  // arguments. `now` dates the endpoints' metrics ages.
  std::string render(const PoolSnapshot& pool, double pool_saturation,
                     const FlowController::Stats& flow,
                     SteadyTime now = SteadyTime::clock::now()) const;

 private:
  struct ModelSeries;
  struct EndpointSeries;

  ModelSeries& model_series(std::string_view model);
  EndpointSeries& endpoint_series(std::string_view address);
  // The objective's label value after the cap (lock held).
  std::string_view objective_label(std::string_view objective);

  const Options options_;
  mutable std::mutex mutex_;  // guards the maps (not the series' values) and the cap counters
  std::map<std::string, std::unique_ptr<ModelSeries>, std::less<>> models_;
  std::map<std::string, std::unique_ptr<EndpointSeries>, std::less<>> endpoints_;
  std::set<std::string, std::less<>> objectives_;  // admitted objective names
  uint64_t capped_models_ = 0, capped_objectives_ = 0, capped_endpoints_ = 0;
  std::atomic<size_t> request_series_{0};
  std::atomic<uint64_t> capped_request_series_{0};

  mutable std::mutex decision_mutex_;
  stats::BucketHistogram decision_seconds_;
  uint64_t decisions_without_endpoint_ = 0;
};

}  // namespace kgai::gateway
