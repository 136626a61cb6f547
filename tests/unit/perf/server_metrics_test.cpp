#include "perf/server_metrics.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/event_loop.h"
#include "common/http_server.h"
#include "unit/common/http_test_util.h"

namespace kgai::perf {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using testing::LoopThread;
using testing::on_loop;

// A kgai HTTP server on 127.0.0.1 answering each request with `answer(request)`, computed
// on the loop thread; it remembers every request target.
class FakeServer {
 public:
  using Answer = std::function<http::Response(const http::Request&)>;

  explicit FakeServer(Answer answer)
      : answer_(std::move(answer)),
        server_(loop_, {},
                [this](http::Request&& request, std::shared_ptr<http::ResponseStream> s) {
                  {
                    std::lock_guard lock(mutex_);
                    targets_.push_back(request.target);
                  }
                  s->respond(answer_(request));
                }) {
    auto bound = server_.listen();
    EXPECT_TRUE(bound) << bound.error().message;
    port_ = bound.value_or(0);
    runner_ = std::make_unique<LoopThread>(loop_);
  }
  ~FakeServer() {
    on_loop(loop_, [this] { server_.stop(); });
    runner_->stop();
  }

  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mutex_);
    return targets_;
  }

 private:
  Answer answer_;
  EventLoop loop_;
  http::Server server_;
  uint16_t port_ = 0;
  std::unique_ptr<LoopThread> runner_;
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
};

http::Response text(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "text/plain; version=0.0.4"});
  r.body = std::move(body);
  return r;
}

// A /metrics server that serves `pages` in turn, one per scrape, then repeats the last one.
// A page "500" answers that status instead.
class MetricsServer {
 public:
  explicit MetricsServer(std::vector<std::string> pages)
      : pages_(std::move(pages)), server_([this](const http::Request& request) {
          if (request.path() != "/metrics") return text(404, "not found");
          const size_t i = std::min(next_++, pages_.size() - 1);
          if (pages_[i] == "500") return text(500, "boom");
          return text(200, pages_[i]);
        }) {}

  std::string url() const { return server_.url(); }
  size_t scrapes() const { return server_.targets().size(); }

 private:
  std::vector<std::string> pages_;
  size_t next_ = 0;  // loop thread only
  FakeServer server_;
};

ServerMetricsOptions direct(std::string base_url,
                            std::chrono::milliseconds interval = std::chrono::hours(1)) {
  ServerMetricsOptions o;
  o.source = MetricsSource::kDirect;
  o.base_url = std::move(base_url);
  o.scrape_interval = interval;  // an hour: only the start and end scrapes happen
  return o;
}

std::unique_ptr<ServerMetricsCollector> make(ServerMetricsOptions options) {
  auto c = ServerMetricsCollector::create(std::move(options));
  EXPECT_TRUE(c) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

// vLLM V1 (two engine cores) with the values of one scrape.
std::string vllm_page(double kv0, double kv1, int waiting0, int waiting1, int running,
                      double queries, double hits, double preemptions, double e2e_sum,
                      double e2e_count, double ttft_sum, double ttft_count, int length_done,
                      int stop_done) {
  std::string t;
  t += "# HELP vllm:num_requests_running Number of requests in model execution batches.\n";
  t += "# TYPE vllm:num_requests_running gauge\n";
  t += fmt::format("vllm:num_requests_running{{engine=\"0\",model_name=\"m\"}} {}\n", running);
  t += "# TYPE vllm:num_requests_waiting gauge\n";
  t += fmt::format("vllm:num_requests_waiting{{engine=\"0\",model_name=\"m\"}} {}\n", waiting0);
  t += fmt::format("vllm:num_requests_waiting{{engine=\"1\",model_name=\"m\"}} {}\n", waiting1);
  t += "# TYPE vllm:kv_cache_usage_perc gauge\n";
  t += fmt::format("vllm:kv_cache_usage_perc{{engine=\"0\",model_name=\"m\"}} {}\n", kv0);
  t += fmt::format("vllm:kv_cache_usage_perc{{engine=\"1\",model_name=\"m\"}} {}\n", kv1);
  t += "# TYPE vllm:prefix_cache_queries counter\n";
  t +=
      fmt::format("vllm:prefix_cache_queries_total{{engine=\"0\",model_name=\"m\"}} {}\n", queries);
  t += "vllm:prefix_cache_queries_created{engine=\"0\",model_name=\"m\"} 1.7e9\n";
  t += "# TYPE vllm:prefix_cache_hits counter\n";
  t += fmt::format("vllm:prefix_cache_hits_total{{engine=\"0\",model_name=\"m\"}} {}\n", hits);
  t += "# TYPE vllm:num_preemptions counter\n";
  t += fmt::format("vllm:num_preemptions_total{{engine=\"0\",model_name=\"m\"}} {}\n", preemptions);
  t += "# TYPE vllm:request_success_total counter\n";
  t += fmt::format("vllm:request_success_total{{finished_reason=\"length\"}} {}\n", length_done);
  t += fmt::format("vllm:request_success_total{{finished_reason=\"stop\"}} {}\n", stop_done);
  t += "# TYPE vllm:e2e_request_latency_seconds histogram\n";
  t += fmt::format("vllm:e2e_request_latency_seconds_bucket{{le=\"+Inf\"}} {}\n", e2e_count);
  t += fmt::format("vllm:e2e_request_latency_seconds_sum {}\n", e2e_sum);
  t += fmt::format("vllm:e2e_request_latency_seconds_count {}\n", e2e_count);
  t += "# TYPE vllm:time_to_first_token_seconds histogram\n";
  t += fmt::format("vllm:time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {}\n", ttft_count);
  t += fmt::format("vllm:time_to_first_token_seconds_sum {}\n", ttft_sum);
  t += fmt::format("vllm:time_to_first_token_seconds_count {}\n", ttft_count);
  return t;
}

// vLLM before 0.10: gpu_cache_usage_perc, and counters declared and sampled without _total;
// no prefix-cache counters.
std::string old_vllm_page(double kv, int waiting, int running, double preemptions) {
  return fmt::format(
      "# TYPE vllm:gpu_cache_usage_perc gauge\n"
      "vllm:gpu_cache_usage_perc{{model_name=\"m\"}} {}\n"
      "# TYPE vllm:num_requests_waiting gauge\n"
      "vllm:num_requests_waiting{{model_name=\"m\"}} {}\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{{model_name=\"m\"}} {}\n"
      "# TYPE vllm:num_preemptions counter\n"
      "vllm:num_preemptions{{model_name=\"m\"}} {}\n",
      kv, waiting, running, preemptions);
}

std::string sglang_page(double usage, int queue, int running) {
  return fmt::format(
      "# TYPE sglang:token_usage gauge\n"
      "sglang:token_usage{{model_name=\"m\"}} {}\n"
      "# TYPE sglang:num_queue_reqs gauge\n"
      "sglang:num_queue_reqs{{model_name=\"m\"}} {}\n"
      "# TYPE sglang:num_running_reqs gauge\n"
      "sglang:num_running_reqs{{model_name=\"m\"}} {}\n",
      usage, queue, running);
}

TEST(ServerMetricsDirect, VllmMeansMaximaDeltasAndHitRate) {
  MetricsServer server({
      vllm_page(0.1, 0.3, 1, 0, 4, 100, 50, 2, 10, 5, 1, 5, 5, 0),
      vllm_page(0.5, 0.7, 2, 1, 8, 300, 200, 3, 22, 9, 2, 9, 8, 1),
  });
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  EXPECT_EQ(server.scrapes(), 2u);
  EXPECT_EQ(j["source"], "direct");
  EXPECT_EQ(j["stage"], 0);
  EXPECT_EQ(j["scrapes"], 2);
  EXPECT_EQ(j["scrape_errors"], 0);
  EXPECT_TRUE(j["errors"].empty());
  // KV use is averaged across engines (0.2, then 0.6); the max is the fullest engine.
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["mean"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["max"].get<double>(), 0.7);
  // Queue lengths are summed across engines (1, then 3).
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["mean"].get<double>(), 2);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["max"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(j["num_requests_running"]["mean"].get<double>(), 6);
  EXPECT_DOUBLE_EQ(j["num_requests_running"]["max"].get<double>(), 8);
  EXPECT_DOUBLE_EQ(j["prefix_cache_queries"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(j["prefix_cache_hits"].get<double>(), 150);
  EXPECT_DOUBLE_EQ(j["prefix_cache_hit_rate"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["num_preemptions"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(j["num_requests"].get<double>(), 4);  // summed over finished_reason
  EXPECT_DOUBLE_EQ(j["request_latency"]["mean"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(j["time_to_first_token"]["mean"].get<double>(), 0.25);
  EXPECT_TRUE(j["prompt_tokens"].is_null());
  EXPECT_GE(j["duration"].get<double>(), 0);
}

TEST(ServerMetricsDirect, OldVllmNamesAndMissingMetricsAreNull) {
  MetricsServer server({old_vllm_page(0.25, 3, 2, 7), old_vllm_page(0.75, 5, 4, 9)});
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(3);
  json j = c->end_stage(3);
  EXPECT_EQ(j["stage"], 3);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["mean"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["max"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["mean"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(j["num_requests_running"]["max"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(j["num_preemptions"].get<double>(), 2);  // counter without _total
  EXPECT_TRUE(j["prefix_cache_hit_rate"].is_null());
  EXPECT_TRUE(j["prefix_cache_queries"].is_null());
  EXPECT_TRUE(j["num_requests"].is_null());
  EXPECT_TRUE(j["request_latency"]["mean"].is_null());
  EXPECT_TRUE(j["time_to_first_token"]["mean"].is_null());
  EXPECT_EQ(j["scrape_errors"], 0);
}

TEST(ServerMetricsDirect, Sglang) {
  MetricsServer server({sglang_page(0.5, 0, 10), sglang_page(0.9, 6, 12)});
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["mean"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["max"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["mean"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["max"].get<double>(), 6);
  EXPECT_DOUBLE_EQ(j["num_requests_running"]["mean"].get<double>(), 11);
  EXPECT_TRUE(j["num_preemptions"].is_null());
  EXPECT_TRUE(j["prefix_cache_hit_rate"].is_null());
}

TEST(ServerMetricsDirect, AnEmptyPageGivesNullsNotErrors) {
  MetricsServer server({"# nothing here\n"});
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  EXPECT_EQ(j["scrapes"], 2);
  EXPECT_EQ(j["scrape_errors"], 0);
  EXPECT_TRUE(j["kv_cache_usage"]["mean"].is_null());
  EXPECT_TRUE(j["kv_cache_usage"]["max"].is_null());
  EXPECT_TRUE(j["num_requests_waiting"]["mean"].is_null());
  EXPECT_TRUE(j["num_preemptions"].is_null());
}

TEST(ServerMetricsDirect, ScrapeErrorsAreCountedNotFatal) {
  MetricsServer server({
      vllm_page(0.2, 0.2, 1, 1, 1, 100, 10, 0, 0, 0, 0, 0, 0, 0),
      "500",
      "this is { not prometheus\n",
      vllm_page(0.4, 0.4, 1, 1, 1, 200, 20, 0, 0, 0, 0, 0, 0, 0),
  });
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json s0 = c->end_stage(0);  // a good scrape, then a 500
  EXPECT_EQ(s0["scrapes"], 2);
  EXPECT_EQ(s0["scrape_errors"], 1);
  ASSERT_EQ(s0["errors"].size(), 1u);
  EXPECT_THAT(s0["errors"][0].get<std::string>(), HasSubstr("status 500"));
  // One good scrape: gauges from it, but no delta for counters.
  EXPECT_DOUBLE_EQ(s0["kv_cache_usage"]["mean"].get<double>(), 0.2);
  EXPECT_TRUE(s0["prefix_cache_queries"].is_null());

  c->start_stage(1);
  json s1 = c->end_stage(1);  // unparsable text, then a good scrape
  EXPECT_EQ(s1["scrapes"], 2);
  EXPECT_EQ(s1["scrape_errors"], 1);
  ASSERT_EQ(s1["errors"].size(), 1u);
  EXPECT_THAT(s1["errors"][0].get<std::string>(), HasSubstr("line 1"));
  EXPECT_DOUBLE_EQ(s1["kv_cache_usage"]["mean"].get<double>(), 0.4);

  json sum = c->summary();
  EXPECT_EQ(sum["stages"], 2);
  EXPECT_EQ(sum["scrapes"], 4);
  EXPECT_EQ(sum["scrape_errors"], 2);
  EXPECT_EQ(sum["errors"].size(), 2u);
  EXPECT_DOUBLE_EQ(sum["kv_cache_usage"]["mean"].get<double>(), 0.3);
}

TEST(ServerMetricsDirect, UnreachableServerIsReported) {
  // Bind and close to get a port nobody listens on.
  std::string url;
  {
    FakeServer gone([](const http::Request&) { return text(200, ""); });
    url = gone.url();
  }
  auto c = make(direct(url));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  EXPECT_EQ(j["scrapes"], 2);
  EXPECT_EQ(j["scrape_errors"], 2);
  EXPECT_EQ(j["errors"].size(), 1u);  // the same message once
  EXPECT_TRUE(j["kv_cache_usage"]["mean"].is_null());
}

TEST(ServerMetricsDirect, CounterResetCountsFromZero) {
  MetricsServer server({
      vllm_page(0, 0, 0, 0, 0, 1000, 900, 5, 0, 0, 0, 0, 0, 0),
      vllm_page(0, 0, 0, 0, 0, 40, 10, 1, 0, 0, 0, 0, 0, 0),
  });
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  EXPECT_DOUBLE_EQ(j["prefix_cache_queries"].get<double>(), 40);
  EXPECT_DOUBLE_EQ(j["prefix_cache_hits"].get<double>(), 10);
  EXPECT_DOUBLE_EQ(j["num_preemptions"].get<double>(), 1);
}

TEST(ServerMetricsDirect, BackgroundScrapesDuringTheStage) {
  std::vector<std::string> pages;
  for (int i = 0; i < 50; ++i)
    pages.push_back(vllm_page(i / 100.0, i / 100.0, i, 0, 1, i * 10, i, 0, 0, 0, 0, 0, 0, 0));
  MetricsServer server(pages);
  auto c = make(direct(server.url(), 20ms));
  ASSERT_TRUE(c);
  c->start_stage(0);
  std::this_thread::sleep_for(250ms);
  json j = c->end_stage(0);
  const int scrapes = j["scrapes"];
  EXPECT_GE(scrapes, 5);
  EXPECT_EQ(j["scrape_errors"], 0);
  // Page i has queue length i: the max is the last page scraped, the mean is half of it.
  const double last = scrapes - 1;
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["max"].get<double>(), last);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["mean"].get<double>(), last / 2);
  EXPECT_DOUBLE_EQ(j["prefix_cache_queries"].get<double>(), last * 10);
  // Nothing is scraped between stages.
  const size_t after = server.scrapes();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.scrapes(), after);
}

TEST(ServerMetricsDirect, SummaryMergesStages) {
  MetricsServer server({
      vllm_page(0.2, 0.2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0),
      vllm_page(0.4, 0.4, 0, 0, 2, 100, 100, 1, 4, 2, 0, 0, 2, 0),
      vllm_page(0.6, 0.6, 0, 0, 2, 100, 100, 1, 4, 2, 0, 0, 2, 0),
      vllm_page(0.8, 0.8, 0, 0, 6, 400, 100, 4, 12, 4, 0, 0, 4, 0),
  });
  auto c = make(direct(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json s0 = c->end_stage(0);
  EXPECT_DOUBLE_EQ(s0["prefix_cache_hit_rate"].get<double>(), 1.0);
  c->start_stage(1);
  json s1 = c->end_stage(1);
  EXPECT_DOUBLE_EQ(s1["prefix_cache_hit_rate"].get<double>(), 0.0);
  json sum = c->summary();
  EXPECT_EQ(sum["source"], "direct");
  EXPECT_EQ(sum["stages"], 2);
  EXPECT_FALSE(sum.contains("stage"));
  EXPECT_DOUBLE_EQ(sum["kv_cache_usage"]["mean"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(sum["kv_cache_usage"]["max"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(sum["num_requests_running"]["mean"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(sum["prefix_cache_queries"].get<double>(), 400);
  EXPECT_DOUBLE_EQ(sum["prefix_cache_hits"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(sum["prefix_cache_hit_rate"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(sum["num_preemptions"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(sum["num_requests"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(sum["request_latency"]["mean"].get<double>(), 12.0 / 4);
}

TEST(ServerMetricsDirect, BadBaseUrlIsAnError) {
  auto c = ServerMetricsCollector::create(direct("https://example.com"));
  EXPECT_FALSE(c);
}

TEST(ServerMetricsOptionsTest, FromConfig) {
  PerfConfig config;
  config.server.base_url = "http://vllm:8000";
  auto d = server_metrics_options(config);
  EXPECT_EQ(d.source, MetricsSource::kDirect);
  EXPECT_EQ(d.base_url, "http://vllm:8000");
  EXPECT_EQ(d.scrape_interval, 1000ms);
  config.metrics.type = "prometheus";
  config.metrics.prometheus = PrometheusConfig{"http://prom:9090", 5, {"job=\"vllm\""}};
  auto p = server_metrics_options(config);
  EXPECT_EQ(p.source, MetricsSource::kPrometheus);
  EXPECT_EQ(p.prometheus_url, "http://prom:9090");
  EXPECT_EQ(p.prometheus_scrape_interval, 5);
  EXPECT_THAT(p.filters, ::testing::ElementsAre("job=\"vllm\""));
}

TEST(UrlEncode, EncodesEverythingButUnreserved) {
  EXPECT_EQ(url_encode("avg(x{a=\"b c\"}[5s]) or y"),
            "avg%28x%7Ba%3D%22b%20c%22%7D%5B5s%5D%29%20or%20y");
  EXPECT_EQ(url_encode("AZaz09-_.~"), "AZaz09-_.~");
}

// ---------------------------------------------------------------------------------------
// Prometheus HTTP API.

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// The query= and time= parameters of a request target.
std::pair<std::string, std::string> query_params(std::string_view target) {
  std::string query, time;
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    if (part.starts_with("query=")) query = url_decode(part.substr(6));
    if (part.starts_with("time=")) time = std::string(part.substr(5));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {query, time};
}

http::Response json_response(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

std::string vector_of(std::vector<std::string> values) {
  json result = json::array();
  for (const auto& v : values)
    result.push_back({{"metric", json::object()}, {"value", {1.7e9, v}}});
  return json{{"status", "success"}, {"data", {{"resultType", "vector"}, {"result", result}}}}
      .dump();
}

// Canned answers by what the query asks for.
http::Response prometheus_answer(const http::Request& request) {
  if (request.path() != "/prom/api/v1/query") return json_response(404, "{}");
  const std::string q = query_params(request.target).first;
  auto starts = [&](std::string_view p) { return q.starts_with(p); };
  if (starts("avg(avg_over_time(vllm:kv_cache_usage_perc"))
    return json_response(200, vector_of({"0.5"}));
  if (starts("max(max_over_time(vllm:kv_cache_usage_perc"))
    return json_response(200, vector_of({"0.9"}));
  if (starts("sum(avg_over_time(vllm:num_requests_waiting"))
    return json_response(200, vector_of({"2.5"}));
  if (starts("max_over_time(sum(vllm:num_requests_waiting"))
    return json_response(200, vector_of({"7"}));
  // Two series (a filter that splits them): added up.
  if (starts("sum(avg_over_time(vllm:num_requests_running")) {
    return json_response(200, vector_of({"3", "4"}));
  }
  if (starts("max_over_time(sum(vllm:num_requests_running")) {
    return json_response(200, vector_of({"NaN"}));
  }
  if (starts("sum(increase(vllm:prefix_cache_queries_total"))
    return json_response(200, vector_of({"400"}));
  if (starts("sum(increase(vllm:prefix_cache_hits_total"))
    return json_response(200, vector_of({"100"}));
  if (starts("sum(increase(vllm:request_success_total")) {
    return json_response(
        422, R"({"status":"error","errorType":"execution","error":"too many samples"})");
  }
  if (starts("sum(increase(vllm:e2e_request_latency_seconds_sum"))
    return json_response(200, "not json");
  if (starts("sum(increase(vllm:e2e_request_latency_seconds_count")) {
    return json_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  }
  if (starts("sum(increase(vllm:time_to_first_token_seconds_sum"))
    return json_response(200, vector_of({"2"}));
  if (starts("sum(increase(vllm:time_to_first_token_seconds_count"))
    return json_response(200, vector_of({"8"}));
  return json_response(200, vector_of({}));  // preemptions, tokens: no data
}

ServerMetricsOptions prometheus(std::string url, std::vector<std::string> filters = {}) {
  ServerMetricsOptions o;
  o.source = MetricsSource::kPrometheus;
  o.prometheus_url = std::move(url);
  o.filters = std::move(filters);
  o.prometheus_scrape_interval = 1;
  return o;
}

TEST(ServerMetricsPrometheus, QueriesAndParsing) {
  FakeServer server(prometheus_answer);
  auto c = make(prometheus(server.url() + "/prom/", {"namespace=\"llm\"", "job=\"vllm\""}));
  ASSERT_TRUE(c);
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  c->start_stage(2);
  json j = c->end_stage(2);

  const auto targets = server.targets();
  ASSERT_EQ(targets.size(), 16u);  // mean and max of 3 gauges, 10 counters
  std::vector<std::string> queries;
  for (const auto& t : targets) {
    auto [q, time] = query_params(t);
    queries.push_back(q);
    EXPECT_NEAR(std::stod(time), before, 5.0) << t;
  }
  const std::string f = "namespace=\"llm\",job=\"vllm\"";
  EXPECT_EQ(
      queries[0],
      "avg(avg_over_time(vllm:kv_cache_usage_perc{" + f +
          "}[1s])) or "
          "avg(avg_over_time(vllm:gpu_cache_usage_perc{" +
          f +
          "}[1s])) or "
          "avg(avg_over_time(sglang:token_usage{" +
          f +
          "}[1s])) or "
          "avg(avg_over_time(trtllm_kv_cache_utilization{" +
          f +
          "}[1s])) or "
          "avg(avg_over_time(nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"," +
          f + "}[1s]))");
  EXPECT_EQ(queries[3],
            "max_over_time(sum(vllm:num_requests_waiting{" + f +
                "})[1s:1000ms]) or "
                "max_over_time(sum(sglang:num_queue_reqs{" +
                f +
                "})[1s:1000ms]) or "
                "max_over_time(sum(trtllm_num_requests_waiting{" +
                f +
                "})[1s:1000ms]) or "
                "max_over_time(sum(nv_trt_llm_request_metrics{request_type=\"waiting\"," +
                f + "})[1s:1000ms])");
  EXPECT_EQ(queries[6], "sum(increase(vllm:prefix_cache_queries_total{" + f +
                            "}[1s])) or "
                            "sum(increase(vllm:prefix_cache_queries{" +
                            f + "}[1s]))");

  EXPECT_EQ(j["source"], "prometheus");
  EXPECT_EQ(j["stage"], 2);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["mean"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["kv_cache_usage"]["max"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["mean"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(j["num_requests_waiting"]["max"].get<double>(), 7);
  EXPECT_DOUBLE_EQ(j["num_requests_running"]["mean"].get<double>(), 7);
  EXPECT_TRUE(j["num_requests_running"]["max"].is_null());  // NaN
  EXPECT_DOUBLE_EQ(j["prefix_cache_hit_rate"].get<double>(), 0.25);
  EXPECT_TRUE(j["num_preemptions"].is_null());          // empty result
  EXPECT_TRUE(j["num_requests"].is_null());             // status error
  EXPECT_TRUE(j["request_latency"]["mean"].is_null());  // bad JSON, wrong resultType
  EXPECT_DOUBLE_EQ(j["time_to_first_token"]["mean"].get<double>(), 0.25);
  EXPECT_EQ(j["scrapes"], 16);
  EXPECT_EQ(j["scrape_errors"], 3);
  const std::string errors = j["errors"].dump();
  EXPECT_THAT(errors, HasSubstr("too many samples"));
  EXPECT_THAT(errors, HasSubstr("422"));
  EXPECT_THAT(errors, HasSubstr("not a JSON object"));
  EXPECT_THAT(errors, HasSubstr("matrix"));

  json sum = c->summary();
  EXPECT_EQ(sum["stages"], 1);
  EXPECT_EQ(sum["source"], "prometheus");
  EXPECT_DOUBLE_EQ(sum["kv_cache_usage"]["mean"].get<double>(), 0.5);
}

TEST(ServerMetricsPrometheus, NoFiltersMeansBareSelectors) {
  FakeServer server([](const http::Request&) { return json_response(200, vector_of({})); });
  auto c = make(prometheus(server.url()));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  auto [q, time] = query_params(server.targets().at(6));
  EXPECT_EQ(q,
            "sum(increase(vllm:prefix_cache_queries_total[1s])) or "
            "sum(increase(vllm:prefix_cache_queries[1s]))");
  EXPECT_EQ(server.targets().at(0).substr(0, 20), "/api/v1/query?query=");
  EXPECT_EQ(j["scrape_errors"], 0);
  EXPECT_TRUE(j["kv_cache_usage"]["mean"].is_null());
}

TEST(ServerMetricsPrometheus, UnreachableIsReportedNotFatal) {
  std::string url;
  {
    FakeServer gone([](const http::Request&) { return json_response(200, "{}"); });
    url = gone.url();
  }
  auto c = make(prometheus(url));
  ASSERT_TRUE(c);
  c->start_stage(0);
  json j = c->end_stage(0);
  EXPECT_EQ(j["scrapes"], 16);
  EXPECT_EQ(j["scrape_errors"], 16);
  EXPECT_EQ(j["errors"].size(), 1u);
  EXPECT_TRUE(j["prefix_cache_hit_rate"].is_null());
}

TEST(ServerMetricsPrometheus, BadUrlIsAnError) {
  auto c = ServerMetricsCollector::create(prometheus("prometheus:9090"));
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("metrics.prometheus.url"));
}

}  // namespace
}  // namespace kgai::perf

namespace kgai::perf {
namespace {

TEST(ServerMetricsOptionsFromConfig, DirectScrapeIntervalAndPrometheusSettings) {
  PerfConfig c;
  c.server.base_url = "http://127.0.0.1:8000";
  c.metrics.scrape_interval = 0.25;
  auto o = server_metrics_options(c);
  EXPECT_EQ(o.source, MetricsSource::kDirect);
  EXPECT_EQ(o.scrape_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(o.base_url, "http://127.0.0.1:8000");
  c.metrics.type = "prometheus";
  c.metrics.prometheus = PrometheusConfig{.url = "http://prom:9090", .scrape_interval = 5};
  o = server_metrics_options(c);
  EXPECT_EQ(o.source, MetricsSource::kPrometheus);
  EXPECT_EQ(o.prometheus_url, "http://prom:9090");
  EXPECT_EQ(o.prometheus_scrape_interval, 5);
}

}  // namespace
}  // namespace kgai::perf
