// Which requests the advice is for: one of GIQ's use cases (its average lengths), lengths given
// as distributions, or the lengths of a dataset file (ShareGPT's shape, as `kgai perf` reads
// it). Without any of them: GIQ's first use case, Chatbot (ShareGPT).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "quickstart/profile.h"
#include "sim/workload.h"

namespace kgai::quickstart {

struct WorkloadChoice {
  std::string use_case;      // GIQ name or id
  std::string input_length;  // sim::LengthDistribution text; with output_length
  std::string output_length;
  std::string dataset;  // a ShareGPT JSON file
  uint64_t seed = 0;
};

struct ResolvedWorkload {
  sim::WorkloadSpec spec;  // lengths and seed
  WorkloadShape shape;     // what the output says about it
};

// Errors: more than one source, one length without the other, unknown use case (with a
// suggestion), malformed distribution, unreadable or empty dataset.
Result<ResolvedWorkload> resolve_workload(const WorkloadChoice& choice);

}  // namespace kgai::quickstart
