// The vLLM V1 metric set (names, labels, types, buckets as vLLM's metrics module defines them),
// fed by the engine's step outputs and rendered as Prometheus text for /metrics. The
// offline runner uses the same numbers for its engine summary.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/stats.h"
#include "sim/engine.h"

namespace kgai::sim {

struct CacheConfigInfo {
  int block_size = 16;
  int64_t num_gpu_blocks = 0;
  bool enable_prefix_caching = true;
  double gpu_memory_utilization = 0.9;
  std::string cache_dtype = "auto";
};

class VllmMetrics {
 public:
  VllmMetrics(std::string model_name, int max_model_len, CacheConfigInfo cache, int max_loras);

  void on_step(const StepOutput& step);
  void on_finished(const FinishedRequest& request);

  // Renders every metric. `lora_name` maps adapter ids to names for vllm:lora_requests_info;
  // `unix_now` is its value (vLLM sets it to the wall-clock time of the update).
  std::string render(const Engine& engine, const std::function<std::string(int)>& lora_name,
                     double unix_now) const;

  // Appends extra text (kgai's own metrics) after the vLLM families in render().
  void set_extra(std::function<void(std::string&)> extra) { extra_ = std::move(extra); }

 private:
  std::string model_name_;
  CacheConfigInfo cache_;
  int max_loras_;
  std::string engine_index_ = "0";

  stats::BucketHistogram ttft_;
  stats::BucketHistogram itl_;
  stats::BucketHistogram tpot_;  // deprecated name, same observations as itl_
  stats::BucketHistogram request_tpot_;
  stats::BucketHistogram e2e_;
  stats::BucketHistogram queue_time_;
  stats::BucketHistogram inference_time_;
  stats::BucketHistogram prefill_time_;
  stats::BucketHistogram decode_time_;
  stats::BucketHistogram prompt_tokens_;
  stats::BucketHistogram generation_tokens_;
  stats::BucketHistogram max_tokens_param_;
  stats::BucketHistogram iteration_tokens_;
  std::array<uint64_t, 3> success_by_reason_{};  // indexed by FinishReason
  std::function<void(std::string&)> extra_;
};

// vLLM's 1-2-5 series up to `max` (for token-count histograms).
std::vector<double> one_two_five_buckets(int64_t max);

}  // namespace kgai::sim
