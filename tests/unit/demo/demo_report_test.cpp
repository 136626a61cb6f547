#include "demo/demo_report.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace kgai::demo {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

StageResult stage(double rate, double ttft_p90, double tokens) {
  return {.rate = rate,
          .achieved_rate = rate * 0.98,
          .ttft_p50 = ttft_p90 / 2,
          .ttft_p90 = ttft_p90,
          .ntpot_p50 = 0.012,
          .output_tokens_per_sec = tokens,
          .goodput = rate * 0.9,
          .requests = static_cast<int64_t>(rate * 60),
          .errors = 0};
}

ReplicaSeries replica(std::string name, double scale) {
  return {.name = std::move(name),
          .seconds = {0, 1, 2, 3},
          .running = {0, 2 * scale, 4 * scale, 1},
          .waiting = {0, 0, 1 * scale, 0}};
}

DemoResult sample_result() {
  DemoResult r;
  r.started_at = "2025-01-02T03:04:05Z";
  r.machine = "2 cores, Test CPU";
  r.command = "kgai demo --rates 4,8,12";
  r.pool = {.replicas = 2,
            .model = "llama-3.1-8b",
            .accelerator = "h100",
            .time_scale = 1,
            .max_num_seqs = 64};
  r.workload = {.kind = "shared_prefix",
                .description = "9 groups x 4,000-token prefixes",
                .seed = 42,
                .rates = {4, 8, 12},
                .stage_seconds = 30};
  r.host_check = {.ok = false,
                  .message = "schedule delay p99 12 ms at 12 req/s",
                  .schedule_delay_p99 = 0.012,
                  .cpu_load_average = 1.5};

  PolicyResult rr{.name = "round-robin", .description = "each replica in turn"};
  rr.stages = {stage(4, 0.25, 800), stage(8, 0.5, 1500), stage(12, 2.0, 1800)};
  rr.stages[2].ttft_p50 = kNaN;  // nothing finished in time
  rr.prefix_hit_rate = 0.25;
  rr.requests_per_replica = {360, 360};
  rr.replica_load = {replica("replica 1 (127.0.0.1:8001)", 1), replica("replica 2", 2)};

  PolicyResult kgai{.name = "kgai", .description = "prefix-aware <script>alert(1)</script> & load"};
  kgai.stages = {stage(4, 0.2, 820), stage(8, 0.3, 1600), stage(12, 0.5, 2400)};
  kgai.stages[1].goodput = std::numeric_limits<double>::infinity();
  kgai.prefix_hit_rate = 0.8;
  kgai.requests_per_replica = {400, 320};
  kgai.replica_load = {replica("replica 1 (127.0.0.1:8001)", 1), replica("replica 2", 1)};

  PolicyResult nginx{.name = "nginx",
                     .description = "nginx least_conn",
                     .skipped = true,
                     .skip_reason = "nginx is not installed"};

  r.policies = {rr, kgai, nginx};
  r.headline = DemoResult::Headline{.rate = 12, .ttft_p90_ratio = 4.1, .throughput_ratio = 1.35};
  return r;
}

// "nan" or "inf" as a word: what printf of a non-finite double gives. Words such as
// "inference" must not count.
bool has_non_finite_text(const std::string& text) {
  static const std::regex re(R"(\b-?(nan|inf|infinity)\b)", std::regex::icase);
  return std::regex_search(text, re);
}

TEST(DemoSummaryJson, HasTheSchemaAndValues) {
  const auto j = summary_json(sample_result());
  for (const char* key : {"pool", "workload", "host_check", "started_at", "machine", "command",
                          "headline", "policies"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["pool"]["replicas"], 2);
  EXPECT_EQ(j["pool"]["model"], "llama-3.1-8b");
  EXPECT_EQ(j["pool"]["accelerator"], "h100");
  EXPECT_EQ(j["pool"]["time_scale"], 1.0);
  EXPECT_EQ(j["pool"]["max_num_seqs"], 64);
  EXPECT_EQ(j["workload"]["kind"], "shared_prefix");
  EXPECT_EQ(j["workload"]["seed"], 42);
  EXPECT_EQ(j["workload"]["rates"], nlohmann::json({4.0, 8.0, 12.0}));
  EXPECT_EQ(j["workload"]["stage_seconds"], 30.0);
  EXPECT_EQ(j["host_check"]["ok"], false);
  EXPECT_EQ(j["host_check"]["schedule_delay_p99"], 0.012);
  EXPECT_EQ(j["host_check"]["cpu_load_average"], 1.5);
  EXPECT_EQ(j["started_at"], "2025-01-02T03:04:05Z");
  EXPECT_EQ(j["command"], "kgai demo --rates 4,8,12");
  EXPECT_EQ(j["headline"]["rate"], 12.0);
  EXPECT_EQ(j["headline"]["ttft_p90_ratio"], 4.1);
  EXPECT_EQ(j["headline"]["throughput_ratio"], 1.35);

  ASSERT_EQ(j["policies"].size(), 3u);
  const auto& rr = j["policies"][0];
  EXPECT_EQ(rr["name"], "round-robin");
  EXPECT_EQ(rr["skipped"], false);
  EXPECT_EQ(rr["prefix_hit_rate"], 0.25);
  EXPECT_EQ(rr["requests_per_replica"], nlohmann::json({360, 360}));
  ASSERT_EQ(rr["stages"].size(), 3u);
  const auto& s = rr["stages"][1];
  for (const char* key : {"rate", "achieved_rate", "ttft_p50", "ttft_p90", "ntpot_p50",
                          "output_tokens_per_sec", "goodput", "requests", "errors"}) {
    EXPECT_TRUE(s.contains(key)) << key;
  }
  EXPECT_EQ(s["rate"], 8.0);
  EXPECT_EQ(s["ttft_p90"], 0.5);  // seconds, as given
  EXPECT_EQ(s["ttft_p50"], 0.25);
  EXPECT_EQ(s["ntpot_p50"], 0.012);
  EXPECT_EQ(s["requests"], 480);
  EXPECT_EQ(s["errors"], 0);
  EXPECT_TRUE(rr["stages"][2]["ttft_p50"].is_null());               // NaN
  EXPECT_TRUE(j["policies"][1]["stages"][1]["goodput"].is_null());  // infinity

  const auto& nginx = j["policies"][2];
  EXPECT_EQ(nginx["skipped"], true);
  EXPECT_EQ(nginx["skip_reason"], "nginx is not installed");
  EXPECT_TRUE(nginx["prefix_hit_rate"].is_null());
  EXPECT_TRUE(nginx["stages"].is_array());
  EXPECT_TRUE(nginx["stages"].empty());

  const std::string text = j.dump(2);
  EXPECT_FALSE(has_non_finite_text(text)) << text;
}

TEST(DemoSummaryJson, HeadlineIsNullWhenAbsent) {
  auto r = sample_result();
  r.headline.reset();
  const auto j = summary_json(r);
  ASSERT_TRUE(j.contains("headline"));
  EXPECT_TRUE(j["headline"].is_null());
}

TEST(DemoHtml, ShowsPoliciesChartsAndEscapes) {
  const std::string html = render_demo_html(sample_result());
  EXPECT_NE(html.find("<!DOCTYPE html>"), std::string::npos);
  for (const char* name : {"round-robin", "kgai", "nginx"}) {
    EXPECT_NE(html.find(name), std::string::npos) << name;
  }
  EXPECT_NE(html.find("nginx is not installed"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; load"), std::string::npos);
  EXPECT_FALSE(has_non_finite_text(html));
  EXPECT_NE(html.find("Warning"), std::string::npos);  // host check failed
  EXPECT_NE(html.find("schedule delay p99 12 ms at 12 req/s"), std::string::npos);
  EXPECT_NE(html.find("4.10x"), std::string::npos);
  EXPECT_NE(html.find("replica 1 (127.0.0.1:8001)"), std::string::npos);
  EXPECT_NE(html.find("80.0 %"), std::string::npos);  // kgai's prefix hit rate
}

TEST(DemoHtml, ExplainsAMissingHeadlineAndPassingHostCheck) {
  auto r = sample_result();
  r.headline.reset();
  r.host_check.ok = true;
  const std::string html = render_demo_html(r);
  EXPECT_NE(html.find("no headline"), std::string::npos);
  EXPECT_EQ(html.find("Warning"), std::string::npos);
  EXPECT_NE(html.find("schedule delay p99 12 ms at 12 req/s"), std::string::npos);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DemoReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgai_demo_report_test_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DemoReportFiles, WritesSummaryAndHtml) {
  const auto out = dir_ / "nested" / "report";
  auto written = write_demo_report(sample_result(), out.string());
  ASSERT_TRUE(written) << written.error().message;
  const std::string json_text = read_all(out / "summary.json");
  const auto j = nlohmann::json::parse(json_text);
  EXPECT_EQ(j, summary_json(sample_result()));
  EXPECT_NE(json_text.find("\n  \"command\""), std::string::npos);  // 2-space indent
  EXPECT_EQ(read_all(out / "index.html"), render_demo_html(sample_result()));
}

TEST_F(DemoReportFiles, FailsWithThePathWhenTheDirectoryCannotBeCreated) {
  std::filesystem::create_directories(dir_);
  const auto file = dir_ / "regular-file";
  std::ofstream(file) << "x";
  const auto bad = (file / "report").string();
  auto written = write_demo_report(sample_result(), bad);
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find(bad), std::string::npos) << written.error().message;
}

TEST(DemoTable, ListsPoliciesRatesAndHeadline) {
  const std::string table = format_demo_table(sample_result());
  for (const char* name : {"round-robin", "kgai", "nginx"}) {
    EXPECT_NE(table.find(name), std::string::npos) << name;
  }
  for (const char* rate : {" 4 ", " 8 ", " 12 "}) {
    EXPECT_NE(table.find(rate), std::string::npos) << rate;
  }
  EXPECT_NE(table.find("nginx is not installed"), std::string::npos);
  EXPECT_NE(table.find("TTFT p90 ms"), std::string::npos);
  EXPECT_NE(table.find("250.0"), std::string::npos);  // round-robin's TTFT p50 at 8 req/s
  EXPECT_NE(
      table.find("kgai vs round-robin at 12 req/s: TTFT p90 4.1x lower, output tokens/s 1.35x"),
      std::string::npos)
      << table;
  EXPECT_FALSE(has_non_finite_text(table)) << table;
}

TEST(DemoTable, SaysWhyThereIsNoHeadline) {
  auto r = sample_result();
  r.headline.reset();
  EXPECT_NE(format_demo_table(r).find("no headline"), std::string::npos);
}

}  // namespace
}  // namespace kgai::demo
