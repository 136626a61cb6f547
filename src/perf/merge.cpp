#include "perf/merge.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "perf/records_file.h"
#include "perf/report.h"

namespace kgai::perf {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ShardFolder {
  std::string dir;
  std::string prefix;  // storage.report_file_prefix the shard wrote its files with
  json run;            // kgai_run.json
  PerfConfig config;
  Shard shard;
  std::vector<RequestRecord> records;
};

Result<json> read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("{}: cannot read", path.string());
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("{}: not a JSON object", path.string());
  return j;
}

// The folder's kgai_run.json, with whatever report_file_prefix the shard used.
Result<fs::path> find_run_file(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return fail("{}: not a folder", dir);
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with("kgai_run.json")) found.push_back(entry.path());
  }
  if (ec) return fail("{}: cannot list: {}", dir, ec.message());
  if (found.empty()) return fail("{}: no kgai_run.json: not a kgai perf report folder", dir);
  if (found.size() > 1) return fail("{}: several *kgai_run.json files; one run per folder", dir);
  return found[0];
}

Result<ShardFolder> read_shard(const std::string& dir) {
  ShardFolder f;
  f.dir = dir;
  auto run_file = find_run_file(dir);
  if (!run_file) return fail(run_file.error());
  const std::string name = run_file->filename().string();
  f.prefix = name.substr(0, name.size() - std::string("kgai_run.json").size());
  auto run = read_json(*run_file);
  if (!run) return fail(run.error());
  f.run = std::move(*run);
  const json* shard = f.run.contains("shard") ? &f.run["shard"] : nullptr;
  if (!shard || !shard->is_object() || !(*shard)["index"].is_number_integer() ||
      !(*shard)["count"].is_number_integer()) {
    return fail(
        "{}: not a shard's report (kgai_run.json has no shard); run each generator with "
        "--shard INDEX/COUNT",
        dir);
  }
  f.shard.index = (*shard)["index"].get<int>();
  f.shard.count = (*shard)["count"].get<int>();
  if (f.shard.count < 2 || f.shard.index < 0 || f.shard.index >= f.shard.count) {
    return fail("{}: kgai_run.json: bad shard {}/{}", dir, f.shard.index, f.shard.count);
  }
  if (!f.run["stage_plans"].is_array()) return fail("{}: kgai_run.json has no stage_plans", dir);
  std::vector<std::string> warnings;
  auto config = load_config((fs::path(dir) / (f.prefix + "config.yaml")).string(), warnings);
  if (!config) return fail(config.error());
  f.config = std::move(*config);
  auto records = read_records_file((fs::path(dir) / (f.prefix + kRecordsFile)).string());
  if (!records) return fail(records.error());
  f.records = std::move(*records);
  return f;
}

// What must be equal across the shards of one run: the config without where it was stored.
std::string comparable_config(PerfConfig c) {
  c.storage = StorageConfig{};
  return to_yaml(c);
}

Result<StagePlan> plan_from_json(const json& j, const std::string& dir) {
  StagePlan p;
  try {
    p.index = j.at("index").get<int>();
    p.rate = j.at("rate").get<double>();
    p.duration = j.at("duration").get<double>();
    p.concurrency = j.at("concurrency").get<int>();
    p.num_requests = j.at("num_requests").get<int64_t>();
  } catch (const json::exception& e) {
    return fail("{}: kgai_run.json: bad stage_plans entry: {}", dir, e.what());
  }
  return p;
}

}  // namespace

Result<MergedRun> merge_shards(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return fail("merge: no folders given");
  std::vector<ShardFolder> shards;
  for (const auto& dir : dirs) {
    auto shard = read_shard(dir);
    if (!shard) return fail(shard.error());
    shards.push_back(std::move(*shard));
  }
  std::sort(shards.begin(), shards.end(), [](const ShardFolder& a, const ShardFolder& b) {
    return a.shard.index < b.shard.index;
  });
  const ShardFolder& first = shards.front();
  const int count = first.shard.count;
  std::vector<std::string> by_index(static_cast<size_t>(count));
  for (const auto& s : shards) {
    if (s.shard.count != count) {
      return fail("merge: {} is shard {}/{} but {} is shard {}/{}: not the same run", s.dir,
                  s.shard.index, s.shard.count, first.dir, first.shard.index, count);
    }
    auto& seen = by_index[static_cast<size_t>(s.shard.index)];
    if (!seen.empty()) {
      return fail("merge: {} and {} are both shard {}/{}", seen, s.dir, s.shard.index, count);
    }
    seen = s.dir;
  }
  for (int i = 0; i < count; ++i) {
    if (by_index[static_cast<size_t>(i)].empty()) {
      return fail("merge: shard {}/{} is missing; give all {} shards' folders", i, count, count);
    }
  }
  const std::string config_text = comparable_config(first.config);
  for (const auto& s : shards) {
    for (const char* key : {"model", "seed", "stage_plans", "start_at"}) {
      if (s.run.value(key, json()) != first.run.value(key, json())) {
        return fail("merge: {} and {} differ in kgai_run.json's {}: not shards of one run",
                    first.dir, s.dir, key);
      }
    }
    if (comparable_config(s.config) != config_text) {
      return fail("merge: {} and {} have different config.yaml: not shards of one run", first.dir,
                  s.dir);
    }
  }

  MergedRun merged;
  merged.config = first.config;
  RunResult& run = merged.run;
  run.model = first.run.value("model", "");
  run.base_url = first.run.value("base_url", "");
  run.start_at = first.run.value("start_at", 0.0);
  std::map<int, size_t> stage_at;  // stage index -> position in run.stages
  for (const auto& plan_json : first.run["stage_plans"]) {
    auto plan = plan_from_json(plan_json, first.dir);
    if (!plan) return fail(plan.error());
    StageResult stage;
    stage.plan = *plan;
    stage.whole = *plan;
    stage.samples.requested_rate = plan->rate;
    stage.samples.planned_duration = plan->duration;
    stage.start = -1;
    stage_at[plan->index] = run.stages.size();
    run.stages.push_back(std::move(stage));
  }

  json machines = json::array();
  for (auto& s : shards) {
    machines.push_back(s.run.value("machine", json()));
    run.wall_seconds = std::max(run.wall_seconds, s.run.value("wall_seconds", 0.0));
    for (auto& r : s.records) {
      auto at = stage_at.find(r.stage);
      if (at == stage_at.end()) {
        return fail("merge: {}: a record of stage {}, which the run did not plan", s.dir, r.stage);
      }
      if (!s.shard.owns(r.index)) {
        return fail("merge: {}: request {} of stage {} does not belong to shard {}/{}", s.dir,
                    r.index, r.stage, s.shard.index, count);
      }
      run.stages[at->second].records.push_back(std::move(r));
    }
    s.records.clear();
    // Stage times of each shard, from its stage files when present (the start a shard kept).
    for (auto& stage : run.stages) {
      const fs::path file = fs::path(s.dir) / fmt::format("{}stage_{}_lifecycle_metrics.json",
                                                          s.prefix, stage.plan.index);
      std::error_code ec;
      if (!fs::exists(file, ec)) continue;
      auto j = read_json(file);
      if (!j) return fail(j.error());
      const json times = j->value("stage", json::object());
      const double start = times.value("start", -1.0);
      const double end = times.value("end", -1.0);
      if (start >= 0) stage.start = stage.start < 0 ? start : std::min(stage.start, start);
      stage.end = std::max(stage.end, end);
    }
  }
  for (auto& stage : run.stages) {
    std::sort(stage.records.begin(), stage.records.end(),
              [](const RequestRecord& a, const RequestRecord& b) { return a.index < b.index; });
    for (size_t k = 1; k < stage.records.size(); ++k) {
      if (stage.records[k].index == stage.records[k - 1].index) {
        return fail("merge: request {} of stage {} appears twice", stage.records[k].index,
                    stage.plan.index);
      }
    }
    if (stage.start < 0) stage.start = 0;
    for (const auto& r : stage.records) {
      stage.samples.add(r, merged.config.report.goodput);
      stage.end = std::max(stage.end, r.end);
    }
    run.summary.merge(stage.samples);
  }

  // Shard 0 alone collected server-side metrics.
  const fs::path dir0(first.dir);
  auto optional_json = [&](const std::string& name) -> Result<json> {
    std::error_code ec;
    const fs::path file = dir0 / (first.prefix + name);
    if (!fs::exists(file, ec)) return json();
    return read_json(file);
  };
  auto summary_metrics = optional_json("summary_prometheus_metrics.json");
  if (!summary_metrics) return fail(summary_metrics.error());
  run.server_metrics = std::move(*summary_metrics);
  for (auto& stage : run.stages) {
    auto m = optional_json(fmt::format("stage_{}_prometheus_metrics.json", stage.plan.index));
    if (!m) return fail(m.error());
    stage.server_metrics = std::move(*m);
  }

  json folders = json::array();
  for (const auto& s : shards) folders.push_back(s.dir);
  run.run_info = {{"merged", {{"shards", count}, {"folders", folders}, {"machines", machines}}}};
  return merged;
}

}  // namespace kgai::perf
