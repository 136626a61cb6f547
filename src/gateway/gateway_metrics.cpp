#include "gateway/gateway_metrics.h"

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/prometheus.h"
#include "common/utf8.h"

namespace kgai::gateway {

namespace {

// vLLM's vllm:time_to_first_token_seconds buckets, so gateway and engine TTFTs compare bucket
// for bucket (the gateway's includes the decision and the network).
std::vector<double> ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}
// vLLM's e2e request latency buckets, below them a few for fast errors (400, 429, 503).
std::vector<double> request_duration_buckets() {
  return {0.005, 0.025, 0.1,  0.3,  0.5,  0.8,  1.0,   1.5,   2.0,   2.5,   5.0,    10.0,
          15.0,  20.0,  30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}
// A decision is meant to take microseconds; 100 ms would be a stall.
std::vector<double> decision_buckets() {
  return {1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5,   1e-4, 2.5e-4,
          5e-4, 1e-3,   2.5e-3, 5e-3, 1e-2,   2.5e-2, 5e-2, 0.1};
}

constexpr std::string_view kPrefix = "kgai_gateway_";

std::string name(std::string_view suffix) {
  std::string out(kPrefix);
  out += suffix;
  return out;
}

}  // namespace

struct GatewayMetrics::ModelSeries {
  ModelSeries() : duration(request_duration_buckets()), ttft(ttft_buckets()) {}
  ModelSeries(const ModelSeries& other) = delete;

  // A copy of the values, taken under the lock for render().
  struct Values {
    std::map<std::pair<std::string_view, int>, uint64_t> requests;  // (objective, code)
    stats::BucketHistogram duration{{}};
    stats::BucketHistogram ttft{{}};
    uint64_t input_tokens = 0, output_tokens = 0, shed = 0;
  };
  Values values() const {
    std::lock_guard lock(mutex);
    return Values{requests, duration, ttft, input_tokens, output_tokens, shed};
  }

  mutable std::mutex mutex;
  // Objective views point into GatewayMetrics::objectives_ (nodes never removed) or kOther.
  std::map<std::pair<std::string_view, int>, uint64_t> requests;
  stats::BucketHistogram duration;
  stats::BucketHistogram ttft;
  uint64_t input_tokens = 0, output_tokens = 0, shed = 0;
};

struct GatewayMetrics::EndpointSeries {
  std::atomic<uint64_t> decisions{0};
  std::atomic<uint64_t> retries{0};
};

std::string render_connection_metrics(const http::Server::Stats& stats) {
  using prom::MetricType;
  prom::TextWriter w;
  const std::string open = name("client_connections");
  w.family(open, MetricType::kGauge, "Client connections open now.");
  w.sample(open, {}, static_cast<double>(stats.open_connections));
  const std::string refused = name("client_connections_refused_total");
  w.family(refused, MetricType::kCounter,
           "Client connections refused: over --max-connections-per-source (closed unread), or "
           "accept() failing (out of descriptors or memory).");
  w.sample(refused, {{"reason", "per_source"}}, static_cast<double>(stats.rejected_per_source));
  w.sample(refused, {{"reason", "accept_error"}}, static_cast<double>(stats.accept_errors));
  const std::string reclaimed = name("client_connections_reclaimed_total");
  w.family(reclaimed, MetricType::kCounter,
           "Idle keep-alive connections closed at --max-connections to make room for a new one.");
  w.sample(reclaimed, {}, static_cast<double>(stats.reclaimed_idle));
  const std::string paused = name("accept_paused_total");
  w.family(paused, MetricType::kCounter, "Times accepting paused at --max-connections.");
  w.sample(paused, {}, static_cast<double>(stats.paused_at_limit));
  return w.take();
}

GatewayMetrics::GatewayMetrics() : GatewayMetrics(Options{}) {}

GatewayMetrics::GatewayMetrics(Options options)
    : options_(options), decision_seconds_(decision_buckets()) {}

GatewayMetrics::~GatewayMetrics() = default;

GatewayMetrics::ModelSeries& GatewayMetrics::model_series(std::string_view model) {
  // Lock held by the caller.
  model = utf8_prefix(model, options_.max_label_bytes);
  if (auto it = models_.find(model); it != models_.end()) return *it->second;
  // The cap counts real names only; "other" itself is always admitted.
  std::string_view key = model;
  if (model != kOther && models_.size() - models_.count(kOther) >= options_.max_models) {
    ++capped_models_;
    key = kOther;
    if (auto it = models_.find(key); it != models_.end()) return *it->second;
  }
  return *models_.emplace(std::string(key), std::make_unique<ModelSeries>()).first->second;
}

GatewayMetrics::EndpointSeries& GatewayMetrics::endpoint_series(std::string_view address) {
  address = utf8_prefix(address, options_.max_label_bytes);
  if (auto it = endpoints_.find(address); it != endpoints_.end()) return *it->second;
  std::string_view key = address;
  if (address != kOther && endpoints_.size() - endpoints_.count(kOther) >= options_.max_endpoints) {
    ++capped_endpoints_;
    key = kOther;
    if (auto it = endpoints_.find(key); it != endpoints_.end()) return *it->second;
  }
  return *endpoints_.emplace(std::string(key), std::make_unique<EndpointSeries>()).first->second;
}

std::string_view GatewayMetrics::objective_label(std::string_view objective) {
  objective = utf8_prefix(objective, options_.max_label_bytes);
  if (auto it = objectives_.find(objective); it != objectives_.end()) return *it;
  if (objective == kOther) return kOther;
  if (objectives_.size() >= options_.max_objectives) {
    ++capped_objectives_;
    return kOther;
  }
  return *objectives_.emplace(objective).first;
}

void GatewayMetrics::request_done(std::string_view model, std::string_view objective, int code,
                                  double duration_seconds, std::optional<double> ttft_seconds,
                                  int64_t input_tokens, int64_t output_tokens) {
  ModelSeries* series;
  std::string_view objective_key;
  {
    std::lock_guard lock(mutex_);
    series = &model_series(model);
    objective_key = objective_label(objective);
  }
  // Counts the request under (objective, code) of `s`. A new label combination is admitted
  // while requests_total has room, or always when `overflow` (the ("other", "other")
  // combinations, bounded by the status codes).
  auto record = [&](ModelSeries& s, std::string_view objective_label, bool overflow) {
    std::lock_guard lock(s.mutex);
    auto it = s.requests.find({objective_label, code});
    if (it == s.requests.end()) {
      if (!overflow &&
          request_series_.fetch_add(1, std::memory_order_relaxed) >= options_.max_request_series) {
        request_series_.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      it = s.requests.emplace(std::pair{objective_label, code}, 0).first;
    }
    ++it->second;
    s.duration.observe(duration_seconds);
    if (ttft_seconds) s.ttft.observe(*ttft_seconds);
    s.input_tokens += static_cast<uint64_t>(std::max<int64_t>(0, input_tokens));
    s.output_tokens += static_cast<uint64_t>(std::max<int64_t>(0, output_tokens));
    return true;
  };
  if (record(*series, objective_key, false)) return;
  capped_request_series_.fetch_add(1, std::memory_order_relaxed);
  ModelSeries* other;
  {
    std::lock_guard lock(mutex_);
    other = &model_series(kOther);
  }
  record(*other, kOther, true);
}

void GatewayMetrics::decision(std::string_view endpoint_address, double decision_seconds) {
  {
    std::lock_guard lock(decision_mutex_);
    decision_seconds_.observe(decision_seconds);
    if (endpoint_address.empty()) {
      ++decisions_without_endpoint_;
      return;
    }
  }
  EndpointSeries* series;
  {
    std::lock_guard lock(mutex_);
    series = &endpoint_series(endpoint_address);
  }
  series->decisions.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::retry(std::string_view endpoint_address) {
  EndpointSeries* series;
  {
    std::lock_guard lock(mutex_);
    series = &endpoint_series(endpoint_address);
  }
  series->retries.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::shed(std::string_view model) {
  ModelSeries* series;
  {
    std::lock_guard lock(mutex_);
    series = &model_series(model);
  }
  std::lock_guard lock(series->mutex);
  ++series->shed;
}

std::string GatewayMetrics::render(const PoolSnapshot& pool, double pool_saturation,
                                   const FlowController::Stats& flow, SteadyTime now) const {
  // Series pointers and names are stable (never removed), so the registry lock covers only
  // this list; each series is then copied under its own lock.
  std::vector<std::pair<std::string_view, const ModelSeries*>> model_list;
  std::vector<std::pair<std::string_view, const EndpointSeries*>> endpoint_list;
  uint64_t capped_models, capped_objectives, capped_endpoints;
  {
    std::lock_guard lock(mutex_);
    model_list.reserve(models_.size());
    for (const auto& [model, series] : models_) model_list.emplace_back(model, series.get());
    endpoint_list.reserve(endpoints_.size());
    for (const auto& [address, series] : endpoints_) {
      endpoint_list.emplace_back(address, series.get());
    }
    capped_models = capped_models_;
    capped_objectives = capped_objectives_;
    capped_endpoints = capped_endpoints_;
  }
  std::vector<ModelSeries::Values> models;
  models.reserve(model_list.size());
  for (const auto& entry : model_list) models.push_back(entry.second->values());
  stats::BucketHistogram decision_seconds{{}};
  uint64_t without_endpoint;
  {
    std::lock_guard lock(decision_mutex_);
    decision_seconds = decision_seconds_;
    without_endpoint = decisions_without_endpoint_;
  }

  using prom::MetricType;
  prom::TextWriter w;
  const std::string requests = name("requests_total");
  w.family(requests, MetricType::kCounter,
           "Finished requests by model, objective and the HTTP status sent to the client (499: "
           "the client went away).");
  for (size_t m = 0; m < models.size(); ++m) {
    for (const auto& [key, count] : models[m].requests) {
      char code[16];
      const auto size = fmt::format_to_n(code, sizeof code, "{}", key.second).size;
      w.sample(requests,
               {{"model", model_list[m].first},
                {"objective", key.first},
                {"code", std::string_view(code, size)}},
               static_cast<double>(count));
    }
  }
  const std::string duration = name("request_duration_seconds");
  w.family(duration, MetricType::kHistogram,
           "Request duration from arrival at the gateway to the last byte sent, in seconds.");
  for (size_t m = 0; m < models.size(); ++m) {
    if (models[m].duration.count() > 0) {
      w.histogram(duration, {{"model", model_list[m].first}}, models[m].duration);
    }
  }
  const std::string ttft = name("ttft_seconds");
  w.family(ttft, MetricType::kHistogram,
           "Time from arrival at the gateway to the first byte of the answer, in seconds.");
  for (size_t m = 0; m < models.size(); ++m) {
    if (models[m].ttft.count() > 0) {
      w.histogram(ttft, {{"model", model_list[m].first}}, models[m].ttft);
    }
  }
  // A model seen only in shed() has no token series, and one never shed no shed series.
  auto per_model = [&](std::string_view suffix, std::string_view help,
                       uint64_t ModelSeries::Values::*field,
                       bool (*has)(const ModelSeries::Values&)) {
    const std::string family = name(suffix);
    w.family(family, MetricType::kCounter, help);
    for (size_t m = 0; m < models.size(); ++m) {
      if (!has(models[m])) continue;
      w.sample(family, {{"model", model_list[m].first}}, static_cast<double>(models[m].*field));
    }
  };
  auto finished = [](const ModelSeries::Values& v) { return !v.requests.empty(); };
  per_model("input_tokens_total", "Prompt tokens of finished requests, from the response usage.",
            &ModelSeries::Values::input_tokens, finished);
  per_model("output_tokens_total",
            "Generated tokens of finished requests, from the response usage.",
            &ModelSeries::Values::output_tokens, finished);
  per_model("shed_total", "Requests rejected with 429 because the pool was saturated.",
            &ModelSeries::Values::shed, [](const ModelSeries::Values& v) { return v.shed > 0; });

  const std::string decisions = name("decisions_total");
  w.family(decisions, MetricType::kCounter, "Scheduling decisions by the endpoint picked.");
  for (const auto& [address, series] : endpoint_list) {
    const uint64_t n = series->decisions.load(std::memory_order_relaxed);
    if (n > 0) w.sample(decisions, {{"endpoint", address}}, static_cast<double>(n));
  }
  const std::string no_endpoint = name("decisions_without_endpoint_total");
  w.family(no_endpoint, MetricType::kCounter, "Scheduling decisions that found no endpoint.");
  w.sample(no_endpoint, {}, static_cast<double>(without_endpoint));
  const std::string decision_duration = name("decision_duration_seconds");
  w.family(decision_duration, MetricType::kHistogram,
           "Time to take one scheduling decision (filters, scorers, picker), in seconds.");
  w.histogram(decision_duration, {}, decision_seconds);
  const std::string retries = name("retries_total");
  w.family(retries, MetricType::kCounter,
           "Attempts that failed before the response started and were retried elsewhere, by the "
           "endpoint that failed.");
  for (const auto& [address, series] : endpoint_list) {
    const uint64_t n = series->retries.load(std::memory_order_relaxed);
    if (n > 0) w.sample(retries, {{"endpoint", address}}, static_cast<double>(n));
  }
  const std::string capped = name("label_values_capped_total");
  w.family(capped, MetricType::kCounter,
           "Updates whose label value was replaced by \"other\" because the label had too many "
           "distinct values.");
  w.sample(capped, {{"label", "model"}}, static_cast<double>(capped_models));
  w.sample(capped, {{"label", "objective"}}, static_cast<double>(capped_objectives));
  w.sample(capped, {{"label", "endpoint"}}, static_cast<double>(capped_endpoints));
  w.sample(capped, {{"label", "requests_total"}},
           static_cast<double>(capped_request_series_.load(std::memory_order_relaxed)));

  const std::string saturation = name("pool_saturation");
  w.family(saturation, MetricType::kGauge,
           "The pool's saturation: the average over endpoints of max(waiting / "
           "queueDepthThreshold, kv / kvCacheUtilThreshold); 1 or more is saturated.");
  w.sample(saturation, {}, pool_saturation);
  auto per_endpoint = [&](std::string_view suffix, std::string_view help, auto value) {
    const std::string family = name(suffix);
    w.family(family, MetricType::kGauge, help);
    for (const EndpointState& e : pool.endpoints) {
      if (!e.endpoint) continue;
      if (std::optional<double> v = value(e)) {
        w.sample(family, {{"endpoint", e.endpoint->address}}, *v);
      }
    }
  };
  per_endpoint("endpoint_healthy", "1 if the endpoint's last scrape or connection succeeded.",
               [](const EndpointState& e) { return std::optional<double>(e.healthy ? 1 : 0); });
  per_endpoint("endpoint_in_flight", "Requests the gateway has sent to the endpoint, unfinished.",
               [](const EndpointState& e) {
                 return std::optional<double>(static_cast<double>(e.in_flight()));
               });
  per_endpoint("endpoint_waiting", "Requests waiting in the endpoint's queue, as last scraped.",
               [](const EndpointState& e) { return e.metrics.waiting; });
  per_endpoint("endpoint_kv_cache_usage", "The endpoint's KV-cache use (0 to 1), as last scraped.",
               [](const EndpointState& e) { return e.metrics.kv_usage; });
  per_endpoint("endpoint_metrics_age_seconds",
               "Seconds since the endpoint's last successful scrape (+Inf: never).",
               [now](const EndpointState& e) { return std::optional<double>(e.metrics_age(now)); });
  per_endpoint("endpoint_ejected",
               "1 while outlier detection keeps the endpoint out of scheduling after failed "
               "requests.",
               [now](const EndpointState& e) { return std::optional<double>(e.ejected(now)); });
  {
    const std::string family = name("endpoint_ejections_total");
    w.family(family, MetricType::kCounter,
             "Times outlier detection ejected the endpoint after failed requests in a row.");
    for (const EndpointState& e : pool.endpoints) {
      if (!e.endpoint || !e.load) continue;
      w.sample(family, {{"endpoint", e.endpoint->address}},
               static_cast<double>(e.load->ejections.load(std::memory_order_relaxed)));
    }
  }

  const std::string queue_size = name("flow_control_queue_size");
  w.family(queue_size, MetricType::kGauge, "Requests waiting in flow control, by priority band.");
  for (const auto& [priority, size] : flow.queued_by_priority) {
    char text[16];
    const auto n = fmt::format_to_n(text, sizeof text, "{}", priority).size;
    w.sample(queue_size, {{"priority", std::string_view(text, n)}}, static_cast<double>(size));
  }
  const std::string queue_bytes = name("flow_control_queue_bytes");
  w.family(queue_bytes, MetricType::kGauge, "Body bytes of the requests waiting in flow control.");
  w.sample(queue_bytes, {}, static_cast<double>(flow.queued_bytes));
  return w.take();
}

}  // namespace kgai::gateway
