#include "perf/compare.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "perf/report.h"

namespace kgai::perf {
namespace {

namespace fs = std::filesystem;

// A run of `stages` stages of 10 streamed requests each: TTFT `ttft` s, E2E `e2e` s, 8 tokens,
// every 4th request of stage 0 failing with HTTP 500 when `errors`.
RunResult run_with(double ttft, double e2e, int stages, bool errors) {
  RunResult run;
  run.model = "model-a";
  run.base_url = "http://127.0.0.1:1";
  double t = 0;
  for (int s = 0; s < stages; ++s) {
    StageResult stage;
    stage.plan.index = s;
    stage.plan.rate = 10.0 * (s + 1);
    stage.start = t;
    for (int i = 0; i < 10; ++i) {
      RequestRecord r;
      r.stage = s;
      r.index = i;
      r.scheduled = r.sent = t + i * 0.1;
      r.first_token = r.sent + ttft;
      r.end = r.sent + e2e;
      r.input_tokens = 50;
      r.output_tokens = 8;
      for (int k = 0; k < 8; ++k) {
        r.token_times.push_back(static_cast<float>(ttft + (e2e - ttft) * k / 7));
      }
      if (errors && s == 0 && i % 4 == 0) {
        r.error = ErrorKind::kHttpStatus;
        r.http_status = 500;
      }
      stage.records.push_back(r);
      stage.samples.add(r, {});
    }
    stage.samples.requested_rate = stage.plan.rate;
    stage.end = stage.records.back().end;
    t = stage.end + 0.5;
    run.summary.merge(stage.samples);
    run.stages.push_back(std::move(stage));
  }
  run.wall_seconds = t;
  return run;
}

class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("kgai-compare-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string write_run(const std::string& name, const RunResult& run,
                        const std::string& prefix = "") {
    PerfConfig config;
    config.storage.report_file_prefix = prefix;
    const std::string dir = (root_ / name).string();
    EXPECT_TRUE(write_reports(run, config, dir).has_value());
    return dir;
  }

  static std::string cell(const CompareTable& t, const std::string& row, size_t column) {
    for (const auto& [name, cells] : t.rows) {
      if (name == row) return column < cells.size() ? cells[column] : "<no column>";
    }
    return "<no row " + row + ">";
  }

  fs::path root_;
};

// What Inference Perf writes: no kgai_run.json, no stage files, p50 as "median", no ITL (not
// streamed), a config.yaml with the model.
constexpr const char* kInferencePerfSummary = R"({
  "load_summary": {"count": 100, "schedule_delay": {"mean": 0.001, "median": 0.001, "p99": 0.004},
                   "send_duration": 10.0, "requested_rate": 10.0, "achieved_rate": 9.9},
  "successes": {"count": 98,
    "latency": {"request_latency": {"mean": 1.1, "median": 1.0, "p90": 1.5, "p99": 2.0},
                "normalized_time_per_output_token": {"median": 0.01, "p99": 0.02},
                "time_per_output_token": {"median": 0.009, "p99": 0.018},
                "time_to_first_token": {"median": 0.3, "p99": 0.4},
                "inter_token_latency": null},
    "throughput": {"input_tokens_per_sec": 1000.0, "output_tokens_per_sec": 1250.5,
                   "total_tokens_per_sec": 2250.5, "requests_per_sec": 9.8}},
  "failures": {"count": 2, "request_latency": null}
})";

TEST_F(CompareTest, TwoKgaiRunsAndAnInferencePerfFolder) {
  const std::string a = write_run("fast", run_with(0.1, 0.5, 2, true));
  const std::string b = write_run("slow", run_with(0.2, 1.0, 1, false), "pre-");
  const fs::path ip = root_ / "inference-perf";
  fs::create_directories(ip);
  std::ofstream(ip / "summary_lifecycle_metrics.json") << kInferencePerfSummary;
  std::ofstream(ip / "config.yaml") << "server:\n  model_name: llama-ip\n  base_url: http://x\n";

  auto runs = load_report_folders({a, b, ip.string()});
  ASSERT_TRUE(runs.has_value()) << runs.error().message;
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].stages.size(), 2u);
  EXPECT_EQ((*runs)[1].stages.size(), 1u);  // found through the prefix
  EXPECT_TRUE((*runs)[2].stages.empty());
  EXPECT_TRUE((*runs)[2].run.is_null());

  const CompareTable t = compare_table(*runs);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"fast", "slow", "inference-perf"}));
  EXPECT_EQ(cell(t, "model", 0), "model-a");
  EXPECT_EQ(cell(t, "model", 2), "llama-ip");
  EXPECT_EQ(cell(t, "stages", 0), "2");
  EXPECT_EQ(cell(t, "stages", 2), "-");
  EXPECT_EQ(cell(t, "requests", 0), "20");
  EXPECT_EQ(cell(t, "errors", 0), "3");
  EXPECT_EQ(cell(t, "errors", 1), "0");
  EXPECT_EQ(cell(t, "errors", 2), "2");
  EXPECT_EQ(cell(t, "TTFT p50 (ms)", 0), "100.0");
  EXPECT_EQ(cell(t, "TTFT p99 (ms)", 1), "200.0");
  EXPECT_EQ(cell(t, "TTFT p50 (ms)", 2), "300.0");
  EXPECT_EQ(cell(t, "E2E p99 (ms)", 1), "1000.0");
  EXPECT_EQ(cell(t, "E2E p99 (ms)", 2), "2000.0");
  EXPECT_EQ(cell(t, "TPOT p50 (ms)", 2), "9.0");
  EXPECT_EQ(cell(t, "ITL p50 (ms)", 2), "-");  // null in the file
  EXPECT_NE(cell(t, "ITL p50 (ms)", 0), "-");
  EXPECT_EQ(cell(t, "output tok/s", 2), "1250.5");
  EXPECT_EQ(cell(t, "requests/s", 2), "9.80");
  EXPECT_EQ(cell(t, "schedule delay p99 (ms)", 2), "4.0");
  // slow: 10 successes from the first send (0 s) to the last end (0.9 s + 1 s).
  EXPECT_EQ(cell(t, "requests/s", 1), "5.26");

  const std::string text = format_compare_table(t);
  EXPECT_NE(text.find("inference-perf"), std::string::npos);
  EXPECT_NE(text.find("TTFT p99 (ms)"), std::string::npos);

  const std::string html = render_compare_html(*runs);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_NE(html.find("TTFT p50 vs throughput"), std::string::npos);
  EXPECT_NE(html.find("<title>fast</title>"), std::string::npos);            // one series per run
  EXPECT_NE(html.find("<title>inference-perf</title>"), std::string::npos);  // a single point
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST_F(CompareTest, SameFolderNamesAreToldApartByPath) {
  const std::string a = write_run("x/out", run_with(0.1, 0.5, 1, false));
  const std::string b = write_run("y/out", run_with(0.1, 0.5, 1, false));
  auto runs = load_report_folders({a, b + "/"});
  ASSERT_TRUE(runs.has_value()) << runs.error().message;
  EXPECT_EQ((*runs)[0].label, a);
  EXPECT_EQ((*runs)[1].label, b + "/");
}

TEST_F(CompareTest, OnlyStageFilesAreEnough) {
  const fs::path dir = root_ / "stages-only";
  fs::create_directories(dir);
  std::ofstream(dir / "stage_0_lifecycle_metrics.json") << kInferencePerfSummary;
  auto r = load_report_folder(dir.string());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->stages.size(), 1u);
  EXPECT_EQ(cell(compare_table({*r}), "requests", 0), "100");  // the only stage as summary
}

TEST_F(CompareTest, MissingFolder) {
  auto r = load_report_folder((root_ / "nope").string());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("nope: no such folder"), std::string::npos);
}

TEST_F(CompareTest, FolderWithoutLifecycleFiles) {
  std::ofstream(root_ / "config.yaml") << "server: {}\n";
  auto r = load_report_folder(root_.string());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("no summary_lifecycle_metrics.json"), std::string::npos);
}

TEST_F(CompareTest, MalformedJsonNamesTheFile) {
  const std::string a = write_run("broken", run_with(0.1, 0.5, 2, false));
  std::ofstream(fs::path(a) / "stage_1_lifecycle_metrics.json") << "{\"load_summary\": ";
  auto r = load_report_folders({a});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("stage_1_lifecycle_metrics.json: malformed JSON"),
            std::string::npos)
      << r.error().message;

  std::ofstream(fs::path(a) / "stage_1_lifecycle_metrics.json") << "[1, 2]";
  r = load_report_folders({a});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("expected a JSON object"), std::string::npos);
}

TEST_F(CompareTest, WriteReportsAlsoWritesReportHtml) {
  const std::string a = write_run("html", run_with(0.1, 0.5, 1, false), "p-");
  EXPECT_TRUE(fs::exists(fs::path(a) / "p-report.html"));
  EXPECT_TRUE(fs::exists(fs::path(a) / "p-kgai_run.json"));
}

}  // namespace
}  // namespace kgai::perf
