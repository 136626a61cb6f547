#include "perf/compare.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/json_path.h"
#include "perf/svg_chart.h"

namespace kgai::perf {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Result<json> read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("{}: cannot read", path.string());
  try {
    json j = json::parse(in);
    if (!j.is_object()) return fail("{}: expected a JSON object", path.string());
    return j;
  } catch (const json::exception& e) {
    return fail("{}: malformed JSON: {}", path.string(), e.what());
  }
}

std::optional<double> number_at(const json& j, std::initializer_list<const char*> keys) {
  const json* v = find_path(j, keys);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

// A latency percentile in ms: Inference Perf names p50 "median"; accept "p50" too.
std::optional<double> latency_ms(const json& j, const char* metric, double p) {
  const json* d = find_path(j, {"successes", "latency", metric});
  if (!d || !d->is_object()) return std::nullopt;
  std::optional<double> v;
  if (p == 50) {
    v = number_at(*d, {"median"});
    if (!v) v = number_at(*d, {"p50"});
  } else {
    v = number_at(*d, {fmt::format("p{}", p).c_str()});
  }
  if (!v) return std::nullopt;
  return *v * 1e3;
}

std::string cell(std::optional<double> v, int precision) {
  return v ? svg::fixed(*v, precision) : "-";
}

std::string count_cell(std::optional<double> v) {
  return v ? fmt::format("{}", static_cast<int64_t>(*v)) : "-";
}

std::string model_from_config(const fs::path& path) {
  try {
    YAML::Node root = YAML::LoadFile(path.string());
    YAML::Node name = root["server"]["model_name"];
    if (name && name.IsScalar()) return name.as<std::string>();
  } catch (const YAML::Exception&) {
    // config.yaml is informative only; an unreadable one leaves the model unknown.
  }
  return "";
}

// What the table reads: the summary, or the only stage when a folder has no summary.
const json* summary_of(const ReportFolder& r) {
  if (!r.summary.is_null()) return &r.summary;
  if (r.stages.size() == 1) return &r.stages[0];
  return nullptr;
}

// (x, y) per stage for one run; a folder with only a summary gives one point.
std::vector<std::pair<double, double>> curve(const ReportFolder& r, const char* metric, double p,
                                             bool by_tokens) {
  std::vector<const json*> points;
  for (const auto& s : r.stages) points.push_back(&s);
  if (points.empty() && !r.summary.is_null()) points.push_back(&r.summary);
  std::vector<std::pair<double, double>> out;
  for (const json* j : points) {
    auto x = number_at(
        *j, {"successes", "throughput", by_tokens ? "output_tokens_per_sec" : "requests_per_sec"});
    auto y = latency_ms(*j, metric, p);
    if (x && y) out.emplace_back(*x, *y);
  }
  return out;
}

}  // namespace

Result<ReportFolder> load_report_folder(const std::string& dir) {
  const fs::path path(dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return fail("{}: no such folder", dir);
  if (!fs::is_directory(path, ec)) return fail("{}: not a folder", dir);

  // Names may carry storage.local_storage.report_file_prefix; learn it from the files.
  static const std::regex kSummary(R"((.*)summary_lifecycle_metrics\.json)");
  static const std::regex kStage(R"((.*)stage_(\d+)_lifecycle_metrics\.json)");
  std::optional<std::string> prefix;
  std::map<std::string, std::map<int, fs::path>> stage_files;  // prefix -> index -> file
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, kSummary)) {
      if (!prefix || m[1].str().size() < prefix->size()) prefix = m[1].str();
    } else if (std::regex_match(name, m, kStage)) {
      try {
        stage_files[m[1].str()][std::stoi(m[2].str())] = entry.path();
      } catch (const std::out_of_range&) {
        // A stage number too large for an int is no report of ours; skip it.
      }
    }
  }
  if (ec) return fail("{}: cannot list: {}", dir, ec.message());
  if (!prefix && !stage_files.empty()) prefix = stage_files.begin()->first;
  if (!prefix) {
    return fail(
        "{}: no summary_lifecycle_metrics.json or stage_N_lifecycle_metrics.json (not a report "
        "folder?)",
        dir);
  }

  ReportFolder r;
  r.path = dir;
  r.prefix = *prefix;
  r.label = path.filename().string();
  if (r.label.empty() || r.label == ".")
    r.label = fs::absolute(path).lexically_normal().parent_path().filename().string();
  if (r.label.empty()) r.label = dir;
  const fs::path summary = path / (*prefix + "summary_lifecycle_metrics.json");
  if (fs::exists(summary, ec)) {
    auto j = read_json(summary);
    if (!j) return fail(j.error());
    r.summary = std::move(*j);
  }
  for (const auto& [index, file] : stage_files[*prefix]) {
    auto j = read_json(file);
    if (!j) return fail(j.error());
    r.stages.push_back(std::move(*j));
    r.stage_indices.push_back(index);
    r.stage_files.push_back(file.string());
  }
  const fs::path meta = path / (*prefix + "kgai_run.json");
  if (fs::exists(meta, ec)) {
    auto j = read_json(meta);
    if (!j) return fail(j.error());
    r.run = std::move(*j);
    if (const json* m = find_path(r.run, {"model"}); m && m->is_string()) r.model = *m;
  }
  if (r.model.empty()) {
    for (const fs::path& config : {path / (*prefix + "config.yaml"), path / "config.yaml"}) {
      if (fs::exists(config, ec)) {
        r.model = model_from_config(config);
        break;
      }
    }
  }
  return r;
}

Result<std::vector<ReportFolder>> load_report_folders(const std::vector<std::string>& dirs) {
  std::vector<ReportFolder> runs;
  for (const auto& dir : dirs) {
    auto r = load_report_folder(dir);
    if (!r) return fail(r.error());
    runs.push_back(std::move(*r));
  }
  // Folders with the same name (run1/out, run2/out) are told apart by their paths.
  std::map<std::string, int> seen;
  for (const auto& r : runs) ++seen[r.label];
  for (auto& r : runs) {
    if (seen[r.label] > 1) r.label = r.path;
  }
  return runs;
}

CompareTable compare_table(const std::vector<ReportFolder>& runs) {
  CompareTable t;
  for (const auto& r : runs) t.columns.push_back(r.label);
  auto row = [&](std::string name, auto value) {
    std::vector<std::string> cells;
    for (const auto& r : runs) {
      const json* s = summary_of(r);
      cells.push_back(s ? value(r, *s) : "-");
    }
    t.rows.emplace_back(std::move(name), std::move(cells));
  };
  auto metric = [&](std::string name, std::initializer_list<const char*> keys, int precision) {
    row(std::move(name), [keys, precision](const ReportFolder&, const json& s) {
      return cell(number_at(s, keys), precision);
    });
  };
  auto latency = [&](std::string name, const char* key, double p) {
    row(std::move(name),
        [key, p](const ReportFolder&, const json& s) { return cell(latency_ms(s, key, p), 1); });
  };
  t.rows.emplace_back("model", std::vector<std::string>{});
  for (const auto& r : runs) t.rows.back().second.push_back(r.model.empty() ? "-" : r.model);
  t.rows.emplace_back("stages", std::vector<std::string>{});
  for (const auto& r : runs) {
    t.rows.back().second.push_back(r.stages.empty() ? "-" : fmt::format("{}", r.stages.size()));
  }
  row("requests", [](const ReportFolder&, const json& s) {
    return count_cell(number_at(s, {"load_summary", "count"}));
  });
  row("successes", [](const ReportFolder&, const json& s) {
    return count_cell(number_at(s, {"successes", "count"}));
  });
  row("errors", [](const ReportFolder&, const json& s) {
    return count_cell(number_at(s, {"failures", "count"}));
  });
  metric("achieved rate (req/s)", {"load_summary", "achieved_rate"}, 2);
  metric("requests/s", {"successes", "throughput", "requests_per_sec"}, 2);
  metric("output tok/s", {"successes", "throughput", "output_tokens_per_sec"}, 1);
  latency("TTFT p50 (ms)", "time_to_first_token", 50);
  latency("TTFT p99 (ms)", "time_to_first_token", 99);
  latency("TPOT p50 (ms)", "time_per_output_token", 50);
  latency("TPOT p99 (ms)", "time_per_output_token", 99);
  latency("ITL p50 (ms)", "inter_token_latency", 50);
  latency("ITL p99 (ms)", "inter_token_latency", 99);
  latency("E2E p50 (ms)", "request_latency", 50);
  latency("E2E p99 (ms)", "request_latency", 99);
  row("schedule delay p99 (ms)", [](const ReportFolder&, const json& s) {
    auto v = number_at(s, {"load_summary", "schedule_delay", "p99"});
    return v ? svg::fixed(*v * 1e3, 1) : "-";
  });
  const bool any_goodput = std::any_of(runs.begin(), runs.end(), [](const ReportFolder& r) {
    const json* s = summary_of(r);
    return s && find_path(*s, {"goodput"});
  });
  if (any_goodput) metric("goodput (req/s)", {"goodput", "requests_per_sec"}, 2);
  return t;
}

std::string format_compare_table(const CompareTable& table) {
  size_t name_width = 0;
  for (const auto& [name, cells] : table.rows) name_width = std::max(name_width, name.size());
  std::vector<size_t> widths;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    size_t w = table.columns[c].size();
    for (const auto& [name, cells] : table.rows) {
      if (c < cells.size()) w = std::max(w, cells[c].size());
    }
    widths.push_back(w);
  }
  std::string out;
  auto line = [&](const std::string& name, const std::vector<std::string>& cells) {
    fmt::format_to(std::back_inserter(out), "{:<{}}", name, name_width);
    for (size_t c = 0; c < widths.size(); ++c) {
      fmt::format_to(std::back_inserter(out), "  {:>{}}", c < cells.size() ? cells[c] : "-",
                     widths[c]);
    }
    out += '\n';
  };
  line("", table.columns);
  size_t total = name_width;
  for (size_t w : widths) total += 2 + w;
  out += std::string(total, '-') + '\n';
  for (const auto& [name, cells] : table.rows) line(name, cells);
  return out;
}

std::string render_compare_html(const std::vector<ReportFolder>& runs) {
  // Tokens/s when every run has it (Inference Perf and kgai both write it); a mixed x axis
  // would overlay incomparable curves.
  bool by_tokens = true;
  for (const auto& r : runs) {
    const json* s = summary_of(r);
    const json* first = r.stages.empty() ? s : &r.stages[0];
    if (!first || !number_at(*first, {"successes", "throughput", "output_tokens_per_sec"})) {
      by_tokens = false;
    }
  }
  const std::string x_label = by_tokens ? "output tokens/s" : "requests/s";

  std::string body = "<h1>kgai perf compare</h1>\n<dl class=\"meta\">\n";
  for (const auto& r : runs) {
    fmt::format_to(std::back_inserter(body), "<dt>{}</dt><dd>{}{}</dd>\n", svg::escape(r.label),
                   svg::escape(r.path),
                   r.model.empty() ? "" : fmt::format(" ({})", svg::escape(r.model)));
  }
  body += "</dl>\n<h2>Latency vs throughput</h2>\n";
  body +=
      "<p class=\"note\">One series per run, one point per stage at its achieved "
      "throughput.</p>\n<div class=\"charts\">\n";
  struct Plot {
    const char* title;
    const char* metric;
    const char* key;
    double p;
  };
  for (const Plot& plot :
       {Plot{"TTFT p50 vs throughput", "TTFT p50", "time_to_first_token", 50},
        Plot{"TTFT p99 vs throughput", "TTFT p99", "time_to_first_token", 99},
        Plot{"NTPOT p50 vs throughput", "NTPOT p50", "normalized_time_per_output_token", 50},
        Plot{"NTPOT p99 vs throughput", "NTPOT p99", "normalized_time_per_output_token", 99}}) {
    svg::Chart chart{
        .title = plot.title, .x_label = x_label, .y_label = fmt::format("{} (ms)", plot.metric)};
    for (const auto& r : runs) {
      chart.series.push_back({.name = r.label, .points = curve(r, plot.key, plot.p, by_tokens)});
    }
    body += svg::render(chart);
  }
  body += "</div>\n<h2>Summary</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th></th>";
  const CompareTable table = compare_table(runs);
  for (const auto& c : table.columns) {
    fmt::format_to(std::back_inserter(body), "<th>{}</th>", svg::escape(c));
  }
  body += "</tr></thead>\n<tbody>\n";
  for (const auto& [name, cells] : table.rows) {
    fmt::format_to(std::back_inserter(body), "<tr><td class=\"l\">{}</td>", svg::escape(name));
    for (const auto& c : cells) {
      fmt::format_to(std::back_inserter(body), "<td>{}</td>", svg::escape(c));
    }
    body += "</tr>\n";
  }
  body += "</tbody>\n</table></div>\n";
  return svg::page("kgai perf compare", body);
}

}  // namespace kgai::perf
