// Hand-built Profiles for the manifests tests (what the quickstart search would answer), and a
// temporary folder that removes itself.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "quickstart/manifests.h"
#include "quickstart/profile.h"

namespace kgai::quickstart::test_profiles {

// Llama 3.1 8B on one L4 under a p90 TTFT target of 200 ms (chatbot lengths).
inline Profile l4_tp1() {
  Profile p;
  p.model = "meta-llama/Llama-3.1-8B-Instruct";
  p.accelerator = "nvidia-l4";
  p.accelerator_count = 1;
  p.instance_type = "g2-standard-8";
  p.cloud = "gcp";
  p.pricing_model = "on-demand";
  p.settings.tensor_parallel_size = 1;
  p.settings.max_num_seqs = 256;
  p.settings.max_num_batched_tokens = 2048;
  p.settings.max_model_len = 4096;
  p.settings.gpu_memory_utilization = 0.9;
  p.settings.block_size = 16;
  p.workload = {"chatbot", "128", "128", 128, 128, 128, 128};
  p.targets.ttft_ms = 200;
  p.targets.percentile = 90;
  p.at_saturation = false;
  p.point.offered_rate = 12.3;
  p.point.requests_per_second = 12.2;
  p.point.ttft_ms = 180;
  p.point.ntpot_ms = 31;
  p.point.itl_ms = 30;
  p.point.mean_running = 14.2;
  p.point.mean_waiting = 0.3;
  return p;
}

// Llama 3.1 70B on four H100s at saturation (no latency target), three replicas for a rate.
inline Profile h100_tp4() {
  Profile p;
  p.model = "meta-llama/Llama-3.1-70B-Instruct";
  p.accelerator = "nvidia-h100-80gb";
  p.accelerator_count = 4;
  p.instance_type = "a3-highgpu-4g";
  p.cloud = "gcp";
  p.settings.tensor_parallel_size = 4;
  p.settings.max_num_seqs = 512;
  p.settings.max_num_batched_tokens = 8192;
  p.settings.max_model_len = 16384;
  p.settings.gpu_memory_utilization = 0.92;
  p.settings.enable_prefix_caching = false;
  p.workload = {"text-summarization", "lognormal:1024,0.5", "normal:128,30", 1024, 128, 9000, 400};
  p.at_saturation = true;
  p.point.offered_rate = 20;
  p.point.requests_per_second = 19.5;
  p.point.ttft_ms = 900;
  p.point.ntpot_ms = 60;
  p.point.itl_ms = 55;
  p.point.mean_running = 180;
  p.point.mean_waiting = 7.6;
  p.replicas = 3;
  return p;
}

// Eight TPU v6e chips, closed loop.
inline Profile tpu_v6e() {
  Profile p = h100_tp4();
  p.model = "google/gemma-3-27b-it";
  p.accelerator = "tpu-v6e";
  p.accelerator_count = 8;
  p.instance_type = "ct6e-standard-8t";
  p.settings.tensor_parallel_size = 8;
  p.replicas.reset();
  p.point.offered_rate = 0;
  p.point.concurrency = 64;
  p.point.requests_per_second = 8;
  return p;
}

inline Profile amd_mi300x() {
  Profile p = l4_tp1();
  p.accelerator = "amd-mi300x";
  p.cloud = "azure";
  p.instance_type.clear();
  return p;
}

inline ManifestOptions options() {
  ManifestOptions o;
  o.generated_on = "2026-09-30";
  o.kgai_version = "0.1.0";
  return o;
}

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("kgai-manifests-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" +
             info->name());
    std::filesystem::remove_all(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace kgai::quickstart::test_profiles
