#include "perf/server_metrics.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include <fmt/format.h>

#include "common/prometheus.h"

namespace kgai::perf {

namespace {

using Clock = std::chrono::steady_clock;

// One way a server may spell a signal: an exact sample name, optionally with one label that
// must match (Triton puts several signals in one family, told apart by a label).
struct Selector {
  std::string_view sample;
  std::string_view label = {};
  std::string_view value = {};
};

// Gauges: read once per scrape (direct) or over the window (prometheus).
enum GaugeId { kKvCache, kWaiting, kRunning, kNumGauges };

struct GaugeSpec {
  std::string_view key;
  // KV-cache use is a fraction per engine: averaging across series keeps it in 0..1.
  // Queue and batch sizes are counts: summing across series gives the server's total.
  bool fraction;
  std::vector<Selector> candidates;
};

// Counters and histogram sums/counts: reported as their increase over the window. Both
// spellings of a counter are listed (x_total first) since exporters differ.
enum CounterId {
  kPrefixQueries,
  kPrefixHits,
  kPreemptions,
  kRequests,
  kPromptTokens,
  kGenerationTokens,
  kE2eSum,
  kE2eCount,
  kTtftSum,
  kTtftCount,
  kNumCounters
};

struct CounterSpec {
  std::string_view key;
  std::vector<Selector> candidates;
};

const std::array<GaugeSpec, kNumGauges>& gauge_specs() {
  static const std::array<GaugeSpec, kNumGauges> specs = {{
      {"kv_cache_usage",
       true,
       {{"vllm:kv_cache_usage_perc"},
        {"vllm:gpu_cache_usage_perc"},  // before vLLM 0.10
        {"sglang:token_usage"},
        {"trtllm_kv_cache_utilization"},
        {"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "fraction"}}},
      {"num_requests_waiting",
       false,
       {{"vllm:num_requests_waiting"},
        {"sglang:num_queue_reqs"},
        {"trtllm_num_requests_waiting"},
        {"nv_trt_llm_request_metrics", "request_type", "waiting"}}},
      {"num_requests_running",
       false,
       {{"vllm:num_requests_running"},
        {"sglang:num_running_reqs"},
        {"trtllm_num_requests_running"},
        {"nv_trt_llm_request_metrics", "request_type", "scheduled"}}},
  }};
  return specs;
}

const std::array<CounterSpec, kNumCounters>& counter_specs() {
  static const std::array<CounterSpec, kNumCounters> specs = {{
      {"prefix_cache_queries",
       {{"vllm:prefix_cache_queries_total"}, {"vllm:prefix_cache_queries"}}},
      {"prefix_cache_hits", {{"vllm:prefix_cache_hits_total"}, {"vllm:prefix_cache_hits"}}},
      {"num_preemptions", {{"vllm:num_preemptions_total"}, {"vllm:num_preemptions"}}},
      {"num_requests", {{"vllm:request_success_total"}, {"vllm:request_success"}}},
      {"prompt_tokens",
       {{"vllm:prompt_tokens_total"},
        {"vllm:prompt_tokens"},
        {"sglang:prompt_tokens_total"},
        {"sglang:prompt_tokens"}}},
      {"generation_tokens",
       {{"vllm:generation_tokens_total"},
        {"vllm:generation_tokens"},
        {"sglang:generation_tokens_total"},
        {"sglang:generation_tokens"}}},
      {"e2e_sum",
       {{"vllm:e2e_request_latency_seconds_sum"}, {"sglang:e2e_request_latency_seconds_sum"}}},
      {"e2e_count",
       {{"vllm:e2e_request_latency_seconds_count"}, {"sglang:e2e_request_latency_seconds_count"}}},
      {"ttft_sum",
       {{"vllm:time_to_first_token_seconds_sum"}, {"sglang:time_to_first_token_seconds_sum"}}},
      {"ttft_count",
       {{"vllm:time_to_first_token_seconds_count"}, {"sglang:time_to_first_token_seconds_count"}}},
  }};
  return specs;
}

nlohmann::json optional_json(std::optional<double> v) {
  if (!v) return nullptr;
  return *v;
}

std::optional<double> ratio(std::optional<double> num, std::optional<double> den) {
  if (!num || !den || !(*den > 0)) return std::nullopt;
  return *num / *den;
}

// A gauge over a window: a weighted mean (weight = scrapes, or seconds for Prometheus, so
// that windows merge) and the maximum.
struct GaugeStat {
  double weighted_sum = 0;
  double weight = 0;
  std::optional<double> max;

  void add_mean(double mean, double w) {
    weighted_sum += mean * w;
    weight += w;
  }
  void add_max(double m) { max = max ? std::max(*max, m) : m; }
  void merge(const GaugeStat& o) {
    weighted_sum += o.weighted_sum;
    weight += o.weight;
    if (o.max) add_max(*o.max);
  }
  nlohmann::json to_json() const {
    return {{"mean", weight > 0 ? nlohmann::json(weighted_sum / weight) : nlohmann::json(nullptr)},
            {"max", optional_json(max)}};
  }
};

// What one stage (or the whole run, merged) saw. Everything in it adds up across stages.
struct Window {
  double duration = 0;
  std::array<GaugeStat, kNumGauges> gauges;
  std::array<std::optional<double>, kNumCounters> counters;  // increases
  int scrapes = 0;
  int scrape_errors = 0;
  std::vector<std::string> errors;

  void add_counter(int id, double increase) { counters[id] = counters[id].value_or(0) + increase; }
  void add_error(std::string message) {
    ++scrape_errors;
    remember(std::move(message));
  }
  // A dead server fails every scrape the same way; a few distinct messages are enough.
  void remember(std::string message) {
    constexpr size_t kMaxMessages = 5;
    if (errors.size() < kMaxMessages &&
        std::find(errors.begin(), errors.end(), message) == errors.end()) {
      errors.push_back(std::move(message));
    }
  }
  void merge(const Window& o) {
    duration += o.duration;
    for (int i = 0; i < kNumGauges; ++i) gauges[i].merge(o.gauges[i]);
    for (int i = 0; i < kNumCounters; ++i) {
      if (o.counters[i]) add_counter(i, *o.counters[i]);
    }
    scrapes += o.scrapes;
    scrape_errors += o.scrape_errors;
    for (const auto& e : o.errors) remember(e);
  }

  nlohmann::json to_json(MetricsSource source) const {
    nlohmann::json j;
    j["source"] = source == MetricsSource::kDirect ? "direct" : "prometheus";
    j["duration"] = duration;
    for (int i = 0; i < kNumGauges; ++i) j[gauge_specs()[i].key] = gauges[i].to_json();
    j["prefix_cache_hit_rate"] =
        optional_json(ratio(counters[kPrefixHits], counters[kPrefixQueries]));
    for (int id :
         {kPrefixQueries, kPrefixHits, kPreemptions, kRequests, kPromptTokens, kGenerationTokens}) {
      j[counter_specs()[id].key] = optional_json(counters[id]);
    }
    j["request_latency"] = {{"mean", optional_json(ratio(counters[kE2eSum], counters[kE2eCount]))}};
    j["time_to_first_token"] = {
        {"mean", optional_json(ratio(counters[kTtftSum], counters[kTtftCount]))}};
    j["scrapes"] = scrapes;
    j["scrape_errors"] = scrape_errors;
    j["errors"] = errors;
    return j;
  }
};

std::string trim_prefix(std::string target) {
  if (target == "/") return {};
  while (!target.empty() && target.back() == '/') target.pop_back();
  return target;
}

// ---------------------------------------------------------------------------------------
// Direct scraping.

// The values of one signal in one scrape, across the series that matched.
struct Reading {
  double sum = 0;
  double max = -std::numeric_limits<double>::infinity();
  int series = 0;
};

bool matches(const prom::Sample& s, const Selector& c) {
  if (s.name != c.sample) return false;
  if (c.label.empty()) return true;
  const std::string* v = s.label(c.label);
  return v != nullptr && *v == c.value;
}

// The first candidate with at least one (non-NaN) sample wins; later spellings are not
// added in, so a server exposing both vLLM names is not counted twice.
std::optional<Reading> read_signal(const prom::Exposition& e,
                                   std::span<const Selector> candidates) {
  for (const Selector& c : candidates) {
    Reading r;
    for (const auto& family : e.families) {
      for (const auto& s : family.samples) {
        if (!matches(s, c) || std::isnan(s.value)) continue;
        r.sum += s.value;
        r.max = std::max(r.max, s.value);
        ++r.series;
      }
    }
    if (r.series > 0) return r;
  }
  return std::nullopt;
}

struct Snapshot {
  std::array<std::optional<Reading>, kNumGauges> gauges;
  std::array<std::optional<double>, kNumCounters> counters;
};

Snapshot take_snapshot(const prom::Exposition& e) {
  Snapshot s;
  for (int i = 0; i < kNumGauges; ++i) s.gauges[i] = read_signal(e, gauge_specs()[i].candidates);
  for (int i = 0; i < kNumCounters; ++i) {
    if (auto r = read_signal(e, counter_specs()[i].candidates)) s.counters[i] = r->sum;
  }
  return s;
}

class DirectCollector final : public ServerMetricsCollector {
 public:
  DirectCollector(ServerMetricsOptions options, std::string metrics_url)
      : options_(std::move(options)), metrics_url_(std::move(metrics_url)) {
    thread_ = std::thread([this] { loop(); });
  }

  ~DirectCollector() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void start_stage(int index) override {
    std::lock_guard scrape_lock(scrape_mutex_);
    {
      std::lock_guard lock(mutex_);
      window_ = Window{};
      last_counters_ = {};
      stage_ = index;
      stage_start_ = Clock::now();
      active_ = true;
    }
    scrape_and_apply();
    cv_.notify_all();  // restart the background interval from this baseline
  }

  nlohmann::json end_stage(int index) override {
    Window window;
    {
      // Held across the final scrape so no background scrape lands after it.
      std::lock_guard scrape_lock(scrape_mutex_);
      scrape_and_apply();
      std::lock_guard lock(mutex_);
      active_ = false;
      window_.duration = std::chrono::duration<double>(Clock::now() - stage_start_).count();
      window = std::move(window_);
    }
    summary_.merge(window);
    ++stages_;
    nlohmann::json j = window.to_json(MetricsSource::kDirect);
    j["stage"] = index;
    return j;
  }

  nlohmann::json summary() const override {
    nlohmann::json j = summary_.to_json(MetricsSource::kDirect);
    j["stages"] = stages_;
    return j;
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || active_; });
      if (stop_) return;
      const int stage = stage_;
      // Woken early by start_stage (new baseline) or stop: start the interval over.
      if (cv_.wait_for(lock, options_.scrape_interval, [&] { return stop_ || stage_ != stage; })) {
        continue;
      }
      if (!active_) continue;
      lock.unlock();
      {
        std::lock_guard scrape_lock(scrape_mutex_);
        scrape_and_apply();
      }
      lock.lock();
    }
  }

  // Requires scrape_mutex_: scrapes apply in the order they were taken, which counter deltas
  // need. The HTTP exchange runs outside mutex_ so end_stage's caller only waits for one
  // scrape at most.
  void scrape_and_apply() {
    {
      std::lock_guard lock(mutex_);
      if (!active_) return;
    }
    auto snapshot = scrape();
    std::lock_guard lock(mutex_);
    if (!active_) return;
    ++window_.scrapes;
    if (!snapshot) return window_.add_error(std::move(snapshot.error().message));
    for (int i = 0; i < kNumGauges; ++i) {
      const auto& r = snapshot->gauges[i];
      if (!r) continue;
      const bool fraction = gauge_specs()[i].fraction;
      window_.gauges[i].add_mean(fraction ? r->sum / r->series : r->sum, 1);
      window_.gauges[i].add_max(fraction ? r->max : r->sum);
    }
    for (int i = 0; i < kNumCounters; ++i) {
      const auto& now = snapshot->counters[i];
      if (!now) continue;
      if (const auto& before = last_counters_[i]) {
        // A counter that went down was reset (server restart): count from zero.
        window_.add_counter(i, *now >= *before ? *now - *before : *now);
      }
      last_counters_[i] = now;
    }
  }

  Result<Snapshot> scrape() const {
    auto response = http::get(metrics_url_, options_.http);
    if (!response) return fail("GET {}: {}", metrics_url_, response.error().message);
    if (response->status != 200) {
      return fail("GET {}: status {}", metrics_url_, response->status);
    }
    auto parsed = prom::parse_text(response->body);
    if (!parsed) return fail("GET {}: {}", metrics_url_, parsed.error().message);
    return take_snapshot(*parsed);
  }

  const ServerMetricsOptions options_;
  const std::string metrics_url_;

  std::mutex scrape_mutex_;  // serializes scrapes (taken before mutex_)
  std::mutex mutex_;         // guards everything below up to summary_
  std::condition_variable cv_;
  bool stop_ = false;
  bool active_ = false;
  int stage_ = -1;
  Clock::time_point stage_start_;
  Window window_;
  std::array<std::optional<double>, kNumCounters> last_counters_;

  // The caller's thread only.
  Window summary_;
  int stages_ = 0;

  std::thread thread_;  // last: starts after the members it reads exist
};

// ---------------------------------------------------------------------------------------
// Prometheus HTTP API.

// The value of an instant query: series are added up (the queries below aggregate to one
// series already, so this only matters for hand-written filters that split them); an empty
// result is nullopt. NaN samples (e.g. avg over no data) are skipped.
Result<std::optional<double>> parse_query_result(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  const std::string status = j.value("status", "");
  if (status != "success") {
    std::string what = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                     : "no error message";
    std::string type = j.contains("errorType") && j["errorType"].is_string()
                           ? j["errorType"].get<std::string>()
                           : "error";
    return fail("status '{}': {}: {}", status, type, what);
  }
  if (!j.contains("data") || !j["data"].is_object()) return fail("no 'data' object");
  const auto& data = j["data"];
  const std::string type = data.value("resultType", "");
  auto read_value = [](const nlohmann::json& pair) -> Result<std::optional<double>> {
    // [unix time, "value"]: Prometheus sends values as strings to keep NaN and Inf.
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
      return fail("a value is not [time, \"number\"]");
    }
    auto v = prom::parse_value(pair[1].get<std::string>());
    if (!v) return fail("bad sample value '{}'", pair[1].get<std::string>());
    if (std::isnan(*v)) return std::optional<double>();
    return std::optional<double>(*v);
  };
  if (type == "scalar") return read_value(data.value("result", nlohmann::json()));
  if (type != "vector") return fail("resultType '{}', expected vector", type);
  if (!data.contains("result") || !data["result"].is_array()) return fail("no 'result' array");
  std::optional<double> total;
  for (const auto& series : data["result"]) {
    if (!series.is_object() || !series.contains("value")) return fail("a series has no value");
    auto v = read_value(series["value"]);
    if (!v) return fail(v.error());
    if (*v) total = total.value_or(0) + **v;
  }
  return total;
}

class PrometheusCollector final : public ServerMetricsCollector {
 public:
  PrometheusCollector(ServerMetricsOptions options, http::Url url)
      : options_(std::move(options)),
        prefix_(trim_prefix(url.target)),
        client_(url.host, url.port, options_.http) {
    for (const auto& f : options_.filters) {
      if (!matchers_.empty()) matchers_ += ',';
      matchers_ += f;
    }
  }

  void start_stage(int index) override {
    (void)index;
    stage_start_ = Clock::now();
  }

  nlohmann::json end_stage(int index) override {
    Window window;
    const double elapsed = std::chrono::duration<double>(Clock::now() - stage_start_).count();
    window.duration = elapsed;
    // PromQL ranges are whole units; rounding up keeps the stage's first samples inside.
    const std::string range =
        fmt::format("{}s", std::max<long long>(1, std::llround(std::ceil(elapsed))));
    const std::string step = fmt::format(
        "{}ms", std::max<long long>(1, std::llround(options_.prometheus_scrape_interval * 1e3)));
    const double time =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

    for (int i = 0; i < kNumGauges; ++i) {
      const GaugeSpec& spec = gauge_specs()[i];
      std::string mean_query, max_query;
      if (spec.fraction) {
        mean_query = any_of(spec.candidates, "avg(avg_over_time({}[" + range + "]))");
        max_query = any_of(spec.candidates, "max(max_over_time({}[" + range + "]))");
      } else {
        // The max of the sum over time needs a subquery; the sum of per-series maxima would
        // overstate it when replicas peak at different moments.
        mean_query = any_of(spec.candidates, "sum(avg_over_time({}[" + range + "]))");
        max_query = any_of(spec.candidates, "max_over_time(sum({})[" + range + ":" + step + "])");
      }
      if (auto v = query(mean_query, time, window)) window.gauges[i].add_mean(*v, elapsed);
      if (auto v = query(max_query, time, window)) window.gauges[i].add_max(*v);
    }
    for (int i = 0; i < kNumCounters; ++i) {
      auto q = any_of(counter_specs()[i].candidates, "sum(increase({}[" + range + "]))");
      if (auto v = query(q, time, window)) window.counters[i] = *v;
    }
    summary_.merge(window);
    ++stages_;
    nlohmann::json j = window.to_json(MetricsSource::kPrometheus);
    j["stage"] = index;
    return j;
  }

  nlohmann::json summary() const override {
    nlohmann::json j = summary_.to_json(MetricsSource::kPrometheus);
    j["stages"] = stages_;
    return j;
  }

 private:
  std::string selector(const Selector& c) const {
    std::string m;
    if (!c.label.empty()) m = fmt::format("{}=\"{}\"", c.label, c.value);
    if (!matchers_.empty()) m += (m.empty() ? "" : ",") + matchers_;
    return m.empty() ? std::string(c.sample) : fmt::format("{}{{{}}}", c.sample, m);
  }

  // `pattern` with "{}" replaced by each candidate's selector, joined by "or": each branch
  // aggregates to one label-less series, so "or" keeps the first branch with data, the same
  // first-present-wins rule as direct scraping.
  std::string any_of(const std::vector<Selector>& candidates, const std::string& pattern) const {
    std::string out;
    for (const auto& c : candidates) {
      if (!out.empty()) out += " or ";
      std::string q = pattern;
      q.replace(q.find("{}"), 2, selector(c));
      out += q;
    }
    return out;
  }

  // One instant query; a failure is recorded in `window` and reads as no value.
  std::optional<double> query(const std::string& promql, double time, Window& window) {
    ++window.scrapes;
    const std::string target =
        fmt::format("{}/api/v1/query?query={}&time={:.3f}", prefix_, url_encode(promql), time);
    http::Request request;
    request.target = target;
    auto response = client_.send(request);
    if (!response) {
      window.add_error(fmt::format("Prometheus query: {}", response.error().message));
      return std::nullopt;
    }
    // Prometheus answers 400/422/503 with the same JSON envelope; its message is the useful part.
    auto value = parse_query_result(response->body);
    if (!value) {
      window.add_error(
          fmt::format("Prometheus query (status {}): {}", response->status, value.error().message));
      return std::nullopt;
    }
    if (response->status != 200) {
      window.add_error(fmt::format("Prometheus query: status {}", response->status));
      return std::nullopt;
    }
    return *value;
  }

  const ServerMetricsOptions options_;
  const std::string prefix_;
  std::string matchers_;
  http::Client client_;
  Clock::time_point stage_start_ = Clock::now();
  Window summary_;
  int stages_ = 0;
};

}  // namespace

std::string url_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

ServerMetricsOptions server_metrics_options(const PerfConfig& config) {
  ServerMetricsOptions options;
  options.base_url = config.server.base_url;
  options.scrape_interval = std::chrono::milliseconds(
      std::max<long long>(1, std::llround(config.metrics.scrape_interval * 1e3)));
  if (config.metrics.type == "prometheus") {
    options.source = MetricsSource::kPrometheus;
    if (config.metrics.prometheus) {
      options.prometheus_url = config.metrics.prometheus->url;
      options.filters = config.metrics.prometheus->filters;
      options.prometheus_scrape_interval = config.metrics.prometheus->scrape_interval;
    }
  }
  return options;
}

Result<std::unique_ptr<ServerMetricsCollector>> ServerMetricsCollector::create(
    ServerMetricsOptions options) {
  if (options.source == MetricsSource::kPrometheus) {
    auto url = http::parse_url(options.prometheus_url);
    if (!url) return fail("metrics.prometheus.url: {}", url.error().message);
    return std::make_unique<PrometheusCollector>(std::move(options), std::move(*url));
  }
  auto url = http::parse_url(options.base_url);
  if (!url) return fail("server.base_url: {}", url.error().message);
  if (options.scrape_interval <= std::chrono::milliseconds(0)) {
    return fail("server metrics: scrape interval must be > 0");
  }
  std::string metrics_url =
      fmt::format("http://{}:{}{}/metrics", url->host, url->port, trim_prefix(url->target));
  return std::make_unique<DirectCollector>(std::move(options), std::move(metrics_url));
}

}  // namespace kgai::perf
