#include "quickstart/report_html.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "perf/svg_chart.h"
#include "quickstart/profiles_output.h"

namespace kgai::quickstart {

namespace svg = perf::svg;

namespace {

double at_percentile(const LatencyPercentiles& d, int percentile) {
  return percentile == 99 ? d.p99 : percentile == 90 ? d.p90 : d.p50;
}

std::string setup_label(const Profile& p) {
  std::string model =
      p.model.substr(p.model.rfind('/') == std::string::npos ? 0 : p.model.rfind('/') + 1);
  return fmt::format("{} x {} · {}", p.accelerator_count, p.accelerator, model);
}

std::string targets_text(const Targets& t) {
  std::vector<std::string> parts;
  if (t.ttft_ms) parts.push_back(fmt::format("TTFT ≤ {:g} ms", *t.ttft_ms));
  if (t.ntpot_ms) parts.push_back(fmt::format("NTPOT ≤ {:g} ms", *t.ntpot_ms));
  if (t.itl_ms) parts.push_back(fmt::format("ITL ≤ {:g} ms", *t.itl_ms));
  if (parts.empty())
    return "none (each setup at its knee: the fewest clients reaching 95 % of saturation)";
  return fmt::format("{} at p{}", fmt::join(parts, ", "), t.percentile);
}

std::string table_html(const Table& t) {
  std::string out = "<div class=\"scroll\"><table>\n<thead><tr>";
  for (size_t i = 0; i < t.columns.size(); ++i)
    out += fmt::format("<th{}>{}</th>", i < 2 ? " class=\"l\"" : "", svg::escape(t.columns[i]));
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i)
      out += fmt::format("<td{}>{}</td>", i < 2 ? " class=\"l\"" : "", svg::escape(row[i]));
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

}  // namespace

std::vector<size_t> pareto_front(const std::vector<Profile>& profiles) {
  std::vector<size_t> order(profiles.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& pa = profiles[a];
    const auto& pb = profiles[b];
    if (pa.cost.per_million_output_tokens != pb.cost.per_million_output_tokens)
      return pa.cost.per_million_output_tokens < pb.cost.per_million_output_tokens;
    return pa.point.ntpot_ms < pb.point.ntpot_ms;
  });
  std::vector<size_t> front;
  double best = 0;
  for (size_t i : order) {
    if (front.empty() || profiles[i].point.ntpot_ms < best) {
      front.push_back(i);
      best = profiles[i].point.ntpot_ms;
    }
  }
  return front;
}

std::string render_report(const ReportInput& in) {
  const SearchRequest& request = *in.request;
  const int pct = request.targets.percentile;
  std::string body = "<h1>kgai quickstart report</h1>\n<dl class=\"meta\">\n";
  const auto meta = [&body](std::string_view key, const std::string& value) {
    body += fmt::format("<dt>{}</dt><dd>{}</dd>\n", svg::escape(key), svg::escape(value));
  };
  meta("workload",
       fmt::format("{} (input {}, output {} tokens; means {:.0f} / {:.0f})", request.shape.name,
                   request.shape.input_length, request.shape.output_length,
                   request.shape.mean_input_tokens, request.shape.mean_output_tokens));
  meta("targets", targets_text(request.targets));
  meta("prices", fmt::format("{} on {}, cost ratio R = {:g}", request.pricing_model, request.cloud,
                             request.cost_ratio));
  meta("search", fmt::format("{} setups, {} virtual-time runs, {:.2f} s", in.profiles->setups,
                             in.profiles->simulations, in.profiles->wall_seconds));
  meta("generated", in.generated_on + " by kgai quickstart (simulated in virtual time)");
  body += "</dl>\n";

  // The curves of the cheapest setups.
  svg::Chart ntpot{fmt::format("NTPOT p{} against output throughput", pct), "output tokens/s",
                   fmt::format("NTPOT p{} (ms)", pct)};
  svg::Chart ttft{fmt::format("TTFT p{} against output throughput", pct), "output tokens/s",
                  fmt::format("TTFT p{} (ms)", pct)};
  ttft.y_log = true;
  if (in.curves) {
    for (const auto& curve : in.curves->curves) {
      svg::Series a{setup_label(curve.saturation), {}};
      svg::Series b{setup_label(curve.saturation), {}};
      for (const auto& stage : curve.stages) {
        if (stage.point.kept_up < 0.95) continue;  // past capacity: no steady state
        a.points.emplace_back(stage.point.output_tokens_per_second,
                              at_percentile(stage.point.ntpot, pct));
        b.points.emplace_back(stage.point.output_tokens_per_second,
                              at_percentile(stage.point.ttft, pct));
      }
      ntpot.series.push_back(std::move(a));
      ttft.series.push_back(std::move(b));
    }
  }
  body +=
      "<h2>Latency against throughput</h2>\n<p class=\"note\">Open-loop (Poisson) stages "
      "up to each setup's capacity; stages the engine could not keep up with are left "
      "out.</p>\n<div class=\"charts\">\n" +
      svg::render(ntpot) + svg::render(ttft) + "</div>\n";

  // Cost against latency over every profile.
  const auto& profiles = in.profiles->profiles;
  svg::Chart pareto{"Cost against latency", "$ per million output tokens",
                    fmt::format("NTPOT p{} (ms)", pct)};
  pareto.y_log = true;
  svg::Series all{"every setup", {}};
  all.line = false;
  for (const auto& p : profiles)
    all.points.emplace_back(p.cost.per_million_output_tokens, p.point.ntpot_ms);
  svg::Series front{"Pareto front", {}};
  std::string front_list;
  for (size_t i : pareto_front(profiles)) {
    const auto& p = profiles[i];
    front.points.emplace_back(p.cost.per_million_output_tokens, p.point.ntpot_ms);
    front_list += fmt::format("<li>{}: ${:.3f} per million output tokens, NTPOT {:.1f} ms</li>\n",
                              svg::escape(setup_label(p)), p.cost.per_million_output_tokens,
                              p.point.ntpot_ms);
  }
  pareto.series.push_back(std::move(all));
  pareto.series.push_back(std::move(front));
  body += "<h2>Cost against latency</h2>\n<div class=\"charts\">\n" + svg::render(pareto) +
          "</div>\n<p class=\"note\">On the front, no cheaper setup is also faster:</p>\n<ul>\n" +
          front_list + "</ul>\n";

  const nlohmann::ordered_json json = profiles_json(*in.profiles);
  body += "<h2>Profiles</h2>\n" +
          table_html(profiles_table(json["profiles"], request.rate.has_value()));
  if (!in.profiles->skipped.empty()) {
    body += "<h2>Left out</h2>\n<ul>\n";
    for (const auto& s : in.profiles->skipped) {
      body += fmt::format("<li>{} on {} x {}: {}</li>\n", svg::escape(s.model), s.accelerator_count,
                          svg::escape(s.accelerator), svg::escape(s.why));
    }
    body += "</ul>\n";
  }
  return svg::page("kgai quickstart report", body);
}

}  // namespace kgai::quickstart
