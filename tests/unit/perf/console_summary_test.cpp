#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "perf/report.h"

namespace kgai::perf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RunResult one_stage_run() {
  RunResult run;
  StageResult stage;
  stage.plan.rate = 10;
  for (int i = 0; i < 4; ++i) {
    RequestRecord r;
    r.index = static_cast<uint64_t>(i);
    r.sent = i * 0.1;
    r.scheduled = r.sent;
    r.first_token = r.sent + 0.02;
    r.end = r.sent + 0.5;
    r.input_tokens = 100;
    r.output_tokens = 11;
    r.http_status = 200;
    stage.samples.add(r, {});
    stage.records.push_back(r);
  }
  stage.samples.requested_rate = 10;
  run.summary.merge(stage.samples);
  run.stages.push_back(stage);
  return run;
}

TEST(ConsoleSummary, ClientFiguresLikeVllmBenchServe) {
  const std::string out = console_summary(one_stage_run(), PerfConfig{});
  EXPECT_THAT(out, HasSubstr("Serving Benchmark Result"));
  EXPECT_THAT(out, HasSubstr("Successful requests:                               4"));
  EXPECT_THAT(out, HasSubstr("Requested rate (req/s):                        10.00"));
  EXPECT_THAT(out, HasSubstr("Median (ms):                                   20.00"));  // TTFT
  EXPECT_THAT(out, HasSubstr("Mean TPOT (ms):                                48.00"));
  EXPECT_THAT(out, Not(HasSubstr("Server (")));  // no server metrics collected
}

TEST(ConsoleSummary, ServerSideMetricsUnderTheClientFigures) {
  RunResult run = one_stage_run();
  run.server_metrics = nlohmann::json::parse(R"({
    "source": "direct", "stages": 1,
    "kv_cache_usage": {"mean": 0.41, "max": 0.735},
    "num_requests_waiting": {"mean": 2.5, "max": 9},
    "num_requests_running": {"mean": null, "max": null},
    "prefix_cache_hit_rate": 0.625,
    "num_preemptions": 3,
    "time_to_first_token": {"mean": 0.0812},
    "request_latency": null,
    "scrape_errors": 2
  })");
  const std::string out = console_summary(run, PerfConfig{});
  EXPECT_THAT(out, HasSubstr("-----Server (/metrics)"));
  EXPECT_THAT(out, HasSubstr("KV cache use mean / max (%):             41.0 / 73.5"));
  EXPECT_THAT(out, HasSubstr("Waiting requests mean / max:               2.5 / 9.0"));
  EXPECT_THAT(out, HasSubstr("Running requests mean / max:                   - / -"));
  EXPECT_THAT(out, HasSubstr("Prefix cache hit rate (%):                      62.5"));
  EXPECT_THAT(out, HasSubstr("Preemptions:                                       3"));
  EXPECT_THAT(out, HasSubstr("Server TTFT mean (ms):                         81.20"));
  EXPECT_THAT(out, HasSubstr("Server E2E latency mean (ms):                      -"));
  EXPECT_THAT(out, HasSubstr("Scrape/query errors:                               2"));

  run.server_metrics["source"] = "prometheus";
  run.server_metrics["scrape_errors"] = 0;
  const std::string prometheus = console_summary(run, PerfConfig{});
  EXPECT_THAT(prometheus, HasSubstr("Server (Prometheus)"));
  EXPECT_THAT(prometheus, Not(HasSubstr("Scrape/query errors")));
}

}  // namespace
}  // namespace kgai::perf
