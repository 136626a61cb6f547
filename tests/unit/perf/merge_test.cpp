#include "perf/merge.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "perf/lifecycle.h"
#include "perf/records_file.h"
#include "perf/report.h"

namespace kgai::perf {
namespace {

namespace fs = std::filesystem;

// A two-stage run of `count` shards, written as each shard would write it; `records` holds
// every request of the whole run, so tests can compute what the merge must give.
class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("kgai-merge-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    config_.server.base_url = "http://127.0.0.1:9";
    config_.server.model_name = "m";
    config_.load.type = "constant";
    config_.load.stages = {{.rate = 50, .duration = 2}, {.rate = 100, .duration = 1}};
    config_.report.goodput.ttft = 0.05;
    for (int stage = 0; stage < 2; ++stage) {
      const int n = stage == 0 ? 100 : 100;
      for (int i = 0; i < n; ++i) {
        RequestRecord r;
        r.stage = stage;
        r.index = static_cast<uint64_t>(i);
        r.scheduled = stage * 3 + i * 0.02;
        r.sent = r.scheduled + 0.0001 * (i % 7);
        r.first_token = r.sent + 0.01 + 0.001 * (i % 13);
        r.end = r.first_token + 0.2 + 0.003 * (i % 5);
        r.token_times = {static_cast<float>(r.first_token - r.sent), 0.1f, 0.2f};
        r.output_tokens = 3;
        r.input_tokens = 100 + i;
        r.usage_reported = true;
        r.http_status = 200;
        if (i % 17 == 5) {
          r.error = ErrorKind::kHttpStatus;
          r.http_status = 500;
          r.error_message = "boom";
        }
        records_.push_back(r);
      }
    }
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string write_shard(int index, int count, PerfConfig config, double start_at = 1.7e9) {
    RunResult run;
    run.model = "m";
    run.base_url = config.server.base_url;
    run.shard = Shard{.index = index, .count = count};
    run.start_at = start_at;
    run.wall_seconds = 4 + index;
    for (int stage = 0; stage < 2; ++stage) {
      StageResult s;
      s.whole.index = stage;
      s.whole.rate = config.load.stages[stage].rate;
      s.whole.duration = config.load.stages[stage].duration;
      s.whole.num_requests = 100;
      s.plan = s.whole;
      s.plan.rate /= count;
      s.start = stage * 3 + 0.02;
      s.end = stage * 3 + 2.5 + index * 0.1;
      for (const auto& r : records_) {
        if (r.stage == stage && run.shard.owns(r.index)) s.records.push_back(r);
      }
      for (const auto& r : s.records) s.samples.add(r, config.report.goodput);
      run.summary.merge(s.samples);
      run.stages.push_back(std::move(s));
    }
    const fs::path dir = root_ / ("shard" + std::to_string(index));
    config.storage.path = dir.string();
    auto written = write_reports(run, config, dir.string());
    EXPECT_TRUE(written) << written.error().message;
    return dir.string();
  }

  std::vector<std::string> write_all(int count) {
    std::vector<std::string> dirs;
    for (int i = 0; i < count; ++i) dirs.push_back(write_shard(i, count, config_));
    return dirs;
  }

  fs::path root_;
  PerfConfig config_;
  std::vector<RequestRecord> records_;
};

TEST_F(MergeTest, MergedReportEqualsOneGeneratorsReport) {
  auto dirs = write_all(3);
  std::swap(dirs[0], dirs[2]);  // any order
  auto merged = merge_shards(dirs);
  ASSERT_TRUE(merged) << merged.error().message;
  const RunResult& run = merged->run;
  ASSERT_EQ(run.stages.size(), 2u);
  EXPECT_FALSE(run.shard.active());
  EXPECT_EQ(run.wall_seconds, 6);  // the slowest shard
  for (int stage = 0; stage < 2; ++stage) {
    LifecycleSamples expected;
    expected.requested_rate = config_.load.stages[stage].rate;
    expected.planned_duration = config_.load.stages[stage].duration;
    for (const auto& r : records_) {
      if (r.stage == stage) expected.add(r, config_.report.goodput);
    }
    const auto& got = run.stages[stage];
    EXPECT_EQ(got.plan.rate, config_.load.stages[stage].rate);  // the whole stage's rate
    EXPECT_EQ(got.records.size(), 100u);
    for (size_t k = 0; k < got.records.size(); ++k) EXPECT_EQ(got.records[k].index, k);
    EXPECT_EQ(got.end, stage * 3 + 2.7);  // the last shard's end
    const auto percentiles = config_.report.percentiles;
    EXPECT_EQ(lifecycle_json(got.samples, percentiles, config_.report.goodput),
              lifecycle_json(expected, percentiles, config_.report.goodput));
  }
  EXPECT_EQ(run.summary.count, 200u);
  EXPECT_EQ(run.run_info["merged"]["shards"], 3);

  // The merged folder is a normal report (and not a shard).
  const std::string out = (root_ / "merged").string();
  ASSERT_TRUE(write_reports(run, merged->config, out));
  EXPECT_TRUE(fs::exists(fs::path(out) / "summary_lifecycle_metrics.json"));
  EXPECT_FALSE(fs::exists(fs::path(out) / kRecordsFile));
  std::ifstream in(fs::path(out) / "kgai_run.json");
  auto meta = nlohmann::json::parse(in);
  EXPECT_FALSE(meta.contains("shard"));
  EXPECT_EQ(meta["merged"]["folders"].size(), 3u);
}

TEST_F(MergeTest, RefusesIncompleteOrMixedSets) {
  auto dirs = write_all(3);
  auto missing = merge_shards({dirs[0], dirs[2]});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("shard 1/3 is missing"), std::string::npos)
      << missing.error().message;

  auto twice = merge_shards({dirs[0], dirs[1], dirs[1], dirs[2]});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("are both shard 1/3"), std::string::npos);

  PerfConfig other = config_;
  other.load.base_seed = 99;
  const std::string odd = write_shard(1, 3, other);
  auto mixed = merge_shards({dirs[0], odd, dirs[2]});
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message.find("not shards of one run"), std::string::npos)
      << mixed.error().message;

  auto empty = merge_shards({});
  ASSERT_FALSE(empty);
}

TEST_F(MergeTest, RefusesFoldersThatAreNotShards) {
  const fs::path plain = root_ / "plain";
  RunResult run;
  run.model = "m";
  StageResult s;
  s.plan.rate = 1;
  run.stages.push_back(s);
  ASSERT_TRUE(write_reports(run, config_, plain.string()));
  auto r = merge_shards({plain.string()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a shard's report"), std::string::npos) << r.error().message;

  auto nothing = merge_shards({(root_ / "nowhere").string()});
  ASSERT_FALSE(nothing);
  EXPECT_NE(nothing.error().message.find("not a folder"), std::string::npos);
}

TEST_F(MergeTest, RefusesRecordsInTheWrongShardOrDuplicated) {
  auto dirs = write_all(2);
  // Shard 1's records file claims a request of shard 0.
  const fs::path file = fs::path(dirs[1]) / kRecordsFile;
  RequestRecord stray = records_[0];
  {
    std::ofstream out(file, std::ios::app);
    out << record_line(stray) << "\n";
  }
  auto wrong = merge_shards(dirs);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("does not belong to shard 1/2"), std::string::npos)
      << wrong.error().message;

  // Shard 0's file holding one of its own requests twice.
  dirs = write_all(2);
  {
    std::ofstream out(fs::path(dirs[0]) / kRecordsFile, std::ios::app);
    out << record_line(records_[2]) << "\n";
  }
  auto dup = merge_shards(dirs);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("appears twice"), std::string::npos);

  // A damaged records file.
  dirs = write_all(2);
  {
    std::ofstream out(fs::path(dirs[0]) / kRecordsFile, std::ios::app);
    out << "{\"stage\":0,\"ind";
  }
  auto broken = merge_shards(dirs);
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("kgai_records.jsonl:"), std::string::npos)
      << broken.error().message;
}

}  // namespace
}  // namespace kgai::perf
