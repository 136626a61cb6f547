#include "perf/report_html.h"

#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "perf/svg_chart.h"

namespace kgai::perf {
namespace {

// Checks that every element opened is closed in order; void and self-closed elements aside.
// Returns "" when balanced, else what went wrong.
std::string tag_balance(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link"};
  std::vector<std::string> open;
  size_t at = 0;
  while ((at = html.find('<', at)) != std::string::npos) {
    const size_t end = html.find('>', at);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(at);
    std::string tag = html.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.starts_with("!")) continue;
    if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
    const bool closing = tag.starts_with("/");
    const bool self_closed = tag.ends_with("/");
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" /\n"));
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
      }
      open.pop_back();
    } else if (!self_closed && !kVoid.contains(name)) {
      open.push_back(name);
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

bool has_non_finite(const std::string& html) {
  static const std::regex kBad(R"(\b(nan|inf|infinity)\b)", std::regex::icase);
  return std::regex_search(html, kBad);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

RequestRecord record(int stage, uint64_t index, double sent, double ttft, double e2e, int tokens,
                     bool streamed) {
  RequestRecord r;
  r.stage = stage;
  r.index = index;
  r.scheduled = sent - 0.001;
  r.sent = sent;
  r.end = sent + e2e;
  r.input_tokens = 100;
  r.output_tokens = tokens;
  if (streamed) {
    r.first_token = sent + ttft;
    for (int t = 0; t < tokens; ++t) {
      r.token_times.push_back(
          static_cast<float>(ttft + (e2e - ttft) * t / std::max(1, tokens - 1)));
    }
  }
  return r;
}

// Stages at rising rates whose latency grows with load; stage 1 has errors, stage 2 is
// non-streamed.
RunResult synthetic_run(int stages = 3) {
  RunResult run;
  run.model = "meta-llama/Llama-3-8B";
  run.base_url = "http://127.0.0.1:8000";
  GoodputConstraints none;
  double t = 0;
  for (int s = 0; s < stages; ++s) {
    StageResult stage;
    stage.plan.index = s;
    stage.plan.rate = 5.0 * (s + 1);
    stage.plan.duration = 2;
    stage.start = t;
    const int n = static_cast<int>(stage.plan.rate * stage.plan.duration);
    for (int i = 0; i < n; ++i) {
      const double sent = t + i / stage.plan.rate;
      RequestRecord r = record(s, i, sent, 0.05 * (s + 1) + 0.001 * i, 0.4 * (s + 1), 16, s != 2);
      if (s == 1 && i % 4 == 0) {
        r.error = i % 8 == 0 ? ErrorKind::kTimeout : ErrorKind::kHttpStatus;
        r.http_status = 503;
        r.first_token = -1;
        r.token_times.clear();
      }
      stage.records.push_back(r);
      stage.samples.add(r, none);
    }
    stage.samples.requested_rate = stage.plan.rate;
    stage.end = stage.records.back().end;
    t = stage.end + 1;
    run.summary.merge(stage.samples);
    run.stages.push_back(std::move(stage));
  }
  run.wall_seconds = t;
  return run;
}

nlohmann::json machine() {
  return {{"hostname", "bench-1"}, {"cpus", 16}, {"cpu_model", "Test CPU @ 3GHz"}};
}

TEST(ReportHtml, WellFormedWithChartsAndStageRows) {
  const RunResult run = synthetic_run();
  PerfConfig config;
  config.load.base_seed = 42;
  const std::string html = render_html_report(run, config, machine());
  EXPECT_EQ(tag_balance(html), "");
  EXPECT_FALSE(has_non_finite(html));
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://fonts"), std::string::npos);
  // 2 latency-vs-throughput, 2 CDFs, 3 over time.
  EXPECT_EQ(count(html, "<svg "), 7u);
  for (const char* title : {"TTFT vs throughput", "NTPOT vs throughput", "TTFT distribution",
                            "E2E latency distribution", "Requests in flight",
                            "Output token throughput", "Completed requests"}) {
    EXPECT_NE(html.find(title), std::string::npos) << title;
  }
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  EXPECT_NE(html.find("stage 2</text>"), std::string::npos);  // stage boundary mark
  // A row per stage and one for the whole run.
  EXPECT_NE(html.find("<tr><td class=\"l\">0</td><td>5 req/s</td>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td class=\"l\">2</td><td>15 req/s</td>"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"all\"><td class=\"l\">all</td>"), std::string::npos);
  EXPECT_NE(html.find("http_503: 2, timeout: 3"), std::string::npos);
  EXPECT_NE(html.find("meta-llama/Llama-3-8B"), std::string::npos);
  EXPECT_NE(html.find("Test CPU @ 3GHz"), std::string::npos);
  EXPECT_NE(html.find("bench-1"), std::string::npos);
  EXPECT_NE(html.find("<dt>seed</dt><dd>42</dd>"), std::string::npos);
  EXPECT_NE(html.find("<details>"), std::string::npos);
  EXPECT_NE(html.find("base_seed: 42"), std::string::npos);
}

TEST(ReportHtml, EscapesTextFromTheRun) {
  RunResult run = synthetic_run(1);
  run.model = "<script>alert(\"x\")</script>&co";
  PerfConfig config;
  config.server.base_url = "http://h/?a=1&b=<2>";
  const std::string html = render_html_report(run, config, {{"hostname", "<evil>"}});
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<evil>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co"),
            std::string::npos);
  EXPECT_NE(html.find("&lt;evil&gt;"), std::string::npos);
  EXPECT_EQ(tag_balance(html), "");
}

TEST(ReportHtml, ZeroSuccessfulRequests) {
  RunResult run;
  run.model = "m";
  StageResult stage;
  stage.plan.rate = 2;
  for (int i = 0; i < 4; ++i) {
    RequestRecord r = record(0, i, i * 0.5, 0, 0.01, 0, false);
    r.error = ErrorKind::kConnect;
    stage.records.push_back(r);
    stage.samples.add(r, {});
  }
  stage.end = 2;
  run.summary.merge(stage.samples);
  run.stages.push_back(std::move(stage));
  const std::string html = render_html_report(run, PerfConfig{}, machine());
  EXPECT_EQ(tag_balance(html), "");
  EXPECT_FALSE(has_non_finite(html));
  EXPECT_NE(html.find("no data"), std::string::npos);
  EXPECT_NE(html.find("connect: 4"), std::string::npos);
}

TEST(ReportHtml, NoRequestsAtAll) {
  RunResult run;
  const std::string html = render_html_report(run, PerfConfig{}, nlohmann::json());
  EXPECT_EQ(tag_balance(html), "");
  EXPECT_FALSE(has_non_finite(html));
}

TEST(ReportHtml, OneStageWithoutTokenTimes) {
  RunResult run = synthetic_run(1);
  for (auto& r : run.stages[0].records) {
    r.token_times.clear();
    r.first_token = -1;
  }
  const std::string html = render_html_report(run, PerfConfig{}, machine());
  EXPECT_EQ(tag_balance(html), "");
  EXPECT_FALSE(has_non_finite(html));
  // One stage: no "all" row, and a single point per latency curve still gets a marker.
  EXPECT_EQ(html.find("class=\"all\""), std::string::npos);
  EXPECT_NE(html.find("<circle"), std::string::npos);
}

TEST(ReportHtml, InfiniteTimesDoNotLeakIntoTheMarkup) {
  RunResult run = synthetic_run(1);
  auto& stage = run.stages[0];
  RequestRecord r = record(0, 99, 1.0, 0.1, 0.5, 4, true);
  r.end = INFINITY;
  stage.records.push_back(r);
  stage.samples.add(r, {});
  run.summary = stage.samples;
  const std::string html = render_html_report(run, PerfConfig{}, machine());
  EXPECT_EQ(tag_balance(html), "");
  EXPECT_FALSE(has_non_finite(html));
}

TEST(SvgChart, NiceTicks) {
  EXPECT_EQ(svg::nice_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  auto small = svg::nice_ticks(0, 0.9, 5);
  ASSERT_EQ(small.size(), 6u);
  EXPECT_NEAR(small[1], 0.2, 1e-12);
  EXPECT_NEAR(small.back(), 1.0, 1e-12);
  auto t = svg::nice_ticks(13, 97, 5);
  EXPECT_LE(t.front(), 13);
  EXPECT_GE(t.back(), 97);
  EXPECT_GE(t.size(), 3u);
  // Degenerate and non-finite ranges still give an axis.
  EXPECT_GE(svg::nice_ticks(5, 5).size(), 2u);
  EXPECT_GE(svg::nice_ticks(0, 0).size(), 2u);
  EXPECT_GE(svg::nice_ticks(NAN, INFINITY).size(), 2u);
}

TEST(SvgChart, NumbersNeverPrintNonFinite) {
  EXPECT_EQ(svg::number(1.5), "1.5");
  EXPECT_EQ(svg::number(2.0), "2");
  EXPECT_EQ(svg::number(-0.0001), "0");
  EXPECT_EQ(svg::number(NAN), "0");
  EXPECT_EQ(svg::number(INFINITY), "0");
  EXPECT_EQ(svg::fixed(2.0, 1), "2.0");
  EXPECT_EQ(svg::fixed(-0.01, 1), "0.0");
  EXPECT_EQ(svg::fixed(NAN, 1), "-");
}

TEST(SvgChart, EmptySinglePointAndNonFiniteData) {
  const std::string empty = svg::render({.title = "t", .series = {{.name = "a"}}});
  EXPECT_NE(empty.find("no data"), std::string::npos);
  EXPECT_EQ(tag_balance(empty), "");
  const std::string one =
      svg::render({.title = "t", .series = {{.name = "a", .points = {{3, 4}}, .markers = false}}});
  EXPECT_NE(one.find("<circle"), std::string::npos);
  EXPECT_FALSE(has_non_finite(one));
  const std::string bad =
      svg::render({.title = "t",
                   .series = {{.name = "a", .points = {{NAN, 1}, {1, INFINITY}, {2, 2}, {3, 5}}}}});
  EXPECT_FALSE(has_non_finite(bad));
  EXPECT_EQ(tag_balance(bad), "");
}

TEST(SvgChart, LogScaleShowsDecadesAndDropsNonPositiveValues) {
  svg::Chart chart{.title = "ttft", .x_label = "rate", .y_label = "ms"};
  chart.y_log = true;
  chart.series.push_back({.name = "fast", .points = {{10, 25}, {20, 30}, {30, 0}, {40, -1}}});
  chart.series.push_back({.name = "slow", .points = {{10, 100}, {20, 2500}}});
  const std::string svg = svg::render(chart);
  // Decade ticks around 25..2500 ms: 10, 100, 1000, 10000.
  for (const char* tick : {">10<", ">100<", ">1000<", ">10000<"}) {
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  }
  // Two points of "fast" survive (0 and -1 have no place on a log axis), two of "slow".
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) {
    ++circles;
  }
  EXPECT_EQ(circles, 4u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);

  svg::Chart none = chart;
  none.series = {{.name = "zero", .points = {{1, 0}, {2, -3}}}};
  EXPECT_NE(svg::render(none).find("no data"), std::string::npos);
}

}  // namespace
}  // namespace kgai::perf
