// `kgai perf merge`: the report of one run from the folders of its shards (perf/shard.h).
// Reads every shard's kgai_records.jsonl and recomputes each stage from the union of the
// records, so percentiles are exact (never an average of the shards' percentiles).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "perf/config.h"
#include "perf/runner.h"

namespace kgai::perf {

struct MergedRun {
  RunResult run;      // stages with the whole plans and every shard's records
  PerfConfig config;  // shard 0's config (storage.path left as it was)
};

// Checks that `dirs` are the shards 0..N-1 of one run, each once: same shard count, model,
// seed, stage plans and config (apart from storage), and that the records cover each stage's
// request indices at most once. Server-side metrics come from shard 0, which alone collects
// them. Errors name the folder and what differs or is missing.
Result<MergedRun> merge_shards(const std::vector<std::string>& dirs);

}  // namespace kgai::perf
