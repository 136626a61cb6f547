// Every request of a run, one JSON object per line (JSON Lines), exactly: times are written
// in their shortest round-trip form, so reading the file back gives the very records the run
// measured. Shards write it (kgai_records.jsonl) so `kgai perf merge` can recompute exact
// percentiles over the union; users can load it with any JSON Lines reader.
//
// A line has the keys of per_request_lifecycle_metrics.json: stage, index, scheduled,
// start_time, end_time, first_token_time (null: none), prompt_tokens, output_tokens,
// cached_tokens, usage_reported, success, and when present token_times (seconds after
// start_time), lora, error {kind, http_status, message}.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "perf/record.h"

namespace kgai::perf {

// One record as its line (no newline).
std::string record_line(const RequestRecord& r);

// Parses one line. Errors say which key is missing or has the wrong type.
Result<RequestRecord> parse_record_line(std::string_view line);

// Writes `records` to `path`, replacing it.
Result<void> write_records_file(const std::string& path,
                                const std::vector<const RequestRecord*>& records);

// Reads a whole file; errors name the file and the line. Blank lines are skipped.
Result<std::vector<RequestRecord>> read_records_file(const std::string& path);

}  // namespace kgai::perf
