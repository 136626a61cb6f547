#include "sim/vllm_metrics.h"

#include <fmt/format.h>

#include "common/prometheus.h"

namespace kgai::sim {

namespace {

std::vector<double> ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}
std::vector<double> token_latency_buckets() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
          0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
}
std::vector<double> request_latency_buckets() {
  return {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
          30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}
std::vector<double> iteration_token_buckets() {
  return {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
}

std::string join_lora_names(const std::vector<int>& ids,
                            const std::function<std::string(int)>& name) {
  std::string out;
  for (int id : ids) {
    if (!out.empty()) out += ',';
    out += name(id);
  }
  return out;
}

}  // namespace

std::vector<double> one_two_five_buckets(int64_t max) {
  std::vector<double> out;
  for (int64_t scale = 1;; scale *= 10) {
    for (int64_t m : {1, 2, 5}) {
      if (m * scale > max) return out;
      out.push_back(static_cast<double>(m * scale));
    }
  }
}

VllmMetrics::VllmMetrics(std::string model_name, int max_model_len, CacheConfigInfo cache,
                         int max_loras)
    : model_name_(std::move(model_name)),
      cache_(std::move(cache)),
      max_loras_(max_loras),
      ttft_(ttft_buckets()),
      itl_(token_latency_buckets()),
      tpot_(token_latency_buckets()),
      request_tpot_(token_latency_buckets()),
      e2e_(request_latency_buckets()),
      queue_time_(request_latency_buckets()),
      inference_time_(request_latency_buckets()),
      prefill_time_(request_latency_buckets()),
      decode_time_(request_latency_buckets()),
      prompt_tokens_(one_two_five_buckets(max_model_len)),
      generation_tokens_(one_two_five_buckets(max_model_len)),
      max_tokens_param_(one_two_five_buckets(max_model_len)),
      iteration_tokens_(iteration_token_buckets()) {}

void VllmMetrics::on_step(const StepOutput& step) {
  if (step.num_scheduled == 0) return;
  iteration_tokens_.observe(step.prefill_tokens + step.decode_tokens);
  for_each_token_gap(step, [this](double gap, uint64_t count) {
    itl_.observe(gap, count);
    tpot_.observe(gap, count);
  });
}

void VllmMetrics::on_finished(const FinishedRequest& r) {
  success_by_reason_[static_cast<size_t>(r.reason)] += 1;
  if (r.reason == FinishReason::kAbort) return;
  e2e_.observe(r.finished - r.arrival);
  if (r.first_scheduled >= 0) {
    queue_time_.observe(r.first_scheduled - r.arrival);
    inference_time_.observe(r.finished - r.first_scheduled);
  }
  if (r.first_token >= 0) {
    ttft_.observe(r.first_token - r.arrival);
    if (r.first_scheduled >= 0) prefill_time_.observe(r.first_token - r.first_scheduled);
    decode_time_.observe(r.finished - r.first_token);
    if (r.output_tokens > 1) {
      request_tpot_.observe((r.finished - r.first_token) / (r.output_tokens - 1));
    }
  }
  prompt_tokens_.observe(r.prompt_tokens);
  generation_tokens_.observe(r.output_tokens);
  max_tokens_param_.observe(r.max_tokens);
}

std::string VllmMetrics::render(const Engine& engine,
                                const std::function<std::string(int)>& lora_name,
                                double unix_now) const {
  using prom::MetricType;
  prom::TextWriter w;
  const std::initializer_list<prom::LabelView> labels = {{"engine", engine_index_},
                                                         {"model_name", model_name_}};
  auto gauge = [&](std::string_view name, std::string_view help, double value) {
    w.family(name, MetricType::kGauge, help);
    w.sample(name, labels, value);
  };
  auto counter = [&](std::string_view name, std::string_view help, double value) {
    std::string total = fmt::format("{}_total", name);
    w.family(total, MetricType::kCounter, help);
    w.sample(total, labels, value);
  };
  auto histogram = [&](std::string_view name, std::string_view help,
                       const stats::BucketHistogram& h) {
    w.family(name, MetricType::kHistogram, help);
    w.histogram(name, labels, h);
  };

  const EngineCounters& c = engine.counters();
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
        engine.num_running());
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
        engine.num_waiting());
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
        engine.kv_usage());
  gauge("vllm:gpu_cache_usage_perc",
        "GPU KV-cache usage. 1 means 100 percent usage. Deprecated: use vllm:kv_cache_usage_perc.",
        engine.kv_usage());
  counter("vllm:prefix_cache_queries",
          "Prefix cache queries, in terms of number of queried tokens.",
          static_cast<double>(c.prefix_queries));
  counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
          static_cast<double>(c.prefix_hits));
  counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.",
          static_cast<double>(c.preemptions));
  counter("vllm:prompt_tokens", "Number of prefill tokens processed.",
          static_cast<double>(c.prompt_tokens));
  counter("vllm:generation_tokens", "Number of generation tokens processed.",
          static_cast<double>(c.generation_tokens));

  w.family("vllm:request_success_total", MetricType::kCounter,
           "Count of successfully processed requests.");
  for (FinishReason reason : {FinishReason::kStop, FinishReason::kLength, FinishReason::kAbort}) {
    w.sample("vllm:request_success_total",
             {{"engine", engine_index_},
              {"finished_reason", finish_reason_name(reason)},
              {"model_name", model_name_}},
             static_cast<double>(success_by_reason_[static_cast<size_t>(reason)]));
  }

  histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
            ttft_);
  histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
            itl_);
  histogram("vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds. Deprecated: use "
            "vllm:inter_token_latency_seconds.",
            tpot_);
  histogram("vllm:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.", request_tpot_);
  histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
            e2e_);
  histogram("vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.", queue_time_);
  histogram("vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.", inference_time_);
  histogram("vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.", prefill_time_);
  histogram("vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.", decode_time_);
  histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", prompt_tokens_);
  histogram("vllm:request_generation_tokens", "Number of generation tokens processed.",
            generation_tokens_);
  histogram("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.",
            max_tokens_param_);
  histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
            iteration_tokens_);

  const std::string max_lora = std::to_string(max_loras_);
  const std::string running = join_lora_names(engine.running_loras(), lora_name);
  const std::string waiting = join_lora_names(engine.waiting_loras(), lora_name);
  w.family("vllm:lora_requests_info", MetricType::kGauge, "Running stats on lora requests.");
  w.sample("vllm:lora_requests_info",
           {{"max_lora", max_lora},
            {"running_lora_adapters", running},
            {"waiting_lora_adapters", waiting}},
           unix_now);

  const std::string block_size = std::to_string(cache_.block_size);
  const std::string num_blocks = std::to_string(cache_.num_gpu_blocks);
  const std::string utilization = prom::format_value(cache_.gpu_memory_utilization);
  w.family("vllm:cache_config_info", MetricType::kGauge,
           "Information of the LLMEngine CacheConfig");
  w.sample("vllm:cache_config_info",
           {{"block_size", block_size},
            {"cache_dtype", cache_.cache_dtype},
            {"enable_prefix_caching", cache_.enable_prefix_caching ? "True" : "False"},
            {"engine", engine_index_},
            {"gpu_memory_utilization", utilization},
            {"num_gpu_blocks", num_blocks}},
           1.0);

  std::string text = w.take();
  if (extra_) extra_(text);
  return text;
}

}  // namespace kgai::sim
