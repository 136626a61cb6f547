#include "perf/report_html.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "perf/svg_chart.h"

namespace kgai::perf {

namespace {

using svg::escape;
using svg::number;

constexpr double kPercentiles[] = {50, 90, 99};

// Rates and throughput of a set of requests, computed as lifecycle_json does so the page and
// the JSON files agree.
struct Rates {
  double achieved = 0;  // sends/s
  double requests = 0;  // completed successes/s
  double output_tokens = 0;
  double window = 0;
};

Rates rates(const LifecycleSamples& s) {
  Rates r;
  const double send_duration = s.count > 1 ? s.last_sent - s.first_sent : 0.0;
  r.window = s.count ? s.last_end - s.first_sent : 0.0;
  const double per_sec = r.window > 0 ? 1.0 / r.window : 0.0;
  r.achieved = send_duration > 0 ? static_cast<double>(s.count) / send_duration : 0.0;
  r.requests = static_cast<double>(s.successes) * per_sec;
  r.output_tokens = static_cast<double>(s.output_tokens) * per_sec;
  return r;
}

std::string ms_cell(const stats::Samples& s, double p) {
  return s.empty() ? "-" : svg::fixed(s.percentile(p) * 1e3, 1);
}

std::string json_text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "-";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return fmt::format("{}", v.get<int64_t>());
  if (v.is_number()) return number(v.get<double>());
  return "-";
}

double ttft_of(const RequestRecord& r) {
  return r.first_token >= 0 ? r.first_token - r.sent : r.end - r.sent;
}

// An empirical CDF in percent, at most `max_points` steps so a large run stays small.
svg::Series cdf(std::string name, std::vector<double> values, size_t max_points = 300) {
  svg::Series s{.name = std::move(name), .markers = false, .step = true};
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.points.emplace_back(values[0], 0.0);
  const size_t steps = std::min(n, max_points);
  for (size_t j = 0; j < steps; ++j) {
    const size_t k = steps == n ? j : (j + 1) * n / steps - 1;
    s.points.emplace_back(values[k], 100.0 * static_cast<double>(k + 1) / static_cast<double>(n));
  }
  return s;
}

// Bins [0, end) into `width`-second bins as a step series (the last bin's value is held to
// its right edge so the final bin is visible).
svg::Series binned(std::string name, const std::vector<double>& totals, double width) {
  svg::Series s{.name = std::move(name), .markers = false, .step = true};
  for (size_t b = 0; b < totals.size(); ++b) {
    s.points.emplace_back(static_cast<double>(b) * width, totals[b] / width);
  }
  if (!totals.empty()) {
    s.points.emplace_back(static_cast<double>(totals.size()) * width, totals.back() / width);
  }
  return s;
}

std::string charts_over_time(const RunResult& run) {
  double span = 0;
  for (const auto& stage : run.stages) {
    span = std::max(span, stage.end);
    for (const auto& r : stage.records) span = std::max(span, r.end);
  }
  if (!(span > 0) || !std::isfinite(span)) span = 1;
  // 1 s bins, wider for long runs so a chart keeps at most ~1800 steps.
  const double width = std::max(1.0, std::ceil(span / 1800));
  const size_t bins = static_cast<size_t>(std::ceil(span / width));
  std::vector<double> done(bins, 0.0), tokens(bins, 0.0);
  auto bin_of = [&](double t) {
    if (!(t >= 0)) return size_t{0};  // NaN too
    // Clamp as a double: casting an out-of-range double to size_t is undefined.
    return static_cast<size_t>(std::min(t / width, static_cast<double>(bins - 1)));
  };
  std::vector<std::pair<double, int>> events;  // (time, +1 sent / -1 ended)
  for (const auto& stage : run.stages) {
    for (const auto& r : stage.records) {
      if (std::isfinite(r.sent) && std::isfinite(r.end)) {  // NaN would break the sort
        events.emplace_back(r.sent, 1);
        events.emplace_back(r.end, -1);
      }
      if (!r.ok()) continue;
      done[bin_of(r.end)] += 1;
      if (r.output_tokens <= 0) continue;
      if (r.token_times.empty()) {
        tokens[bin_of(r.end)] += r.output_tokens;
      } else {
        // A chunk may carry several tokens; spread the count evenly over the chunks.
        const double per_chunk = static_cast<double>(r.output_tokens) / r.token_times.size();
        for (float t : r.token_times) tokens[bin_of(r.sent + t)] += per_chunk;
      }
    }
  }
  // In flight: the highest count in each of ~600 slices, so short peaks stay visible.
  std::sort(events.begin(), events.end());  // at a tie, ends (-1) come before sends
  const double slice = span / 600;
  svg::Series in_flight{.name = "in flight", .markers = false, .step = true};
  int current = 0;
  size_t e = 0;
  for (int i = 0; i < 600; ++i) {
    const double slice_end = (i + 1) * slice;
    int peak = current;
    while (e < events.size() && (events[e].first < slice_end || i == 599)) {
      current += events[e++].second;
      peak = std::max(peak, current);
    }
    in_flight.points.emplace_back(i * slice, peak);
  }
  in_flight.points.emplace_back(span, current);

  std::vector<svg::Mark> marks;
  for (const auto& stage : run.stages) {
    marks.push_back({stage.start, fmt::format("stage {}", stage.plan.index)});
  }
  const std::string bin_label = fmt::format("time since start (s), {} s bins", number(width));
  std::string out = "<div class=\"charts\">\n";
  out += svg::render({.title = "Completed requests",
                      .x_label = bin_label,
                      .y_label = "requests/s",
                      .series = {binned("successes/s", done, width)},
                      .marks = marks});
  out += svg::render({.title = "Output token throughput",
                      .x_label = bin_label,
                      .y_label = "output tokens/s",
                      .series = {binned("output tokens/s", tokens, width)},
                      .marks = marks});
  out += svg::render({.title = "Requests in flight",
                      .x_label = "time since start (s)",
                      .y_label = "requests",
                      .series = {std::move(in_flight)},
                      .marks = marks});
  out += "</div>\n";
  return out;
}

std::string latency_throughput_charts(const RunResult& run) {
  // Tokens/s is the axis users size hardware by; requests/s only when no tokens were counted.
  const bool by_tokens = run.summary.output_tokens > 0;
  const std::string x_label = by_tokens ? "output tokens/s" : "requests/s";
  auto curve = [&](const char* title, const char* metric,
                   stats::Samples LifecycleSamples::*samples) {
    std::vector<svg::Series> series;
    for (double p : kPercentiles) {
      svg::Series s{.name = fmt::format("{} p{}", metric, p)};
      for (const auto& stage : run.stages) {
        const auto& d = stage.samples.*samples;
        if (d.empty()) continue;
        const Rates r = rates(stage.samples);
        s.points.emplace_back(by_tokens ? r.output_tokens : r.requests, d.percentile(p) * 1e3);
      }
      series.push_back(std::move(s));
    }
    return svg::render({.title = title,
                        .x_label = x_label,
                        .y_label = fmt::format("{} (ms)", metric),
                        .series = std::move(series)});
  };
  std::string out = "<div class=\"charts\">\n";
  out += curve("TTFT vs throughput", "TTFT", &LifecycleSamples::ttft);
  out += curve("NTPOT vs throughput", "NTPOT", &LifecycleSamples::ntpot);
  out += "</div>\n";
  return out;
}

std::string distribution_charts(const RunResult& run) {
  std::vector<svg::Series> ttft, e2e;
  auto add = [&](std::string name, const std::vector<const StageResult*>& stages) {
    std::vector<double> t, l;
    for (const auto* stage : stages) {
      for (const auto& r : stage->records) {
        if (!r.ok()) continue;
        t.push_back(ttft_of(r) * 1e3);
        l.push_back((r.end - r.sent) * 1e3);
      }
    }
    ttft.push_back(cdf(name, std::move(t)));
    e2e.push_back(cdf(std::move(name), std::move(l)));
  };
  std::vector<const StageResult*> all;
  for (const auto& stage : run.stages) all.push_back(&stage);
  add("all stages", all);
  // Per-stage curves show how the tail grows with load; past 8 they are unreadable.
  if (run.stages.size() > 1 && run.stages.size() <= 8) {
    for (const auto& stage : run.stages) {
      add(fmt::format("stage {}", stage.plan.index), {&stage});
    }
  }
  std::string out = "<div class=\"charts\">\n";
  out += svg::render({.title = "TTFT distribution (successful requests)",
                      .x_label = "TTFT (ms)",
                      .y_label = "requests (cumulative %)",
                      .series = std::move(ttft)});
  out += svg::render({.title = "E2E latency distribution (successful requests)",
                      .x_label = "E2E latency (ms)",
                      .y_label = "requests (cumulative %)",
                      .series = std::move(e2e)});
  out += "</div>\n";
  return out;
}

std::string errors_cell(const LifecycleSamples& s) {
  std::string out;
  for (const auto& [label, n] : s.failures_by_label) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}: {}", escape(label), n);
  }
  return out.empty() ? "-" : out;
}

void stage_row(std::string& out, const std::string& name, const std::string& requested,
               const LifecycleSamples& s, bool all) {
  const Rates r = rates(s);
  fmt::format_to(std::back_inserter(out),
                 "<tr{}><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                 "<td>{}</td><td class=\"l\">{}</td>",
                 all ? " class=\"all\"" : "", escape(name), requested, svg::fixed(r.achieved, 2),
                 s.count, s.successes, s.count - s.successes, errors_cell(s));
  for (const auto* d : {&s.ttft, &s.tpot, &s.itl, &s.request_latency}) {
    for (double p : kPercentiles)
      fmt::format_to(std::back_inserter(out), "<td>{}</td>", ms_cell(*d, p));
  }
  fmt::format_to(std::back_inserter(out), "<td>{}</td><td>{}</td><td>{}</td></tr>\n",
                 svg::fixed(r.requests, 2), svg::fixed(r.output_tokens, 1),
                 ms_cell(s.schedule_delay, 99));
}

std::string stage_table(const RunResult& run) {
  std::string out =
      "<div class=\"scroll\"><table>\n<thead>\n<tr><th class=\"l\" rowspan=\"2\">stage</th>"
      "<th rowspan=\"2\">requested</th><th rowspan=\"2\">achieved<br/>req/s</th>"
      "<th rowspan=\"2\">requests</th><th rowspan=\"2\">ok</th><th rowspan=\"2\">errors</th>"
      "<th class=\"l\" rowspan=\"2\">errors by label</th>"
      "<th colspan=\"3\">TTFT (ms)</th><th colspan=\"3\">TPOT (ms)</th>"
      "<th colspan=\"3\">ITL (ms)</th><th colspan=\"3\">E2E (ms)</th>"
      "<th rowspan=\"2\">req/s</th><th rowspan=\"2\">output<br/>tok/s</th>"
      "<th rowspan=\"2\">schedule<br/>delay p99 (ms)</th></tr>\n<tr>";
  for (int i = 0; i < 4; ++i) out += "<th>p50</th><th>p90</th><th>p99</th>";
  out += "</tr>\n</thead>\n<tbody>\n";
  for (const auto& stage : run.stages) {
    std::string requested = "-";
    if (stage.plan.rate > 0) {
      requested = fmt::format("{} req/s", number(stage.plan.rate));
    } else if (stage.plan.concurrency > 0) {
      requested = fmt::format("concurrency {}", stage.plan.concurrency);
    }
    stage_row(out, fmt::format("{}", stage.plan.index), requested, stage.samples, false);
  }
  if (run.stages.size() != 1) stage_row(out, "all", "-", run.summary, true);
  out += "</tbody>\n</table></div>\n";
  return out;
}

std::string header(const RunResult& run, const PerfConfig& config, const nlohmann::json& machine) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %z", &local);

  std::string out = "<h1>kgai perf report</h1>\n<dl class=\"meta\">\n";
  auto item = [&out](std::string_view key, const std::string& value) {
    fmt::format_to(std::back_inserter(out), "<dt>{}</dt><dd>{}</dd>\n", key, escape(value));
  };
  item("model", run.model.empty() ? "-" : run.model);
  item("base URL", run.base_url.empty() ? config.server.base_url : run.base_url);
  item("date", date);
  item("seed", fmt::format("{}", config.load.base_seed));
  item("load", fmt::format("{}, {} stage(s)", config.load.type, run.stages.size()));
  item("API", fmt::format("{}{}", config.api.type, config.api.streaming ? ", streaming" : ""));
  item("data", config.data.type);
  item("machine", fmt::format("{} CPUs, {}, host {}", json_text(machine, "cpus"),
                              json_text(machine, "cpu_model"), json_text(machine, "hostname")));
  out += "</dl>\n";

  const LifecycleSamples& s = run.summary;
  const Rates r = rates(s);
  out += "<div class=\"totals\">\n";
  auto total = [&out](std::string_view key, const std::string& value) {
    fmt::format_to(
        std::back_inserter(out),
        "<div class=\"total\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>\n", value,
        key);
  };
  total("requests", fmt::format("{}", s.count));
  total("successful", fmt::format("{}", s.successes));
  total("failed", fmt::format("{}", s.count - s.successes));
  total("wall time (s)", number(run.wall_seconds, 1));
  total("input tokens", fmt::format("{}", s.input_tokens));
  total("output tokens", fmt::format("{}", s.output_tokens));
  total("requests/s", number(r.requests));
  total("output tokens/s", number(r.output_tokens, 1));
  total("TTFT p50 (ms)", ms_cell(s.ttft, 50));
  total("E2E p99 (ms)", ms_cell(s.request_latency, 99));
  if (!config.report.goodput.empty()) {
    total("goodput (req/s)",
          number(static_cast<double>(s.good_requests) * (r.window > 0 ? 1 / r.window : 0)));
  }
  out += "</div>\n";
  fmt::format_to(std::back_inserter(out),
                 "<details><summary>settings (config.yaml)</summary>\n<pre>{}</pre>\n</details>\n",
                 escape(to_yaml(config)));
  return out;
}

}  // namespace

std::string render_html_report(const RunResult& run, const PerfConfig& config,
                               const nlohmann::json& machine) {
  std::string body = header(run, config, machine);
  body += "<h2>Latency vs throughput</h2>\n";
  body +=
      "<p class=\"note\">One point per stage at its achieved throughput; where the curve turns "
      "up, the server is saturated.</p>\n";
  body += latency_throughput_charts(run);
  body += "<h2>Latency distributions</h2>\n";
  body += distribution_charts(run);
  body += "<h2>Over time</h2>\n";
  body += charts_over_time(run);
  body += "<h2>Stages</h2>\n";
  body += stage_table(run);
  const std::string title =
      fmt::format("kgai perf: {}", run.model.empty() ? std::string("report") : run.model);
  return svg::page(title, body);
}

}  // namespace kgai::perf
