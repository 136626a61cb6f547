#include "demo/demo_report.h"

#include "common/text_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "perf/svg_chart.h"

namespace kgai::demo {

namespace {

// nlohmann would write NaN as null on dump, but the value itself would still be a NaN double;
// converting here keeps the in-memory JSON equal to what a reader sees.
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json stage_json(const StageResult& s) {
  return {{"rate", num(s.rate)},
          {"achieved_rate", num(s.achieved_rate)},
          {"ttft_p50", num(s.ttft_p50)},
          {"ttft_p90", num(s.ttft_p90)},
          {"ntpot_p50", num(s.ntpot_p50)},
          {"output_tokens_per_sec", num(s.output_tokens_per_sec)},
          {"goodput", num(s.goodput)},
          {"requests", s.requests},
          {"errors", s.errors}};
}

nlohmann::json policy_json(const PolicyResult& p) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : p.stages) stages.push_back(stage_json(s));
  return {{"name", p.name},
          {"description", p.description},
          {"skipped", p.skipped},
          {"skip_reason", p.skip_reason},
          {"prefix_hit_rate", p.prefix_hit_rate ? num(*p.prefix_hit_rate) : nlohmann::json()},
          {"requests_per_replica", p.requests_per_replica},
          {"stages", std::move(stages)}};
}

std::string ms(double seconds) { return perf::svg::fixed(seconds * 1e3, 1); }

}  // namespace

nlohmann::json summary_json(const DemoResult& r) {
  nlohmann::json policies = nlohmann::json::array();
  for (const auto& p : r.policies) policies.push_back(policy_json(p));
  nlohmann::json comparisons = nlohmann::json::array();
  for (const auto& c : r.comparisons) {
    comparisons.push_back({{"baseline", c.baseline},
                           {"rate", num(c.rate)},
                           {"ttft_p90_ratio", num(c.ttft_p90_ratio)},
                           {"throughput_ratio", num(c.throughput_ratio)}});
  }
  nlohmann::json headline;  // null when absent
  if (r.headline) {
    headline = {{"baseline", r.headline->baseline},
                {"rate", num(r.headline->rate)},
                {"ttft_p90_ratio", num(r.headline->ttft_p90_ratio)},
                {"throughput_ratio", num(r.headline->throughput_ratio)}};
  }
  nlohmann::json rates = nlohmann::json::array();
  for (double rate : r.workload.rates) rates.push_back(num(rate));
  return {
      {"pool",
       {{"replicas", r.pool.replicas},
        {"model", r.pool.model},
        {"accelerator", r.pool.accelerator},
        {"time_scale", num(r.pool.time_scale)},
        {"max_num_seqs", r.pool.max_num_seqs}}},
      {"workload",
       {{"kind", r.workload.kind},
        {"description", r.workload.description},
        {"seed", r.workload.seed},
        {"rates", std::move(rates)},
        {"stage_seconds", num(r.workload.stage_seconds)}}},
      {"host_check",
       {{"ok", r.host_check.ok},
        {"message", r.host_check.message},
        {"schedule_delay_p99", num(r.host_check.schedule_delay_p99)},
        {"cpu_load_average", num(r.host_check.cpu_load_average)}}},
      {"started_at", r.started_at},
      {"machine", r.machine},
      {"command", r.command},
      {"headline", std::move(headline)},
      {"comparisons", std::move(comparisons)},
      {"policies", std::move(policies)},
  };
}

Result<void> write_demo_report(const DemoResult& result, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("cannot create report directory {}: {}", dir, ec.message());
  const std::filesystem::path base(dir);
  if (auto w =
          write_text_file((base / "summary.json").string(), summary_json(result).dump(2) + "\n");
      !w) {
    return w;
  }
  return write_text_file((base / "index.html").string(), render_demo_html(result));
}

std::string comparison_text(const DemoResult::Headline& h) {
  std::string ttft;
  if (!std::isfinite(h.ttft_p90_ratio) || !(h.ttft_p90_ratio > 0)) {
    ttft = "-";
  } else if (h.ttft_p90_ratio > 0.95 && h.ttft_p90_ratio < 1.05) {
    ttft = fmt::format("about the same ({:.2f}x)", h.ttft_p90_ratio);
  } else if (h.ttft_p90_ratio >= 1) {
    ttft = fmt::format("{:.1f}x lower", h.ttft_p90_ratio);
  } else {
    ttft = fmt::format("{:.1f}x higher", 1 / h.ttft_p90_ratio);
  }
  const std::string throughput =
      std::isfinite(h.throughput_ratio) ? fmt::format("{:.2f}x", h.throughput_ratio) : "-";
  return fmt::format("kgai vs {} at {} req/s: TTFT p90 {}, output tokens/s {}", h.baseline,
                     perf::svg::number(h.rate), ttft, throughput);
}

std::string headline_text(const DemoResult& r) {
  if (!r.headline) {
    return "no headline: kgai and round-robin share no rate at which round-robin sustains the "
           "load (every request completed, none failed)";
  }
  return comparison_text(*r.headline);
}

std::string format_demo_table(const DemoResult& r) {
  using Row = std::vector<std::string>;
  const Row header = {"policy",       "rate req/s", "TTFT p50 ms",   "TTFT p90 ms",
                      "NTPOT p50 ms", "out tok/s",  "goodput req/s", "errors"};
  std::vector<Row> rows;
  std::vector<std::string> skipped;  // printed after the table, they have no numbers
  for (const auto& p : r.policies) {
    if (p.skipped) {
      skipped.push_back(fmt::format("{}: skipped ({})", p.name, p.skip_reason));
      continue;
    }
    for (const auto& s : p.stages) {
      rows.push_back({p.name, perf::svg::number(s.rate), ms(s.ttft_p50), ms(s.ttft_p90),
                      ms(s.ntpot_p50), perf::svg::fixed(s.output_tokens_per_sec, 1),
                      perf::svg::fixed(s.goodput, 2), fmt::format("{}", s.errors)});
    }
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto line = [&](const Row& row) {
    std::string text;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c == 0) {
        text += fmt::format("{:<{}}", row[c], width[c]);
      } else {
        text += fmt::format("  {:>{}}", row[c], width[c]);
      }
    }
    out += text + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  for (const auto& s : skipped) out += s + "\n";
  out += headline_text(r) + "\n";
  for (const auto& c : r.comparisons) {
    if (c.baseline != "round-robin") out += comparison_text(c) + "\n";
  }
  return out;
}

}  // namespace kgai::demo
