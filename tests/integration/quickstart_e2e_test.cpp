// Issue 13's end-to-end check: the perf config `manifests create` writes for a searched profile
// runs with `kgai perf` against a `kgai sim` configured as the profile says, and lands within
// 10 % of the prediction.
//
// The sim runs --time-scale kTimeScale times faster than the wall clock, so the config's rate is
// multiplied by it and the measured latencies too (throughputs divided). The client's own cost
// (HTTP, SSE parsing) is multiplied with them; at this scale it is a few simulated ms, small
// next to an L4's ~100 ms steps.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "integration/process.h"
#include "quickstart/load_point.h"
#include "quickstart/manifests.h"
#include "quickstart/search.h"
#include "sim/setup.h"

namespace kgai {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr double kTimeScale = 4;
constexpr double kWallSeconds = 20;  // 80 s of simulated load, about 550 requests

TEST(QuickstartEndToEnd, PerfAgainstSimLandsWithinTenPercentOfTheProfile) {
  auto catalog = catalog::Catalog::builtin();
  ASSERT_TRUE(catalog) << catalog.error().message;
  auto prices = quickstart::PriceBook::builtin(*catalog);
  ASSERT_TRUE(prices) << prices.error().message;

  // Llama-3.1-8B on one L4, 256 tokens in and 64 out, p90 TTFT <= 400 ms: about 7 req/s.
  quickstart::SearchRequest request;
  request.models = {"llama-3.1-8b"};
  request.accelerators = {"l4"};
  request.tensor_parallel = {1};
  request.workload.input = sim::LengthDistribution::fixed(256);
  request.workload.output = sim::LengthDistribution::fixed(64);
  request.shape = {"lengths", "256", "64", 256, 64, 256, 64};
  request.targets.ttft_ms = 400;
  request.targets.percentile = 90;
  auto found = quickstart::search_profiles(*catalog, *prices, request);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->profiles.size(), 1u);
  const quickstart::Profile& profile = found->profiles[0];
  const quickstart::OperatingPoint& predicted = profile.point;
  const auto& s = profile.settings;

  testing::KgaiProcess sim({"sim",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            "0",
                            "--model",
                            profile.model,
                            "--accelerator",
                            profile.accelerator,
                            "--tp",
                            std::to_string(s.tensor_parallel_size),
                            "--max-num-seqs",
                            std::to_string(s.max_num_seqs),
                            "--max-num-batched-tokens",
                            std::to_string(s.max_num_batched_tokens),
                            "--max-model-len",
                            std::to_string(s.max_model_len),
                            "--block-size",
                            std::to_string(s.block_size),
                            "--gpu-memory-utilization",
                            fmt::format("{}", s.gpu_memory_utilization),
                            "--time-scale",
                            fmt::format("{}", kTimeScale),
                            "--seed",
                            "1"});
  const auto ports = sim.wait_for_ports(1);
  ASSERT_EQ(ports.size(), 1u) << sim.output();
  const std::string url = fmt::format("http://127.0.0.1:{}", ports[0]);

  // The generated config, for the sim's URL, at the sim's speed.
  quickstart::Profile scaled = profile;
  scaled.point.offered_rate *= kTimeScale;
  quickstart::ManifestOptions options;
  options.perf_duration_s = kWallSeconds;
  auto text = quickstart::make_perf_config(scaled, options, url);
  ASSERT_TRUE(text) << text.error().message;
  const fs::path dir = fs::temp_directory_path() / ("kgai-qs-e2e-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  YAML::Node config = YAML::Load(*text);
  ASSERT_EQ(config["load"]["type"].as<std::string>(), "poisson");
  ASSERT_NEAR(config["load"]["stages"][0]["rate"].as<double>(), predicted.offered_rate * kTimeScale,
              1e-6);
  config["load"]["base_seed"] = 11;
  config["storage"]["local_storage"]["path"] = (dir / "report").string();
  {
    YAML::Emitter out;
    out << config;
    std::ofstream(dir / "perf.yaml") << out.c_str();
  }
  testing::KgaiProcess perf({"perf", "--config", (dir / "perf.yaml").string(), "--quiet"});
  ASSERT_EQ(perf.wait_exit(std::chrono::seconds(static_cast<int>(kWallSeconds) + 40)), 0)
      << perf.output();
  std::ifstream in(dir / "report" / "stage_0_lifecycle_metrics.json");
  ASSERT_TRUE(in);
  const auto stage = nlohmann::json::parse(in);
  const auto& ok = stage["successes"];
  ASSERT_EQ(ok["count"], stage["load_summary"]["count"]) << stage.dump(2);
  ASSERT_EQ(ok["output_len"]["mean"].get<double>(), 64);
  ASSERT_EQ(ok["prompt_len"]["mean"].get<double>(), 256);

  // Measured, in simulated time.
  const auto ms = [&](const char* name, const char* q) {
    return ok["latency"][name][q].get<double>() * 1e3 * kTimeScale;
  };
  const double achieved_rate = stage["load_summary"]["achieved_rate"].get<double>() / kTimeScale;
  // Steady state: the rate the sends kept (every request finished) x the output length, as the
  // search measures it; perf's own figure divides by first send to last answer, so it includes
  // the drain at the end (one request latency, a couple of percent of a long run).
  const double steady_output = achieved_rate * 64;
  const double perf_output = ok["throughput"]["output_tokens_per_sec"].get<double>() / kTimeScale;

  // The prediction again at the rate the perf run actually sent (a Poisson sample's rate is a
  // few percent off its nominal one, and TTFT is steep at the highest rate meeting a target).
  auto setup = sim::make_setup(*catalog, sim::SetupRequest{
                                             .model = profile.model,
                                             .accelerator = profile.accelerator,
                                             .tensor_parallel = s.tensor_parallel_size,
                                             .max_num_seqs = s.max_num_seqs,
                                             .max_num_batched_tokens = s.max_num_batched_tokens,
                                             .max_model_len = s.max_model_len,
                                         });
  ASSERT_TRUE(setup) << setup.error().message;
  auto again = quickstart::measure_load(setup->engine, *setup->latency, request.workload,
                                        {achieved_rate, 0, 2000}, request.targets);
  ASSERT_TRUE(again) << again.error().message;

  struct Row {
    const char* figure;
    double predicted, at_achieved_rate, measured;
  };
  const Row rows[] = {
      {"rate req/s", predicted.offered_rate, again->offered_rate, achieved_rate},
      {"output tok/s (steady)", predicted.output_tokens_per_second, again->output_tokens_per_second,
       steady_output},
      {"output tok/s (perf)", predicted.output_tokens_per_second, again->output_tokens_per_second,
       perf_output},
      {"TTFT p50 ms", predicted.ttft.p50, again->ttft.p50, ms("time_to_first_token", "median")},
      {"TTFT p90 ms", predicted.ttft.p90, again->ttft.p90, ms("time_to_first_token", "p90")},
      {"NTPOT p50 ms", predicted.ntpot.p50, again->ntpot.p50,
       ms("normalized_time_per_output_token", "median")},
      {"NTPOT p90 ms", predicted.ntpot.p90, again->ntpot.p90,
       ms("normalized_time_per_output_token", "p90")},
      {"ITL p50 ms", predicted.itl.p50, again->itl.p50, ms("inter_token_latency", "median")},
      {"ITL p90 ms", predicted.itl.p90, again->itl.p90, ms("inter_token_latency", "p90")},
  };
  std::string table = fmt::format("{:<24}{:>12}{:>16}{:>12}{:>10}{:>10}\n", "figure", "predicted",
                                  "at sent rate", "measured", "vs pred", "vs again");
  for (const Row& r : rows) {
    table += fmt::format("{:<24}{:>12.2f}{:>16.2f}{:>12.2f}{:>+9.1f}%{:>+9.1f}%\n", r.figure,
                         r.predicted, r.at_achieved_rate, r.measured,
                         100 * (r.measured / r.predicted - 1),
                         100 * (r.measured / r.at_achieved_rate - 1));
  }
  std::cout << table;
  ::testing::Test::RecordProperty("figures", table);

  const auto within = [](double measured, double expected, double share) {
    return std::fabs(measured / expected - 1) <= share;
  };
  // Throughput: within 10 % of the profile.
  EXPECT_TRUE(within(steady_output, predicted.output_tokens_per_second, 0.10)) << table;
  EXPECT_TRUE(within(perf_output, predicted.output_tokens_per_second, 0.10)) << table;
  // Per-token latencies: within 10 % of the profile.
  for (const Row& r : {rows[5], rows[6], rows[7], rows[8]})
    EXPECT_TRUE(within(r.measured, r.predicted, 0.10)) << r.figure << "\n" << table;
  // TTFT: within 10 % of the engine's answer at the rate perf sent.
  for (const Row& r : {rows[3], rows[4]})
    EXPECT_TRUE(within(r.measured, r.at_achieved_rate, 0.10)) << r.figure << "\n" << table;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kgai
