// report.html: one self-contained page per run (inline CSS and SVG, no scripts, nothing
// fetched from the network), so a report can be mailed, archived or opened offline.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "perf/config.h"
#include "perf/runner.h"

namespace kgai::perf {

// The page: header (model, URL, date, seed, `machine` as machine_json() writes it, the config
// as YAML), latency-vs-throughput curves over the stages (TTFT and NTPOT p50/p90/p99), TTFT and
// E2E CDFs, throughput and in-flight requests over time with stage boundaries, and a table
// with a row per stage. Every text from the run or config is HTML-escaped.
std::string render_html_report(const RunResult& run, const PerfConfig& config,
                               const nlohmann::json& machine);

}  // namespace kgai::perf
