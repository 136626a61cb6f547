// Report files in Inference Perf's layout, so existing tooling reads them, and the console
// summary printed at the end of a run.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"
#include "perf/config.h"
#include "perf/runner.h"

namespace kgai::perf {

// storage.local_storage.path with "{timestamp}" replaced (YYYYMMDD-HHMMSS, local time).
std::string resolve_output_dir(const std::string& pattern);

// The machine the benchmark ran on: {hostname, cpus, cpu_model}, as kgai_run.json and the HTML
// report record it (a client-bound run is only comparable on the same client machine).
nlohmann::json machine_json();

// The records of a shard's run (perf/records_file.h), which `kgai perf merge` reads.
inline constexpr const char* kRecordsFile = "kgai_records.jsonl";

// {index, rate, duration, concurrency, num_requests} of a stage, as kgai_run.json's
// stage_plans lists them (the whole stage, over all shards).
nlohmann::json stage_plan_json(const StagePlan& plan);

// Writes into `dir` (created if needed): summary_lifecycle_metrics.json,
// stage_N_lifecycle_metrics.json, per_request_lifecycle_metrics.json (when asked),
// summary_prometheus_metrics.json and stage_N_prometheus_metrics.json (server-side metrics,
// perf/server_metrics.h, when asked and collected), config.yaml, kgai_run.json (machine, model,
// seed, wall time, stage plans, shard) and report.html (render_html_report); a shard also
// writes kgai_records.jsonl. File names get
// storage.local_storage.report_file_prefix in front.
Result<void> write_reports(const RunResult& run, const PerfConfig& config, const std::string& dir);

// A table like `vllm bench serve` prints, one block per stage and one for the whole run.
std::string console_summary(const RunResult& run, const PerfConfig& config);

}  // namespace kgai::perf
