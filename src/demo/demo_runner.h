// `kgai demo`: a simulated GPU pool, one router per routing policy in front of it, and the same
// seeded workload through each at rising rates; the result feeds demo_report.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "demo/demo_result.h"

namespace kgai::demo {

struct DemoOptions {
  std::string out_dir = "kgai-demo";
  bool quick = false;  // two short stages, three policies: a minute, for CI
  int replicas = 4;
  std::string model = "llama-3.1-8b";
  std::string accelerator = "h100";
  std::string workload = "shared_prefix";  // shared_prefix | sharegpt | mixed
  std::vector<std::string> policies;       // empty: the default list (see known_policies)
  uint64_t seed = 1;
  // Overrides of the plan (0 / empty: the defaults for the workload and --quick).
  std::vector<double> rates;
  double stage_seconds = 0;
  double time_scale = 0;
  std::string kgai_binary;   // the kgai executable the children run
  std::string command_line;  // for the report
};

// The policies a run uses: the given ones checked, or the default list.
Result<std::vector<std::string>> resolve_policies(const DemoOptions& options);

// Runs the demo. `progress` gets one line per step; `stop` (Ctrl-C) ends it early with an
// error after stopping every process it started.
Result<DemoResult> run_demo(const DemoOptions& options,
                            const std::function<void(const std::string&)>& progress,
                            const std::atomic<bool>& stop);

}  // namespace kgai::demo
