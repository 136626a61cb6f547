// The gateway's cost per scrape: read_engine_metrics on a vLLM /metrics page as kgai sim
// writes it after serving traffic (histograms filled, LoRA adapters running), with the
// Python process and HTTP-instrumentator families a real vLLM adds. The datastore parses one
// page per endpoint every 50 ms, so this times how many endpoints a scraper thread keeps up
// with.
#include <string>

#include <benchmark/benchmark.h>

#include "catalog/catalog.h"
#include "common/prometheus.h"
#include "gateway/engine_metrics.h"
#include "sim/engine.h"
#include "sim/setup.h"
#include "sim/vllm_metrics.h"

namespace {

using namespace kgai;

// What vLLM's Python process adds around its own families (prometheus_client's process and
// GC collectors, prometheus-fastapi-instrumentator's HTTP histograms).
void append_python_families(std::string& text) {
  prom::TextWriter w;
  for (const char* name : {"python_gc_objects_collected", "python_gc_objects_uncollectable",
                           "python_gc_collections"}) {
    w.family(name, prom::MetricType::kCounter, "Python garbage collector statistics.");
    for (const char* generation : {"0", "1", "2"}) {
      w.sample(std::string(name) + "_total", {{"generation", generation}}, 12834);
    }
  }
  w.family("python_info", prom::MetricType::kGauge, "Python platform information");
  w.sample("python_info",
           {{"implementation", "CPython"}, {"major", "3"}, {"minor", "12"}, {"patchlevel", "9"}},
           1);
  for (const char* name : {"process_virtual_memory_bytes", "process_resident_memory_bytes",
                           "process_start_time_seconds", "process_open_fds", "process_max_fds"}) {
    w.family(name, prom::MetricType::kGauge, "Process metric.");
    w.sample(name, {}, 1745812281.39);
  }
  w.family("process_cpu_seconds", prom::MetricType::kCounter, "Total CPU time.");
  w.sample("process_cpu_seconds_total", {}, 8123.4);
  const std::vector<double> latency = {0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1,  1.5, 2,
                                       2.5,  3,     3.5,  4,     4.5, 5,    7.5, 10,   30, 60};
  stats::BucketHistogram h(latency);
  for (int i = 0; i < 5000; ++i) h.observe(0.001 * ((i * 7919) % 3000));
  w.family("http_request_duration_highr_seconds", prom::MetricType::kHistogram,
           "Latency with many buckets but no API specific labels.");
  w.histogram("http_request_duration_highr_seconds", {}, h);
  w.family("http_request_duration_seconds", prom::MetricType::kHistogram,
           "Latency with only few buckets by handler.");
  for (const char* handler :
       {"/v1/completions", "/v1/chat/completions", "/metrics", "/health", "/v1/models"}) {
    w.histogram("http_request_duration_seconds", {{"handler", handler}, {"method", "POST"}}, h);
  }
  w.family("http_requests", prom::MetricType::kCounter, "Total number of requests.");
  for (const char* handler :
       {"/v1/completions", "/v1/chat/completions", "/metrics", "/health", "/v1/models"}) {
    for (const char* status : {"2xx", "4xx", "5xx"}) {
      w.sample("http_requests_total",
               {{"handler", handler}, {"method", "POST"}, {"status", status}}, 1234);
    }
  }
  text += w.text();
}

const std::string& vllm_page() {
  static const std::string page = [] {
    static const catalog::Catalog catalog = *catalog::Catalog::builtin();
    sim::SetupRequest request;
    request.model = "llama-3.1-8b";
    request.accelerator = "h100";
    request.max_loras = 4;
    static sim::Setup setup = std::move(*sim::make_setup(catalog, request));
    sim::Engine engine(setup.engine, *setup.latency);
    sim::VllmMetrics metrics(setup.model->name, setup.engine.max_model_len, setup.cache,
                             setup.engine.max_loras);
    metrics.set_extra(append_python_families);
    // Serve a few thousand requests so every histogram has spread-out counts, then leave a
    // busy batch (running and waiting, some on adapters) for the gauges.
    sim::RequestId next = 1;
    double now = 0;
    auto add = [&](int n) {
      for (int i = 0; i < n; ++i, ++next) {
        sim::NewRequest r;
        r.id = next;
        r.prompt_tokens = 100 + static_cast<int>((next * 7919) % 4000);
        r.max_tokens = 20 + static_cast<int>((next * 104729) % 500);
        r.lora = static_cast<int>(next % 5);
        r.arrival = now;
        (void)engine.add(std::move(r));
      }
    };
    for (int round = 0; round < 20; ++round) {
      add(200);
      for (int s = 0; s < 300 && engine.has_work(); ++s) {
        const auto& out = engine.step(now);
        now = out.end();
        metrics.on_step(out);
        for (const auto& f : out.finished) metrics.on_finished(f);
      }
    }
    add(300);
    auto name = [](int id) { return "sql-adapter-" + std::to_string(id); };
    return metrics.render(engine, name, 1.75e9);
  }();
  return page;
}

void BM_ReadEngineMetricsVllm(benchmark::State& state) {
  const std::string& page = vllm_page();
  for (auto _ : state) {
    auto metrics = gateway::read_engine_metrics(page, gateway::EngineType::kVllm);
    if (!metrics) state.SkipWithError(metrics.error().message.c_str());
    benchmark::DoNotOptimize(metrics);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * page.size()));
  state.counters["page_bytes"] = static_cast<double>(page.size());
}
BENCHMARK(BM_ReadEngineMetricsVllm)->Unit(benchmark::kMicrosecond);

// The full parse alone (every family, every sample built), as read_engine_metrics did
// before it filtered.
void BM_ParseVllmPage(benchmark::State& state) {
  const std::string& page = vllm_page();
  for (auto _ : state) {
    auto exposition = prom::parse_text(page);
    benchmark::DoNotOptimize(exposition);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * page.size()));
}
BENCHMARK(BM_ParseVllmPage)->Unit(benchmark::kMicrosecond);

// The filtered parse read_engine_metrics makes: the six families it reads for vLLM, every
// other line skipped on its name. Compare with BM_ParseVllmPage (the full parse it replaced).
void BM_ParseVllmPageFiltered(benchmark::State& state) {
  const std::string& page = vllm_page();
  const prom::FamilyFilter keep{"vllm:num_requests_waiting", "vllm:num_requests_running",
                                "vllm:kv_cache_usage_perc",  "vllm:gpu_cache_usage_perc",
                                "vllm:cache_config_info",    "vllm:lora_requests_info"};
  for (auto _ : state) {
    auto exposition = prom::parse_text(page, keep);
    if (!exposition) state.SkipWithError(exposition.error().message.c_str());
    benchmark::DoNotOptimize(exposition);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * page.size()));
}
BENCHMARK(BM_ParseVllmPageFiltered)->Unit(benchmark::kMicrosecond);

}  // namespace
