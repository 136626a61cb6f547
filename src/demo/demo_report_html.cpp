// index.html of `kgai demo`. Built only from the shared SVG helpers so it looks like the perf
// reports and stays self-contained (no scripts, no fetched fonts or styles).
#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "demo/demo_report.h"
#include "perf/svg_chart.h"

namespace kgai::demo {

namespace {

namespace svg = perf::svg;
using svg::escape;
using svg::number;

std::string ms(double seconds) { return svg::fixed(seconds * 1e3, 1); }

std::string rates_text(const std::vector<double>& rates) {
  std::string out;
  for (size_t i = 0; i < rates.size(); ++i) out += (i ? ", " : "") + number(rates[i]);
  return out.empty() ? "-" : out;
}

std::string summary_paragraph(const DemoResult& r) {
  return fmt::format(
      "<p>{} replicas of <b>{}</b> on <b>{}</b> (simulated, time scale {}{}) served the <b>{}</b> "
      "workload ({}), seed {}, in stages of {} s at {} req/s. "
      "Started {} on {}. Command: <code>{}</code></p>\n",
      r.pool.replicas, escape(r.pool.model), escape(r.pool.accelerator), number(r.pool.time_scale),
      r.pool.max_num_seqs > 0
          ? fmt::format(", at most {} sequences per replica", r.pool.max_num_seqs)
          : std::string(),
      escape(r.workload.kind), escape(r.workload.description), r.workload.seed,
      number(r.workload.stage_seconds), rates_text(r.workload.rates), escape(r.started_at),
      escape(r.machine), escape(r.command));
}

std::string host_check_section(const HostCheck& h) {
  const std::string details =
      fmt::format("load generator schedule delay p99 {} ms, CPU load average {}",
                  ms(h.schedule_delay_p99), svg::fixed(h.cpu_load_average, 2));
  if (h.ok) {
    return fmt::format("<p class=\"note\">Host check: {} ({})</p>\n", escape(h.message), details);
  }
  // The page's shared stylesheet has no warning class; an inline style keeps svg_chart's
  // stylesheet shared by all reports unchanged.
  return fmt::format(
      "<div class=\"warning\" style=\"border: 1px solid #d9a400; background: #fff8e1; "
      "border-radius: 6px; padding: 8px 12px; margin: 12px 0;\"><b>Warning: the host may be the "
      "bottleneck, so the numbers below may say more about this machine than about the "
      "policies.</b> {} ({})</div>\n",
      escape(h.message), details);
}

std::string headline_section(const DemoResult& r) {
  std::string out = "<h2>Headline</h2>\n";
  if (!r.headline) {
    return out + fmt::format("<p>{}.</p>\n", escape(headline_text(r)));
  }
  const auto& h = *r.headline;
  auto box = [](std::string_view value, std::string_view key) {
    return fmt::format(
        "<div class=\"total\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>", value,
        key);
  };
  out += "<div class=\"totals\">";
  out += box(number(h.rate) + " req/s", "offered rate");
  out += box(svg::fixed(h.ttft_p90_ratio, 2) + "x", "TTFT p90, round-robin / kgai");
  out += box(svg::fixed(h.throughput_ratio, 2) + "x", "output tokens/s, kgai / round-robin");
  out += "</div>\n";
  out += fmt::format(
      "<p>{}. The rate is the highest at which round-robin sustains the load (every request "
      "of the stage completed, none failed).</p>\n",
      escape(headline_text(r)));
  std::string others;
  for (const auto& c : r.comparisons) {
    if (c.baseline != "round-robin") others += "<li>" + escape(comparison_text(c)) + "</li>\n";
  }
  if (!others.empty()) {
    out +=
        "<p>The same comparison against the other policies, each at the highest rate it "
        "sustains:</p>\n<ul>\n" +
        others + "</ul>\n";
  }
  return out;
}

std::string results_table(const DemoResult& r) {
  std::string out =
      "<h2>Results</h2>\n<div class=\"scroll\"><table>\n<tr><th class=\"l\">policy</th>"
      "<th>offered req/s</th><th>achieved req/s</th><th>TTFT p50 ms</th><th>TTFT p90 ms</th>"
      "<th>NTPOT p50 ms</th><th>output tokens/s</th><th>goodput req/s</th><th>requests</th>"
      "<th>errors</th></tr>\n";
  for (const auto& p : r.policies) {
    if (p.skipped) {
      fmt::format_to(std::back_inserter(out),
                     "<tr><td class=\"l\">{}</td><td class=\"l\" colspan=\"9\">skipped: {}</td>"
                     "</tr>\n",
                     escape(p.name), escape(p.skip_reason));
      continue;
    }
    for (const auto& s : p.stages) {
      fmt::format_to(std::back_inserter(out),
                     "<tr><td class=\"l\" title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
                     "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     escape(p.description), escape(p.name), number(s.rate),
                     svg::fixed(s.achieved_rate, 2), ms(s.ttft_p50), ms(s.ttft_p90),
                     ms(s.ntpot_p50), svg::fixed(s.output_tokens_per_sec, 1),
                     svg::fixed(s.goodput, 2), s.requests, s.errors);
    }
  }
  out += "</table></div>\n";
  return out;
}

std::string policy_list(const DemoResult& r) {
  std::string out = "<h2>Policies</h2>\n<ul>\n";
  for (const auto& p : r.policies) {
    fmt::format_to(std::back_inserter(out), "<li><b>{}</b>: {}{}</li>\n", escape(p.name),
                   escape(p.description),
                   p.skipped ? " (skipped: " + escape(p.skip_reason) + ")" : "");
  }
  return out + "</ul>\n";
}

// One line per policy that ran: `value` of each stage against its offered rate.
std::string rate_chart(const DemoResult& r, std::string title, std::string y_label,
                       double (*value)(const StageResult&), bool y_log = false) {
  svg::Chart chart{
      .title = std::move(title), .x_label = "offered rate (req/s)", .y_label = std::move(y_label)};
  chart.y_log = y_log;
  for (const auto& p : r.policies) {
    if (p.skipped) continue;
    svg::Series s{.name = p.name};
    for (const auto& stage : p.stages) s.points.emplace_back(stage.rate, value(stage));
    chart.series.push_back(std::move(s));
  }
  return svg::render(chart);
}

// Horizontal bars, 0-100 %, one per policy that ran; "n/a" where the policy reported none
// (e.g. a baseline whose replicas were not scraped).
std::string prefix_hit_chart(const DemoResult& r) {
  constexpr int kWidth = 560, kLabel = 150, kRight = 70, kRow = 24, kTop = 30;
  std::vector<const PolicyResult*> ran;
  for (const auto& p : r.policies) {
    if (!p.skipped) ran.push_back(&p);
  }
  const int height = kTop + kRow * static_cast<int>(std::max<size_t>(ran.size(), 1)) + 10;
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" "
      "height=\"{1}\" role=\"img\" class=\"chart\">\n<title>prefix-cache hit rate</title>\n"
      "<text x=\"{2}\" y=\"16\" class=\"ctitle\" text-anchor=\"middle\">prefix-cache hit rate "
      "(%, whole run, all replicas)</text>\n",
      kWidth, height, kWidth / 2);
  const double plot = kWidth - kLabel - kRight;
  for (size_t i = 0; i < ran.size(); ++i) {
    const auto& p = *ran[i];
    const double y = kTop + kRow * static_cast<double>(i);
    fmt::format_to(std::back_inserter(out),
                   "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", kLabel - 8,
                   number(y + 15, 1), escape(p.name));
    const bool known = p.prefix_hit_rate && std::isfinite(*p.prefix_hit_rate);
    if (!known) {
      fmt::format_to(std::back_inserter(out), "<text x=\"{}\" y=\"{}\" fill=\"#999\">n/a</text>\n",
                     kLabel, number(y + 15, 1));
      continue;
    }
    const double rate = std::clamp(*p.prefix_hit_rate, 0.0, 1.0);
    fmt::format_to(std::back_inserter(out),
                   "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
                   "<title>{}: {} %</title></rect>\n"
                   "<text x=\"{}\" y=\"{}\">{} %</text>\n",
                   kLabel, number(y + 3, 1), number(plot * rate, 1), kRow - 6, svg::color(i),
                   escape(p.name), svg::fixed(rate * 100, 1), number(kLabel + plot * rate + 6, 1),
                   number(y + 15, 1), svg::fixed(rate * 100, 1));
  }
  if (ran.empty()) {
    fmt::format_to(
        std::back_inserter(out),
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"nodata\">no data</text>\n",
        kWidth / 2, kTop + 15);
  }
  return out + "</svg>\n";
}

// Running + waiting requests of each replica over the policy's run, with the stage boundaries.
std::string replica_load_chart(const DemoResult& r, const PolicyResult& p) {
  svg::Chart chart{.title = p.name + ": requests per replica (running + waiting)",
                   .x_label = "seconds since the first stage began",
                   .y_label = "requests",
                   .width = 440,
                   .height = 260};
  for (const auto& replica : p.replica_load) {
    svg::Series s{.name = replica.name, .markers = false, .step = true};
    const size_t n =
        std::min({replica.seconds.size(), replica.running.size(), replica.waiting.size()});
    for (size_t i = 0; i < n; ++i) {
      s.points.emplace_back(replica.seconds[i], replica.running[i] + replica.waiting[i]);
    }
    chart.series.push_back(std::move(s));
  }
  if (r.workload.stage_seconds > 0) {
    for (size_t i = 1; i < r.workload.rates.size(); ++i) {
      chart.marks.push_back({.x = r.workload.stage_seconds * static_cast<double>(i),
                             .label = number(r.workload.rates[i]) + " req/s"});
    }
  }
  return svg::render(chart);
}

}  // namespace

std::string render_demo_html(const DemoResult& r) {
  std::string body = "<h1>kgai demo: routing policies on a simulated pool</h1>\n";
  body += summary_paragraph(r);
  body += host_check_section(r.host_check);
  body += headline_section(r);
  body += results_table(r);
  body += policy_list(r);

  body += "<h2>Latency and throughput</h2>\n<div class=\"charts\">\n";
  // Log scale: a saturated router's seconds would otherwise flatten everyone else's tens of
  // milliseconds into one line at the bottom.
  body += rate_chart(
      r, "TTFT p90 vs offered rate (log scale)", "TTFT p90 (ms)",
      [](const StageResult& s) { return s.ttft_p90 * 1e3; }, true);
  body += rate_chart(r, "output tokens/s vs offered rate", "output tokens/s",
                     [](const StageResult& s) { return s.output_tokens_per_sec; });
  body += "</div>\n";

  body += "<h2>Prefix-cache hit rate</h2>\n";
  body += prefix_hit_chart(r);

  body += "<h2>Load per replica</h2>\n<div class=\"charts\">\n";
  bool any = false;
  for (const auto& p : r.policies) {
    if (p.skipped) continue;
    body += replica_load_chart(r, p);
    any = true;
  }
  body += "</div>\n";
  if (!any) body += "<p class=\"note\">No policy ran.</p>\n";
  return svg::page("kgai demo report", body);
}

}  // namespace kgai::demo
