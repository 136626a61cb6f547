// `kgai perf compare`: report folders side by side, as a console table and an HTML page with
// the latency-vs-throughput curves of every run overlaid. Reads only the report files, so
// folders written by Inference Perf itself compare as well as kgai's own.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace kgai::perf {

struct ReportFolder {
  std::string path;
  std::string label;                     // the folder's name (the path if names repeat)
  nlohmann::json summary;                // summary_lifecycle_metrics.json; null if absent
  std::vector<nlohmann::json> stages;    // stage_N_lifecycle_metrics.json, by N
  std::vector<int> stage_indices;        // N of each stage file
  std::vector<std::string> stage_files;  // the path of each, for error messages
  std::string prefix;                    // storage.local_storage.report_file_prefix of the files
  nlohmann::json run;                    // kgai_run.json; null if absent (Inference Perf)
  std::string model;                     // kgai_run.json's model, else config.yaml's; "" unknown
};

// Reads one folder. Needs summary_lifecycle_metrics.json or at least one stage file (with
// the folder's report_file_prefix, if any); kgai_run.json and config.yaml are optional.
// Errors name the folder or the file: a missing folder, no lifecycle files, malformed JSON.
Result<ReportFolder> load_report_folder(const std::string& dir);

// Reads every folder (the first error stops) and makes the labels unique.
Result<std::vector<ReportFolder>> load_report_folders(const std::vector<std::string>& dirs);

// Rows of metrics (requests/s, output tok/s, TTFT/TPOT/ITL/E2E p50 and p99, errors, ...),
// one column per folder; "-" where a folder lacks the value. Latencies in ms.
struct CompareTable {
  std::vector<std::string> columns;  // labels
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
};
CompareTable compare_table(const std::vector<ReportFolder>& runs);

// The table as aligned plain text.
std::string format_compare_table(const CompareTable& table);

// A self-contained HTML page: the table and TTFT / NTPOT p50 and p99 against output tokens/s,
// one series per run, one point per stage.
std::string render_compare_html(const std::vector<ReportFolder>& runs);

}  // namespace kgai::perf
