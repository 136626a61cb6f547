#include "quickstart/measured_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <numeric>
#include <random>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "common/json_path.h"
#include "perf/compare.h"

namespace kgai::quickstart {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Length samples per stage: enough to follow the reported percentiles closely, few enough
// that building them costs nothing.
constexpr int kLengthSamples = 1000;

std::string key_path(std::initializer_list<const char*> keys) {
  std::string out;
  for (const char* k : keys) {
    if (!out.empty()) out += '.';
    out += k;
  }
  return out;
}

std::string describe(const json& v) {
  std::string text = v.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// A number at `keys`: absent (nullopt) when a step is missing or null, an error when the value
// is there but not a number.
Result<std::optional<double>> optional_number(const json& j, const std::string& file,
                                              std::initializer_list<const char*> keys) {
  const json* v = find_path(j, keys);
  if (!v || v->is_null()) return std::optional<double>{};
  if (!v->is_number()) {
    return fail("{}: {}: expected a number, got {}", file, key_path(keys), describe(*v));
  }
  return std::optional<double>{v->get<double>()};
}

// A latency median (Inference Perf names it "median"; "p50" is accepted too).
Result<std::optional<double>> median(const json& stage, const std::string& file,
                                     const char* metric) {
  auto m = optional_number(stage, file, {"successes", "latency", metric, "median"});
  if (!m || *m) return m;
  return optional_number(stage, file, {"successes", "latency", metric, "p50"});
}

// "p99.9" -> 99.9, "median" -> 50, "min" -> 0, "max" -> 100; nullopt for other keys.
std::optional<double> percentile_of(const std::string& key) {
  if (key == "min") return 0.0;
  if (key == "max") return 100.0;
  if (key == "median") return 50.0;
  if (key.size() < 2 || key[0] != 'p') return std::nullopt;
  try {
    size_t used = 0;
    double p = std::stod(key.substr(1), &used);
    if (used != key.size() - 1 || p < 0 || p > 100) return std::nullopt;
    return p;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

struct SharedPrefix {
  int groups = 0;
  int len = 0;
};

// config.yaml is informative: it tells whether prompts shared a system prompt (which the
// prefix cache turns into shorter prefills). Unreadable or absent, the prompts are taken as
// unshared.
SharedPrefix shared_prefix_from_config(const perf::ReportFolder& folder,
                                       std::vector<std::string>& warnings) {
  std::error_code ec;
  for (const fs::path& config : {fs::path(folder.path) / (folder.prefix + "config.yaml"),
                                 fs::path(folder.path) / "config.yaml"}) {
    if (!fs::exists(config, ec)) continue;
    try {
      YAML::Node root = YAML::LoadFile(config.string());
      YAML::Node data = root["data"];
      if (!data || !data.IsMap() || !data["type"] ||
          data["type"].as<std::string>() != "shared_prefix")
        return {};
      YAML::Node sp = data["shared_prefix"];
      if (!sp || !sp.IsMap()) return {};
      SharedPrefix out;
      for (const char* key : {"num_groups", "num_unique_system_prompts"}) {
        if (sp[key]) out.groups = sp[key].as<int>();
      }
      if (sp["system_prompt_len"]) out.len = sp["system_prompt_len"].as<int>();
      if (out.groups > 0 && out.len > 0) return out;
      return {};
    } catch (const YAML::Exception& e) {
      warnings.push_back(
          fmt::format("{}: unreadable ({}); prompts taken as unshared", config.string(), e.what()));
      return {};
    }
  }
  return {};
}

// The load a stage offered, from the best source there is: kgai_run.json's stage plan, the
// stage file's own "stage" block (kgai perf), load_summary (both tools), else the achieved
// rate.
Result<void> read_load(const json& stage, const json* plan, MeasuredStage& out,
                       std::vector<std::string>& warnings) {
  auto take = [&](const json& j, const char* rate_key, const char* concurrency_key) {
    const json* rate = find_path(j, {rate_key});
    const json* concurrency = find_path(j, {concurrency_key});
    if (concurrency && concurrency->is_number() && concurrency->get<double>() >= 1) {
      out.concurrency = static_cast<int>(concurrency->get<double>());
      return true;
    }
    if (rate && rate->is_number() && rate->get<double>() > 0) {
      out.rate = rate->get<double>();
      return true;
    }
    return false;
  };
  if (plan && take(*plan, "rate", "concurrency")) return {};
  if (const json* s = find_path(stage, {"stage"}); s && take(*s, "rate", "concurrency")) return {};
  if (const json* s = find_path(stage, {"load_summary"});
      s && take(*s, "requested_rate", "concurrency"))
    return {};
  auto achieved = optional_number(stage, out.file, {"load_summary", "achieved_rate"});
  if (!achieved) return fail(achieved.error());
  if (*achieved && **achieved > 0) {
    out.rate = **achieved;
    warnings.push_back(fmt::format(
        "{}: no requested rate or concurrency; replaying it as Poisson arrivals at the achieved "
        "rate, {:.3g} requests/s",
        out.file, out.rate));
    return {};
  }
  return fail(
      "{}: cannot tell the stage's load: no stage plan in kgai_run.json and no "
      "load_summary.requested_rate, load_summary.concurrency or load_summary.achieved_rate",
      out.file);
}

Result<std::vector<int>> stage_lengths(const json& stage, const std::string& file,
                                       const char* key) {
  const json* d = find_path(stage, {"successes", key});
  if (!d || !d->is_object()) {
    return fail("{}: successes.{}: expected a distribution {{mean, min, ..., max}}, got {}", file,
                key, d ? describe(*d) : "nothing");
  }
  auto lengths = lengths_from_distribution(*d, kLengthSamples);
  if (!lengths) return fail("{}: successes.{}: {}", file, key, lengths.error().message);
  return lengths;
}

}  // namespace

Result<std::vector<int>> lengths_from_distribution(const json& distribution, int count) {
  if (!distribution.is_object()) return fail("expected a distribution object");
  std::map<double, double> points;  // percentile -> value
  for (auto it = distribution.begin(); it != distribution.end(); ++it) {
    auto p = percentile_of(it.key());
    if (!p || it.value().is_null()) continue;
    if (!it.value().is_number()) {
      return fail("{}: expected a number, got {}", it.key(), describe(it.value()));
    }
    points[*p] = it.value().get<double>();
  }
  if (points.empty()) {
    const json* mean = find_path(distribution, {"mean"});
    if (!mean || !mean->is_number()) return fail("no percentiles and no mean");
    points[50] = mean->get<double>();
  }
  // Percentiles of a real distribution never decrease; rounding in a report might.
  double floor = 0;
  for (auto& [p, v] : points) v = floor = std::max(floor, v);
  std::vector<std::pair<double, double>> curve(points.begin(), points.end());
  std::vector<int> out;
  out.reserve(count);
  for (int k = 0; k < count; ++k) {
    const double q = 100.0 * (k + 0.5) / count;
    double v = curve.front().second;
    if (q >= curve.back().first) {
      v = curve.back().second;
    } else if (q > curve.front().first) {
      auto hi = std::upper_bound(curve.begin(), curve.end(), q,
                                 [](double x, const auto& pt) { return x < pt.first; });
      auto lo = std::prev(hi);
      const double t = (q - lo->first) / (hi->first - lo->first);
      v = lo->second + t * (hi->second - lo->second);
    }
    out.push_back(std::max(1, static_cast<int>(std::lround(v))));
  }
  return out;
}

Result<MeasuredRun> read_measured_run(const std::string& dir, const ReadOptions& options) {
  if (!(options.time_scale > 0)) return fail("--time-scale must be positive");
  auto folder = perf::load_report_folder(dir);
  if (!folder) return fail(folder.error());
  if (folder->stages.empty()) {
    return fail(
        "{}: no stage_N_lifecycle_metrics.json: calibration replays each stage (kgai perf "
        "writes them by default; Inference Perf with report.request_lifecycle.per_stage: true)",
        dir);
  }
  MeasuredRun run;
  run.dir = dir;
  run.source = folder->run.is_null() ? "Inference Perf" : "kgai perf";
  run.model = folder->model;
  const SharedPrefix shared = shared_prefix_from_config(*folder, run.warnings);
  run.shared_prefix_groups = shared.groups;
  run.shared_prefix_len = shared.len;

  std::map<int, const json*> plans;
  if (const json* p = find_path(folder->run, {"stage_plans"}); p && p->is_array()) {
    for (const json& plan : *p) {
      if (const json* i = find_path(plan, {"index"}); i && i->is_number_integer()) {
        plans[i->get<int>()] = &plan;
      }
    }
  }

  const double scale = options.time_scale;
  for (size_t i = 0; i < folder->stages.size(); ++i) {
    const json& stage = folder->stages[i];
    MeasuredStage s;
    s.index = folder->stage_indices[i];
    s.file = folder->stage_files[i];
    auto successes = optional_number(stage, s.file, {"successes", "count"});
    if (!successes) return fail(successes.error());
    if (!*successes) return fail("{}: successes.count: missing", s.file);
    s.successes = static_cast<uint64_t>(std::max(0.0, **successes));
    if (s.successes == 0) {
      run.warnings.push_back(
          fmt::format("stage {} ({}): no successful requests; skipped", s.index, s.file));
      continue;
    }
    auto count = optional_number(stage, s.file, {"load_summary", "count"});
    if (!count) return fail(count.error());
    s.requests = static_cast<int64_t>(*count ? **count : static_cast<double>(s.successes));

    auto plan = plans.find(s.index);
    if (auto load = read_load(stage, plan == plans.end() ? nullptr : plan->second, s, run.warnings);
        !load) {
      return fail(load.error());
    }
    s.rate /= scale;

    auto prompts = stage_lengths(stage, s.file, "prompt_len");
    if (!prompts) return fail(prompts.error());
    auto outputs = stage_lengths(stage, s.file, "output_len");
    if (!outputs) return fail(outputs.error());
    // The report keeps no (prompt, output) pairs: pair the quantiles in a fixed shuffled order
    // so the two are independent, and the same on every read.
    std::vector<size_t> order(outputs->size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937_64 rng(0x6b676169 + static_cast<uint64_t>(s.index));
    std::shuffle(order.begin(), order.end(), rng);
    auto lengths = std::make_shared<std::vector<sim::LengthSample>>();
    double prompt_sum = 0;
    double output_sum = 0;
    for (size_t k = 0; k < prompts->size(); ++k) {
      const int prompt = std::max(1, (*prompts)[k] - run.shared_prefix_len);
      const int output = (*outputs)[order[k]];
      lengths->push_back({prompt, output});
      prompt_sum += prompt;
      output_sum += output;
    }
    s.mean_prompt = prompt_sum / lengths->size() + run.shared_prefix_len;
    s.mean_output = output_sum / lengths->size();
    s.lengths = std::move(lengths);

    auto ttft = median(stage, s.file, "time_to_first_token");
    if (!ttft) return fail(ttft.error());
    auto tpot = median(stage, s.file, "time_per_output_token");
    if (!tpot) return fail(tpot.error());
    auto throughput =
        optional_number(stage, s.file, {"successes", "throughput", "output_tokens_per_sec"});
    if (!throughput) return fail(throughput.error());
    // A zero latency is what an unstreamed run reports for TTFT in some tools: not a measure.
    if (*ttft && **ttft > 0) s.ttft_median = **ttft * scale;
    if (*tpot && **tpot > 0) s.tpot_median = **tpot * scale;
    if (*throughput && **throughput > 0) s.output_tokens_per_sec = **throughput / scale;
    if (!s.ttft_median && !s.tpot_median && !s.output_tokens_per_sec) {
      run.warnings.push_back(
          fmt::format("stage {} ({}): no TTFT, TPOT or output throughput to compare; skipped",
                      s.index, s.file));
      continue;
    }
    run.stages.push_back(std::move(s));
  }
  if (run.stages.empty()) {
    return fail("{}: no stage with successful requests and measured latencies to calibrate from",
                dir);
  }
  if (std::none_of(run.stages.begin(), run.stages.end(),
                   [](const MeasuredStage& s) { return s.ttft_median.has_value(); })) {
    run.warnings.push_back(
        "no stage has TTFT or TPOT (the run was not streamed?): only throughput can be fitted");
  }
  return run;
}

}  // namespace kgai::quickstart
