// The report of `kgai demo`: summary.json (machine-readable, times in seconds), index.html
// (self-contained: inline SVG charts, no scripts, no network) and the console table.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "demo/demo_result.h"

namespace kgai::demo {

// The whole result as summary.json's schema. Times stay in seconds; non-finite numbers
// become null so the file is valid JSON for every reader.
nlohmann::json summary_json(const DemoResult& result);

// index.html: summary, host-check warning, headline, the policy x rate table and the charts.
// Every string from `result` is escaped.
std::string render_demo_html(const DemoResult& result);

// Writes dir/summary.json and dir/index.html, creating `dir` if needed. The error names the
// directory or file that could not be written.
Result<void> write_demo_report(const DemoResult& result, const std::string& dir);

// The console table (policy x rate, same columns as the HTML table, milliseconds) followed by
// the headline line.
std::string format_demo_table(const DemoResult& result);

// The headline as one line, e.g. "kgai vs round-robin at 12 req/s: TTFT p90 4.1x lower,
// output tokens/s 1.35x", or why there is none.
std::string headline_text(const DemoResult& result);

// One comparison as a line: "kgai vs nginx at 45 req/s: TTFT p90 4.1x lower, output
// tokens/s 1.35x".
std::string comparison_text(const DemoResult::Headline& comparison);

}  // namespace kgai::demo
