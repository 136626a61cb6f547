// Prometheus text format: writing a vLLM-sized /metrics page (every scrape of kgai sim) and
// parsing it (the gateway scrapes every model server every 50 ms).
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/prometheus.h"
#include "common/stats.h"

namespace {

using kgai::prom::LabelView;
using kgai::prom::MetricType;

const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                          0.25,  0.5,   0.75, 1,    2.5,  5,    7.5,  10,
                                          20,    40,    80,   160,  640,  2560};
const std::vector<double> kItlBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                         0.75, 1,     2.5,  5,     7.5, 10,   20,  40,  80};
const std::vector<double> kRequestBuckets = {0.3, 0.5, 0.8, 1,  1.5, 2,   2.5, 5,   10,   15,  20,
                                             30,  40,  50,  60, 120, 240, 480, 960, 1920, 7680};
const std::vector<double> kTokenBuckets = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 131072};
const std::vector<double> kIterationBuckets = {1,   8,    16,   32,   64,   128,  256,
                                               512, 1024, 2048, 4096, 8192, 16384};

struct HistogramFamily {
  const char* name;
  const std::vector<double>* bounds;
};

// What one vLLM server (one model, one engine core) exposes, with the Python client's
// process metrics and the HTTP instrumentator's: 60 families, 20 of them histograms.
class VllmExposition {
 public:
  VllmExposition() {
    for (const HistogramFamily& family : histogram_families_) {
      kgai::stats::BucketHistogram histogram(*family.bounds);
      double scale = family.bounds->back() / 50;
      for (int i = 0; i < 2000; ++i) histogram.observe(scale * ((i * 7919) % 1000) / 1000.0);
      histograms_.push_back(std::move(histogram));
    }
  }

  std::string write() const {
    kgai::prom::TextWriter writer;
    const std::initializer_list<LabelView> labels = {{"engine", "0"}, {"model_name", kModel}};
    for (const char* name : kProcessGauges) {
      writer.family(name, MetricType::kGauge, "Process metric.");
      writer.sample(name, {}, 1745812281.39);
    }
    for (const char* name : kProcessCounters) {
      writer.family(name, MetricType::kCounter, "Process counter.");
      for (const char* generation : {"0", "1", "2"}) {
        writer.sample(name, {{"generation", generation}}, 12834);
      }
    }
    for (const char* name : kVllmGauges) {
      writer.family(name, MetricType::kGauge, "Number of requests, or a fraction of the cache.");
      writer.sample(name, labels, 0.6875);
    }
    for (const char* stem : kVllmCounters) {
      std::string total = std::string(stem) + "_total";
      std::string created = std::string(stem) + "_created";
      writer.family(total, MetricType::kCounter, "Cumulative count, in tokens or requests.");
      writer.sample(total, labels, 482112);
      writer.sample(created, labels, 1745812290.1234);
    }
    writer.family("vllm:request_success_total", MetricType::kCounter, "Finished requests.");
    for (const char* reason : {"stop", "length", "abort"}) {
      std::initializer_list<LabelView> with_reason = {
          {"engine", "0"}, {"finished_reason", reason}, {"model_name", kModel}};
      writer.sample("vllm:request_success_total", with_reason, 1290);
      writer.sample("vllm:request_success_created", with_reason, 1745812290.1234);
    }
    for (std::size_t i = 0; i < std::size(histogram_families_); ++i) {
      writer.family(histogram_families_[i].name, MetricType::kHistogram, "Histogram.");
      writer.histogram(histogram_families_[i].name, labels, histograms_[i]);
    }
    writer.family("vllm:lora_requests_info", MetricType::kGauge, "Running stats on LoRA.");
    writer.sample("vllm:lora_requests_info",
                  {{"max_lora", "4"},
                   {"running_lora_adapters", "sql-lora,chat-lora"},
                   {"waiting_lora_adapters", ""}},
                  1745812399.5);
    writer.family("vllm:cache_config_info", MetricType::kGauge, "CacheConfig.");
    writer.sample("vllm:cache_config_info",
                  {{"block_size", "16"},
                   {"cache_dtype", "auto"},
                   {"enable_prefix_caching", "True"},
                   {"engine", "0"},
                   {"gpu_memory_utilization", "0.9"},
                   {"num_cpu_blocks", "None"},
                   {"num_gpu_blocks", "27152"},
                   {"swap_space", "4"}},
                  1);
    return writer.take();
  }

  static std::size_t family_count() {
    return std::size(kProcessGauges) + std::size(kProcessCounters) + std::size(kVllmGauges) +
           std::size(kVllmCounters) + 1 + std::size(histogram_families_) + 2;
  }

 private:
  static constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";
  static constexpr const char* kProcessGauges[] = {"python_info",
                                                   "process_virtual_memory_bytes",
                                                   "process_resident_memory_bytes",
                                                   "process_start_time_seconds",
                                                   "process_open_fds",
                                                   "process_max_fds"};
  static constexpr const char* kProcessCounters[] = {
      "python_gc_objects_collected_total", "python_gc_objects_uncollectable_total",
      "python_gc_collections_total", "process_cpu_seconds_total", "http_requests_total"};
  static constexpr const char* kVllmGauges[] = {"vllm:num_requests_running",
                                                "vllm:num_requests_waiting",
                                                "vllm:kv_cache_usage_perc",
                                                "vllm:gpu_cache_usage_perc",
                                                "vllm:num_requests_swapped",
                                                "vllm:cpu_cache_usage_perc",
                                                "vllm:gpu_prefix_cache_hit_rate",
                                                "vllm:cpu_prefix_cache_hit_rate",
                                                "vllm:avg_prompt_throughput_toks_per_s",
                                                "vllm:avg_generation_throughput_toks_per_s",
                                                "vllm:spec_decode_draft_acceptance_rate",
                                                "vllm:spec_decode_efficiency"};
  static constexpr const char* kVllmCounters[] = {"vllm:prefix_cache_queries",
                                                  "vllm:prefix_cache_hits",
                                                  "vllm:num_preemptions",
                                                  "vllm:prompt_tokens",
                                                  "vllm:generation_tokens",
                                                  "vllm:spec_decode_num_drafts",
                                                  "vllm:spec_decode_num_draft_tokens",
                                                  "vllm:spec_decode_num_accepted_tokens",
                                                  "vllm:mm_cache_queries",
                                                  "vllm:mm_cache_hits",
                                                  "vllm:corrupted_requests",
                                                  "vllm:external_prefix_cache_queries",
                                                  "vllm:external_prefix_cache_hits",
                                                  "vllm:num_lora_requests"};
  static constexpr HistogramFamily histogram_families_[] = {
      {"vllm:time_to_first_token_seconds", &kTtftBuckets},
      {"vllm:inter_token_latency_seconds", &kItlBuckets},
      {"vllm:time_per_output_token_seconds", &kItlBuckets},
      {"vllm:request_time_per_output_token_seconds", &kItlBuckets},
      {"vllm:e2e_request_latency_seconds", &kRequestBuckets},
      {"vllm:request_queue_time_seconds", &kRequestBuckets},
      {"vllm:request_inference_time_seconds", &kRequestBuckets},
      {"vllm:request_prefill_time_seconds", &kRequestBuckets},
      {"vllm:request_decode_time_seconds", &kRequestBuckets},
      {"vllm:model_forward_time_milliseconds", &kRequestBuckets},
      {"vllm:model_execute_time_milliseconds", &kRequestBuckets},
      {"vllm:request_prompt_tokens", &kTokenBuckets},
      {"vllm:request_generation_tokens", &kTokenBuckets},
      {"vllm:request_params_max_tokens", &kTokenBuckets},
      {"vllm:request_max_num_generation_tokens", &kTokenBuckets},
      {"vllm:request_params_n", &kIterationBuckets},
      {"vllm:iteration_tokens_total", &kIterationBuckets},
      {"vllm:num_tokens_cached_per_request", &kTokenBuckets},
      {"http_request_duration_seconds", &kRequestBuckets},
      {"http_request_size_bytes", &kTokenBuckets}};

  std::vector<kgai::stats::BucketHistogram> histograms_;
};

void BM_WriteVllmExposition(benchmark::State& state) {
  VllmExposition exposition;
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = exposition.write();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["families"] = static_cast<double>(VllmExposition::family_count());
}
BENCHMARK(BM_WriteVllmExposition);

void BM_ParseVllmExposition(benchmark::State& state) {
  const std::string text = VllmExposition().write();
  std::size_t samples = 0;
  std::size_t families = 0;
  for (auto _ : state) {
    auto parsed = kgai::prom::parse_text(text);
    if (!parsed) {
      state.SkipWithError(parsed.error().message.c_str());
      return;
    }
    families = parsed->families.size();
    samples = 0;
    for (const auto& family : parsed->families) samples += family.samples.size();
    benchmark::DoNotOptimize(parsed->families.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
  state.counters["families"] = static_cast<double>(families);
  state.counters["samples"] = static_cast<double>(samples);
}
BENCHMARK(BM_ParseVllmExposition);

// What the gateway does per scrape: parse, then read the few signals it routes on.
void BM_ScrapeAndReadSignals(benchmark::State& state) {
  const std::string text = VllmExposition().write();
  for (auto _ : state) {
    auto parsed = kgai::prom::parse_text(text);
    const auto* waiting = parsed->find_sample("vllm:num_requests_waiting");
    const auto* running = parsed->find_sample("vllm:num_requests_running");
    const auto* usage = parsed->find_sample("vllm:kv_cache_usage_perc");
    const auto* lora = parsed->find_sample("vllm:lora_requests_info");
    benchmark::DoNotOptimize(waiting->value + running->value + usage->value + lora->value);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ScrapeAndReadSignals);

void BM_FormatValue(benchmark::State& state) {
  const double values[] = {3, 0.6875, 1745812290.1234, 1e-9, 482112, 0.30000000000000004};
  for (auto _ : state) {
    for (double value : values) {
      std::string text = kgai::prom::format_value(value);
      benchmark::DoNotOptimize(text.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * std::size(values)));
}
BENCHMARK(BM_FormatValue);

}  // namespace
