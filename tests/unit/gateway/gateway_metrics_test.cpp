#include "gateway/gateway_metrics.h"

#include <cmath>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/prometheus.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

prom::Exposition parse(const std::string& text) {
  auto parsed = prom::parse_text(text);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message) << "\n" << text;
  return parsed ? *parsed : prom::Exposition{};
}

// The value of one sample, NaN when it is absent.
double value(const prom::Exposition& e, std::string_view name,
             std::initializer_list<prom::LabelView> labels = {}) {
  const prom::Sample* s = e.find_sample(name, labels);
  return s ? s->value : std::nan("");
}

TEST(GatewayMetrics, RendersWhatWasRecorded) {
  GatewayMetrics m;
  m.request_done("llama", "chat", 200, 1.2, 0.05, 100, 20);
  m.request_done("llama", "chat", 200, 0.7, 0.03, 50, 10);
  m.request_done("llama", "", 499, 0.2, std::nullopt, 30, -1);
  m.request_done("qwen", "batch", 503, 0.001, std::nullopt, 0, 0);
  m.shed("llama");
  m.shed("llama");
  m.decision("10.0.0.0:8000", 4e-6);
  m.decision("10.0.0.0:8000", 30e-6);
  m.decision("10.0.0.1:8000", 7e-6);
  m.decision("", 2e-6);
  m.retry("10.0.0.1:8000");

  const auto now = SteadyTime::clock::now();
  auto pool = testing::make_pool(3, now);
  pool.endpoints[0].metrics.waiting = 4;
  pool.endpoints[0].metrics.kv_usage = 0.25;
  pool.endpoints[0].load->in_flight = 3;
  pool.endpoints[0].scraped_at = now - std::chrono::milliseconds(500);
  pool.endpoints[1].healthy = false;
  pool.endpoints[1].metrics.kv_usage.reset();   // not reported: no sample
  pool.endpoints[2].scraped_at = SteadyTime{};  // never scraped
  FlowController::Stats flow;
  flow.queued = 5;
  flow.queued_bytes = 12'345;
  flow.queued_by_priority = {{-1, 2}, {10, 3}};

  const auto e = parse(m.render(pool, 0.75, flow, now));
  EXPECT_EQ(value(e, "kgai_gateway_requests_total",
                  {{"model", "llama"}, {"objective", "chat"}, {"code", "200"}}),
            2);
  EXPECT_EQ(value(e, "kgai_gateway_requests_total", {{"model", "llama"}, {"code", "499"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_requests_total",
                  {{"model", "qwen"}, {"objective", "batch"}, {"code", "503"}}),
            1);
  EXPECT_EQ(value(e, "kgai_gateway_request_duration_seconds_count", {{"model", "llama"}}), 3);
  EXPECT_DOUBLE_EQ(value(e, "kgai_gateway_request_duration_seconds_sum", {{"model", "llama"}}),
                   2.1);
  EXPECT_EQ(value(e, "kgai_gateway_ttft_seconds_count", {{"model", "llama"}}), 2);
  EXPECT_EQ(value(e, "kgai_gateway_ttft_seconds_bucket", {{"model", "llama"}, {"le", "0.04"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_ttft_seconds_bucket", {{"model", "llama"}, {"le", "0.06"}}), 2);
  EXPECT_EQ(e.find_sample("kgai_gateway_ttft_seconds_count", {{"model", "qwen"}}), nullptr);
  EXPECT_EQ(value(e, "kgai_gateway_input_tokens_total", {{"model", "llama"}}), 180);
  EXPECT_EQ(value(e, "kgai_gateway_output_tokens_total", {{"model", "llama"}}), 30);
  EXPECT_EQ(value(e, "kgai_gateway_shed_total", {{"model", "llama"}}), 2);
  EXPECT_EQ(e.find_sample("kgai_gateway_shed_total", {{"model", "qwen"}}), nullptr);
  EXPECT_EQ(value(e, "kgai_gateway_decisions_total", {{"endpoint", "10.0.0.0:8000"}}), 2);
  EXPECT_EQ(value(e, "kgai_gateway_decisions_total", {{"endpoint", "10.0.0.1:8000"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_decisions_without_endpoint_total"), 1);
  EXPECT_EQ(value(e, "kgai_gateway_decision_duration_seconds_count"), 4);
  EXPECT_EQ(value(e, "kgai_gateway_decision_duration_seconds_bucket", {{"le", "1e-05"}}), 3);
  EXPECT_EQ(value(e, "kgai_gateway_decision_duration_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(value(e, "kgai_gateway_retries_total", {{"endpoint", "10.0.0.1:8000"}}), 1);
  EXPECT_EQ(e.find_sample("kgai_gateway_retries_total", {{"endpoint", "10.0.0.0:8000"}}), nullptr);

  EXPECT_EQ(value(e, "kgai_gateway_pool_saturation"), 0.75);
  EXPECT_EQ(value(e, "kgai_gateway_endpoint_healthy", {{"endpoint", "10.0.0.0:8000"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_endpoint_healthy", {{"endpoint", "10.0.0.1:8000"}}), 0);
  EXPECT_EQ(value(e, "kgai_gateway_endpoint_in_flight", {{"endpoint", "10.0.0.0:8000"}}), 3);
  EXPECT_EQ(value(e, "kgai_gateway_endpoint_waiting", {{"endpoint", "10.0.0.0:8000"}}), 4);
  EXPECT_EQ(value(e, "kgai_gateway_endpoint_kv_cache_usage", {{"endpoint", "10.0.0.0:8000"}}),
            0.25);
  EXPECT_EQ(e.find_sample("kgai_gateway_endpoint_kv_cache_usage", {{"endpoint", "10.0.0.1:8000"}}),
            nullptr);
  EXPECT_DOUBLE_EQ(
      value(e, "kgai_gateway_endpoint_metrics_age_seconds", {{"endpoint", "10.0.0.0:8000"}}), 0.5);
  EXPECT_EQ(value(e, "kgai_gateway_endpoint_metrics_age_seconds", {{"endpoint", "10.0.0.2:8000"}}),
            INFINITY);
  EXPECT_EQ(value(e, "kgai_gateway_flow_control_queue_size", {{"priority", "-1"}}), 2);
  EXPECT_EQ(value(e, "kgai_gateway_flow_control_queue_size", {{"priority", "10"}}), 3);
  EXPECT_EQ(value(e, "kgai_gateway_flow_control_queue_bytes"), 12'345);
  EXPECT_EQ(value(e, "kgai_gateway_label_values_capped_total", {{"label", "model"}}), 0);

  const auto* family = e.find("kgai_gateway_request_duration_seconds");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->type, prom::MetricType::kHistogram);
  family = e.find("kgai_gateway_pool_saturation");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->type, prom::MetricType::kGauge);
}

TEST(GatewayMetrics, EmptyRegistryRendersValidText) {
  GatewayMetrics m;
  const auto e = parse(m.render(PoolSnapshot{}, 1.0, FlowController::Stats{}));
  EXPECT_EQ(value(e, "kgai_gateway_pool_saturation"), 1);
  EXPECT_EQ(value(e, "kgai_gateway_decision_duration_seconds_count"), 0);
  EXPECT_NE(e.find("kgai_gateway_requests_total"), nullptr);
}

TEST(GatewayMetrics, EscapesLabelValues) {
  GatewayMetrics m;
  const std::string model = "we\"ird\\model\nname{}=,";
  const std::string objective = "o\\\"";
  m.request_done(model, objective, 200, 0.1, 0.01, 1, 1);
  m.shed(model);
  const auto e = parse(m.render(PoolSnapshot{}, 0, FlowController::Stats{}));
  EXPECT_EQ(value(e, "kgai_gateway_requests_total", {{"model", model}, {"objective", objective}}),
            1);
  EXPECT_EQ(value(e, "kgai_gateway_shed_total", {{"model", model}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_ttft_seconds_count", {{"model", model}}), 1);
}

TEST(GatewayMetrics, CapsDistinctLabelValues) {
  GatewayMetrics m(
      GatewayMetrics::Options{.max_models = 3, .max_objectives = 2, .max_endpoints = 2});
  for (int i = 0; i < 6; ++i) m.request_done(fmt::format("m{}", i), "", 200, 0.1, {}, 10, 1);
  m.request_done("m1", "", 200, 0.1, {}, 10, 1);     // admitted before the cap: its own series
  m.request_done("other", "", 200, 0.1, {}, 10, 1);  // a model really called "other" shares it
  m.shed("m9");
  m.request_done("m0", "a", 200, 0.1, {}, 0, 0);
  m.request_done("m0", "b", 200, 0.1, {}, 0, 0);  // "", "a" admitted; "b" is over the cap
  m.decision("e1:1", 1e-6);
  m.decision("e2:1", 1e-6);
  m.decision("e3:1", 1e-6);
  m.retry("e4:1");
  const auto e = parse(m.render(PoolSnapshot{}, 0, FlowController::Stats{}));
  EXPECT_EQ(value(e, "kgai_gateway_input_tokens_total", {{"model", "m0"}}), 10);
  EXPECT_EQ(value(e, "kgai_gateway_input_tokens_total", {{"model", "m1"}}), 20);
  EXPECT_EQ(value(e, "kgai_gateway_input_tokens_total", {{"model", "m2"}}), 10);
  EXPECT_EQ(e.find_sample("kgai_gateway_input_tokens_total", {{"model", "m3"}}), nullptr);
  EXPECT_EQ(value(e, "kgai_gateway_input_tokens_total", {{"model", "other"}}), 40);
  EXPECT_EQ(value(e, "kgai_gateway_shed_total", {{"model", "other"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_requests_total", {{"model", "m0"}, {"objective", "a"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_requests_total", {{"model", "m0"}, {"objective", "other"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_decisions_total", {{"endpoint", "other"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_retries_total", {{"endpoint", "other"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_label_values_capped_total", {{"label", "model"}}), 4);
  EXPECT_EQ(value(e, "kgai_gateway_label_values_capped_total", {{"label", "objective"}}), 1);
  EXPECT_EQ(value(e, "kgai_gateway_label_values_capped_total", {{"label", "endpoint"}}), 2);
  // Three names and "other".
  EXPECT_EQ(e.find("kgai_gateway_input_tokens_total")->samples.size(), 4u);
}

TEST(GatewayMetrics, LabelValuesAreCutAndTheRequestsFamilyIsCappedWhateverClientsSend) {
  GatewayMetrics m(GatewayMetrics::Options{
      .max_models = 1000, .max_objectives = 1000, .max_request_series = 50, .max_label_bytes = 16});
  m.request_done(std::string(10'000, 'x') + "\xff", "\xfe", 200, 0.1, {}, 1, 1);
  for (int i = 0; i < 200; ++i) {
    m.request_done(fmt::format("model-{}", i % 20), fmt::format("objective-{}", i), 200 + i % 3,
                   0.1, {}, 1, 1);
  }
  const std::string page = m.render(PoolSnapshot{}, 0, FlowController::Stats{});
  const auto e = parse(page);
  EXPECT_EQ(value(e, "kgai_gateway_requests_total", {{"model", std::string(16, 'x')}}), 1);
  const auto* requests = e.find("kgai_gateway_requests_total");
  ASSERT_NE(requests, nullptr);
  // 50 admitted combinations plus the overflow's ("other", "other", code) ones.
  EXPECT_LE(requests->samples.size(), 53u);
  double total = 0;
  for (const auto& sample : requests->samples) total += sample.value;
  EXPECT_EQ(total, 201);  // nothing lost: the overflow counts the rest
  EXPECT_GT(value(e, "kgai_gateway_label_values_capped_total", {{"label", "requests_total"}}), 0);
}

TEST(GatewayMetrics, ConcurrentUpdatesWhileRendering) {
  GatewayMetrics m;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20'000;
  std::atomic<bool> done{false};
  std::atomic<int> renders{0};
  std::thread scraper([&] {
    const auto pool = testing::make_pool(8, SteadyTime::clock::now());
    while (!done.load()) {
      auto parsed = prom::parse_text(m.render(pool, 0.5, FlowController::Stats{}));
      ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
      // Within one series the histogram is copied whole: its +Inf bucket equals its count.
      for (const auto& s : parsed->find("kgai_gateway_request_duration_seconds")->samples) {
        if (s.name != "kgai_gateway_request_duration_seconds_count") continue;
        EXPECT_EQ(value(*parsed, "kgai_gateway_request_duration_seconds_bucket",
                        {{"model", *s.label("model")}, {"le", "+Inf"}}),
                  s.value);
      }
      renders.fetch_add(1);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string model = fmt::format("model-{}", i % 7);
        m.request_done(model, i % 2 ? "chat" : "batch", i % 5 ? 200 : 503, 0.1 * (i % 30), 0.01, 3,
                       2);
        m.decision(fmt::format("10.0.0.{}:8000", (i + t) % 8), 5e-6);
        if (i % 10 == 0) m.retry("10.0.0.1:8000");
        if (i % 100 == 0) m.shed(model);
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  scraper.join();
  EXPECT_GT(renders.load(), 0);

  const auto e = parse(m.render(PoolSnapshot{}, 0, FlowController::Stats{}));
  double requests = 0, input = 0, decisions = 0, shed = 0;
  for (const auto& s : e.find("kgai_gateway_requests_total")->samples) requests += s.value;
  for (const auto& s : e.find("kgai_gateway_input_tokens_total")->samples) input += s.value;
  for (const auto& s : e.find("kgai_gateway_decisions_total")->samples) decisions += s.value;
  for (const auto& s : e.find("kgai_gateway_shed_total")->samples) shed += s.value;
  EXPECT_EQ(requests, kThreads * kPerThread);
  EXPECT_EQ(input, 3.0 * kThreads * kPerThread);
  EXPECT_EQ(decisions, kThreads * kPerThread);
  EXPECT_EQ(shed, kThreads * kPerThread / 100);
  EXPECT_EQ(value(e, "kgai_gateway_retries_total", {{"endpoint", "10.0.0.1:8000"}}),
            kThreads * kPerThread / 10);
  EXPECT_EQ(value(e, "kgai_gateway_decision_duration_seconds_count"), kThreads * kPerThread);
}

}  // namespace
}  // namespace kgai::gateway

namespace kgai::gateway {
namespace {

TEST(ConnectionMetrics, RenderTheServersCounters) {
  http::Server::Stats stats;
  stats.open_connections = 12;
  stats.rejected_per_source = 3;
  stats.accept_errors = 2;
  stats.reclaimed_idle = 5;
  stats.paused_at_limit = 7;
  const auto e = parse(render_connection_metrics(stats));
  EXPECT_EQ(value(e, "kgai_gateway_client_connections", {}), 12);
  EXPECT_EQ(value(e, "kgai_gateway_client_connections_refused_total", {{"reason", "per_source"}}),
            3);
  EXPECT_EQ(value(e, "kgai_gateway_client_connections_refused_total", {{"reason", "accept_error"}}),
            2);
  EXPECT_EQ(value(e, "kgai_gateway_client_connections_reclaimed_total", {}), 5);
  EXPECT_EQ(value(e, "kgai_gateway_accept_paused_total", {}), 7);
}

}  // namespace
}  // namespace kgai::gateway
