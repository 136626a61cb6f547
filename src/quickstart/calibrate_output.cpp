// The three faces of a calibration: the table people read, the JSON scripts read, and the
// catalog overlay the simulator and the planner load.
#include <cmath>
#include <iterator>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "quickstart/calibrate.h"
#include "quickstart/output.h"

namespace kgai::quickstart {

namespace {

using nlohmann::ordered_json;

// Four significant digits, never an exponent for the ranges factors live in.
std::string number(double v) {
  if (std::abs(v) >= 1e4) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

std::string load_text(const StageComparison& s) {
  if (s.concurrency > 0) return fmt::format("concurrency {}", s.concurrency);
  return fmt::format("rate {}/s", number(s.rate));
}

struct Metric {
  const char* label;  // table
  const char* key;    // JSON
  double scale;       // seconds -> ms for latencies
  std::optional<double> StageFigures::*member;
};

constexpr Metric kMetrics[] = {
    {"TTFT p50 ms", "ttft_median_ms", 1e3, &StageFigures::ttft},
    {"TPOT p50 ms", "tpot_median_ms", 1e3, &StageFigures::tpot},
    {"output tok/s", "output_tokens_per_sec", 1, &StageFigures::output_tokens_per_sec},
};

std::string value_text(const std::optional<double>& v, double scale) {
  if (!v) return "-";
  const double x = *v * scale;
  return fmt::format("{:.{}f}", x, std::abs(x) >= 100 ? 0 : 2);
}

std::string error_text(const std::optional<double>& predicted,
                       const std::optional<double>& measured) {
  if (!predicted || !measured || *measured <= 0) return "-";
  return fmt::format("{:+.1f}%", 100 * (*predicted / *measured - 1));
}

ordered_json figures_json(const StageFigures& f) {
  ordered_json j = ordered_json::object();
  for (const Metric& m : kMetrics) {
    const auto& v = f.*m.member;
    j[m.key] = v ? ordered_json(*v * m.scale) : ordered_json(nullptr);
  }
  return j;
}

std::string factor_value(const FactorResult& f, double v) {
  return *f.unit.c_str() ? fmt::format("{} {}", number(v), f.unit) : number(v);
}

}  // namespace

std::string overlay_yaml(const Calibration& c, const MeasuredRun& run,
                         const std::string& written_at) {
  std::string out;
  out +=
      fmt::format("# Efficiency factors fitted by `kgai quickstart calibrate` at {}\n", written_at);
  out += fmt::format("# from the report {} ({}, {} stage(s)),\n", run.dir, run.source,
                     c.stages.size());
  out += fmt::format("# for {} on {} (TP {}).\n", c.model, c.accelerator, c.tensor_parallel);
  out += fmt::format(
      "# Error, mean |predicted / measured - 1| over {} figure(s) (median TTFT, median TPOT and\n"
      "# output throughput per stage): before {:.1f}%, after {:.1f}%.\n",
      c.figures, 100 * c.error_before, 100 * c.error_after);
  out +=
      "# The catalog keeps efficiency per accelerator, not per model: with this file every model\n"
      "# simulated on this accelerator gets these factors. Calibrate from a run of the model you\n"
      "# plan for, and keep one overlay per model if you serve several.\n";
  out += "# Use: kgai sim --catalog THIS_FILE ..., kgai quickstart ... --catalog THIS_FILE\n";
  out += "accelerators:\n";
  out += fmt::format("  - name: {}\n", c.accelerator);
  out += "    efficiency:\n";
  for (const FactorResult& f : c.factors) {
    const std::string entry = fmt::format("{}: {}", f.key, number(f.after));
    const std::string note = f.fitted ? fmt::format("fitted (was {})", number(f.before)) : "kept";
    out += fmt::format("      {:<40}# {}\n", entry, note);
  }
  return out;
}

ordered_json calibration_json(const Calibration& c, const MeasuredRun& run) {
  ordered_json j;
  j["model"] = c.model;
  j["accelerator"] = c.accelerator;
  j["tensor_parallel"] = c.tensor_parallel;
  j["report"] = {{"dir", run.dir}, {"source", run.source}, {"served_model", run.model}};
  ordered_json stages = ordered_json::array();
  for (const StageComparison& s : c.stages) {
    ordered_json load = ordered_json::object();
    if (s.concurrency > 0) {
      load["concurrency"] = s.concurrency;
    } else {
      load["rate"] = s.rate;
    }
    load["requests"] = s.requests;
    load["replayed_requests"] = s.replayed;
    ordered_json noise = ordered_json::object();
    for (size_t metric = 0; metric < std::size(kMetrics); ++metric) {
      noise[kMetrics[metric].key] = s.noise[metric];
    }
    stages.push_back({{"index", s.index},
                      {"load", load},
                      {"measured", figures_json(s.measured)},
                      {"noise", noise},
                      {"before", figures_json(s.before)},
                      {"after", figures_json(s.after)}});
  }
  j["stages"] = stages;
  ordered_json factors = ordered_json::array();
  for (const FactorResult& f : c.factors) {
    factors.push_back({{"key", f.key},
                       {"unit", f.unit},
                       {"before", f.before},
                       {"after", f.after},
                       {"fitted", f.fitted},
                       {"why", f.why}});
  }
  j["factors"] = factors;
  j["error"] = {{"measure", "mean |predicted / measured - 1|"},
                {"figures", c.figures},
                {"before", c.error_before},
                {"after", c.error_after}};
  j["fit"] = {
      {"simulations", c.simulations}, {"replays", c.replays}, {"wall_seconds", c.wall_seconds}};
  j["notes"] = c.notes;
  j["warnings"] = run.warnings;
  return j;
}

std::string calibration_table(const Calibration& c, const MeasuredRun& run) {
  std::string out =
      fmt::format("{} on {} (TP {}), {} stage(s) from {} ({})\n\n", c.model, c.accelerator,
                  c.tensor_parallel, c.stages.size(), run.dir, run.source);
  Table stages{{"stage", "load", "requests", "figure", "measured", "noise", "before", "error",
                "after", "error"},
               {}};
  for (const StageComparison& s : c.stages) {
    bool first = true;
    for (size_t metric = 0; metric < std::size(kMetrics); ++metric) {
      const Metric& m = kMetrics[metric];
      const auto& measured = s.measured.*m.member;
      if (!measured) continue;
      const auto& before = s.before.*m.member;
      const auto& after = s.after.*m.member;
      stages.rows.push_back({first ? std::to_string(s.index) : "", first ? load_text(s) : "",
                             first ? fmt::format("{} ({} replayed)", s.requests, s.replayed) : "",
                             m.label, value_text(measured, m.scale),
                             fmt::format("{:.1f}%", 100 * s.noise[metric]),
                             value_text(before, m.scale), error_text(before, measured),
                             value_text(after, m.scale), error_text(after, measured)});
      first = false;
    }
  }
  out += render_table(stages);
  out += "\n";
  Table factors{{"factor", "before", "after", ""}, {}};
  for (const FactorResult& f : c.factors) {
    factors.rows.push_back({f.key, factor_value(f, f.before), factor_value(f, f.after), f.why});
  }
  out += render_table(factors);
  out += fmt::format(
      "\nerror (mean |predicted / measured - 1| over {} figures): before {:.1f}%, after {:.1f}%\n",
      c.figures, 100 * c.error_before, 100 * c.error_after);
  out +=
      "noise: how much a figure scatters between replays with other seeds; the fit weighs "
      "errors by it\n";
  out += fmt::format("fit: {} candidate factor sets ({} stage replays) in {:.1f} s\n",
                     c.simulations, c.replays, c.wall_seconds);
  for (const std::string& note : c.notes) out += fmt::format("note: {}\n", note);
  return out;
}

}  // namespace kgai::quickstart
