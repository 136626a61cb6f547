// Virtual time: the engine against a generated workload on a discrete-event clock, as fast
// as the CPU allows. The summary uses Inference Perf's stage layout so the same tooling
// reads simulated and measured runs.
#pragma once

#include <functional>

#include <nlohmann/json_fwd.hpp>

#include "catalog/latency_model.h"
#include "common/result.h"
#include "sim/engine.h"
#include "sim/workload.h"

namespace kgai::sim {

struct OfflineOptions {
  EngineConfig engine;
  WorkloadSpec workload;
  // Called about once per simulated second of progress with (simulated seconds, finished
  // requests); may be empty.
  std::function<void(double, uint64_t)> progress;
};

// Runs the workload to completion (every generated request finishes) and returns the summary.
Result<nlohmann::json> run_offline(const OfflineOptions& options,
                                   const catalog::LatencyModel& latency);

}  // namespace kgai::sim
