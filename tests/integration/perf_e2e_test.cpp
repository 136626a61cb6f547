// `kgai perf` against a real `kgai sim` on loopback: flags, a config file, report files.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/process.h"

namespace kgai {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class PerfE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<testing::KgaiProcess>(std::vector<std::string>{
        "sim", "--host", "127.0.0.1", "--port", "0", "--time-scale", "10", "--seed", "3"});
    auto ports = sim_->wait_for_ports(1);
    ASSERT_EQ(ports.size(), 1u) << sim_->output();
    url_ = "http://127.0.0.1:" + std::to_string(ports[0]);
    dir_ = fs::temp_directory_path() /
           ("kgai-perf-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  json read(const std::string& name) {
    std::ifstream in(dir_ / name);
    EXPECT_TRUE(in) << name;
    return json::parse(in, nullptr, false);
  }

  std::unique_ptr<testing::KgaiProcess> sim_;
  std::string url_;
  fs::path dir_;
};

TEST_F(PerfE2E, FlagsRunAStreamedStageAndWriteReports) {
  testing::KgaiProcess perf({"perf", "--url", url_, "--stream", "--rate", "20", "--duration", "2",
                             "--input-len", "100", "--output-len", "12", "--seed", "5", "--out",
                             dir_.string(), "--per-request", "--quiet"});
  ASSERT_EQ(perf.wait_exit(std::chrono::seconds(60)), 0) << perf.output();
  EXPECT_NE(perf.output().find("Serving Benchmark Result"), std::string::npos) << perf.output();
  EXPECT_NE(perf.output().find("Server (/metrics)"), std::string::npos) << perf.output();
  for (const char* f : {"summary_lifecycle_metrics.json", "stage_0_lifecycle_metrics.json",
                        "per_request_lifecycle_metrics.json", "config.yaml", "kgai_run.json"}) {
    EXPECT_TRUE(fs::exists(dir_ / f)) << f;
  }
  auto s = read("summary_lifecycle_metrics.json");
  EXPECT_EQ(s["load_summary"]["count"], 40);
  EXPECT_EQ(s["successes"]["count"], 40);
  EXPECT_EQ(s["failures"]["count"], 0);
  // Usage comes from the server: exactly 12 tokens out, 100 in (plain text, no template).
  EXPECT_EQ(s["successes"]["output_len"]["mean"], 12);
  EXPECT_EQ(s["successes"]["prompt_len"]["mean"], 100);
  const double ttft = s["successes"]["latency"]["time_to_first_token"]["median"];
  EXPECT_GT(ttft, 0.0);
  EXPECT_LT(ttft, 1.0);
  EXPECT_FALSE(s["successes"]["latency"]["inter_token_latency"].is_null());
  EXPECT_LT(s["load_summary"]["schedule_delay"]["p99"].get<double>(), 0.1);
  auto per_request = read("per_request_lifecycle_metrics.json");
  ASSERT_EQ(per_request.size(), 40u);
  EXPECT_EQ(per_request[0]["token_times"].size(), 12u);
  // Server-side metrics, scraped from the sim's /metrics around the stage.
  auto server = read("stage_0_prometheus_metrics.json");
  EXPECT_EQ(server["source"], "direct");
  EXPECT_EQ(server["scrape_errors"], 0) << server.dump(2);
  EXPECT_TRUE(server["kv_cache_usage"]["max"].is_number()) << server.dump(2);
  EXPECT_GT(server["num_requests"].get<double>(), 0);
  EXPECT_LE(server["num_requests"].get<double>(), 40);
  EXPECT_EQ(read("summary_prometheus_metrics.json")["stages"], 1);
}

TEST_F(PerfE2E, ConfigFileWithConcurrentStagesAndChat) {
  fs::create_directories(dir_);
  const fs::path config = dir_ / "perf.yaml";
  std::ofstream(config) << "api: {type: chat, streaming: true}\n"
                           "data:\n"
                           "  type: shared_prefix\n"
                           "  shared_prefix: {num_unique_system_prompts: 2, "
                           "num_users_per_system_prompt: 4, system_prompt_len: 200, "
                           "question_len: 20, output_len: 5}\n"
                           "load:\n"
                           "  type: concurrent\n"
                           "  interval: 0.2\n"
                           "  stages: [{num_requests: 16, concurrency_level: 4}, "
                           "{num_requests: 16, concurrency_level: 8}]\n"
                           "  extra_key: 1\n"
                           "server: {type: vllm, base_url: " +
                               url_ +
                               "}\n"
                               "storage: {local_storage: {path: " +
                               (dir_ / "out").string() + "}}\n";
  testing::KgaiProcess perf({"perf", "--config", config.string(), "--quiet"});
  ASSERT_EQ(perf.wait_exit(std::chrono::seconds(60)), 0) << perf.output();
  EXPECT_NE(perf.output().find("extra_key"), std::string::npos) << perf.output();  // warned
  dir_ = dir_ / "out";
  auto s = read("summary_lifecycle_metrics.json");
  EXPECT_EQ(s["successes"]["count"], 32);
  EXPECT_TRUE(fs::exists(dir_ / "stage_1_lifecycle_metrics.json"));
  // Shared system prompts hit the simulator's prefix cache.
  EXPECT_EQ(s["successes"]["output_len"]["mean"], 5);
}

TEST_F(PerfE2E, SweepFindsSaturationThenRunsStagesUpToIt) {
  fs::create_directories(dir_);
  const fs::path config = dir_ / "sweep.yaml";
  std::ofstream(config) << "data: {type: mock}\n"
                           "load:\n"
                           "  type: constant\n"
                           "  interval: 0.1\n"
                           "  sweep: {type: geometric, num_requests: 100, timeout: 20, "
                           "num_stages: 2, stage_duration: 1}\n"
                           "server: {base_url: \"" +
                               url_ +
                               "\"}\n"
                               "storage: {local_storage: {path: \"" +
                               (dir_ / "out").string() + "\"}}\n";
  testing::KgaiProcess perf({"perf", "--config", config.string(), "--quiet"});
  ASSERT_EQ(perf.wait_exit(std::chrono::seconds(60)), 0) << perf.output();
  EXPECT_NE(perf.output().find("sweep: saturation at"), std::string::npos) << perf.output();
  dir_ = dir_ / "out";
  auto last = read("stage_1_lifecycle_metrics.json");
  auto first = read("stage_0_lifecycle_metrics.json");
  EXPECT_GT(last["load_summary"]["requested_rate"].get<double>(),
            first["load_summary"]["requested_rate"].get<double>());
  EXPECT_EQ(last["failures"]["count"], 0);
}

// Three shards started together send exactly the requests one generator sends (same indices,
// prompts and send times), and merge gives one report over all of them.
TEST_F(PerfE2E, ShardsMergeIntoTheRunOneGeneratorSends) {
  const std::vector<std::string> common = {"perf",         "--url", url_,          "--stream",
                                           "--rate",       "30",    "--duration",  "2",
                                           "--seed",       "9",     "--input-len", "uniform:20,200",
                                           "--output-len", "4",     "--quiet",     "--per-request"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  testing::KgaiProcess one(with({"--out", (dir_ / "one").string()}));
  ASSERT_EQ(one.wait_exit(std::chrono::seconds(60)), 0) << one.output();

  const double start_at =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() +
      1.5;
  const std::string at = fmt::format("{:.3f}", start_at);
  std::vector<std::unique_ptr<testing::KgaiProcess>> shards;
  std::vector<std::string> merge_args = {"perf", "merge"};
  for (int i = 0; i < 3; ++i) {
    const std::string out = (dir_ / fmt::format("shard{}", i)).string();
    shards.push_back(std::make_unique<testing::KgaiProcess>(
        with({"--shard", fmt::format("{}/3", i), "--start-at", at, "--out", out})));
    merge_args.push_back(out);
  }
  for (auto& shard : shards) {
    ASSERT_EQ(shard->wait_exit(std::chrono::seconds(60)), 0) << shard->output();
  }
  EXPECT_TRUE(fs::exists(dir_ / "shard1" / "kgai_records.jsonl"));
  // Only shard 0 scrapes the server.
  EXPECT_TRUE(fs::exists(dir_ / "shard0" / "stage_0_prometheus_metrics.json"));
  EXPECT_FALSE(fs::exists(dir_ / "shard1" / "stage_0_prometheus_metrics.json"));
  merge_args.insert(merge_args.end(), {"--out", (dir_ / "merged").string()});
  testing::KgaiProcess merge(merge_args);
  ASSERT_EQ(merge.wait_exit(std::chrono::seconds(60)), 0) << merge.output();
  EXPECT_NE(merge.output().find("Serving Benchmark Result"), std::string::npos);

  const fs::path root = dir_;
  dir_ = root / "merged";
  auto summary = read("summary_lifecycle_metrics.json");
  auto merged = read("per_request_lifecycle_metrics.json");
  auto stage = read("stage_0_lifecycle_metrics.json");
  EXPECT_TRUE(fs::exists(dir_ / "stage_0_prometheus_metrics.json"));
  dir_ = root / "one";
  auto single = read("per_request_lifecycle_metrics.json");
  dir_ = root;
  EXPECT_EQ(summary["load_summary"]["count"], 60);
  EXPECT_EQ(summary["successes"]["count"], 60);
  EXPECT_EQ(stage["load_summary"]["requested_rate"], 30.0);  // the whole stage's rate
  EXPECT_LT(summary["load_summary"]["schedule_delay"]["p99"].get<double>(), 0.1);
  ASSERT_EQ(merged.size(), single.size());
  for (size_t k = 0; k < merged.size(); ++k) {
    EXPECT_EQ(merged[k]["index"], k);
    EXPECT_EQ(merged[k]["index"], single[k]["index"]);
    EXPECT_EQ(merged[k]["prompt_tokens"], single[k]["prompt_tokens"]) << k;
    EXPECT_NEAR(merged[k]["scheduled"].get<double>(), single[k]["scheduled"].get<double>(), 1e-9)
        << k;
  }
}

TEST_F(PerfE2E, BadInputFailsBeforeSending) {
  fs::create_directories(dir_);
  const fs::path config = dir_ / "bad.yaml";
  std::ofstream(config) << "load:\n  type: constant\n  stages: [{rate: fast, duration: 1}]\n";
  testing::KgaiProcess bad({"perf", "--config", config.string(), "--quiet"});
  EXPECT_EQ(bad.wait_exit(), 2);
  EXPECT_NE(bad.output().find("load.stages[0].rate"), std::string::npos) << bad.output();

  testing::KgaiProcess no_target({"perf", "--rate", "1"});
  EXPECT_EQ(no_target.wait_exit(), 2);
  EXPECT_NE(no_target.output().find("--url"), std::string::npos) << no_target.output();

  testing::KgaiProcess refused(
      {"perf", "--url", "http://127.0.0.1:9", "--rate", "1", "--duration", "1", "--quiet"});
  EXPECT_EQ(refused.wait_exit(), 2);
  EXPECT_NE(refused.output().find("model discovery"), std::string::npos) << refused.output();
}

}  // namespace
}  // namespace kgai
