// `benchmarks list`: a setup's whole latency/throughput curve, as GIQ's FetchBenchmarkingData
// gives it, computed instead of looked up: a closed loop with every batch slot busy gives the
// capacity, then open-loop (Poisson) stages at 1/N ... N/N of it, like an Inference Perf
// linear sweep.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "common/result.h"
#include "quickstart/output.h"
#include "quickstart/prices.h"
#include "quickstart/profile.h"
#include "quickstart/search.h"

namespace kgai::quickstart {

struct BenchmarkCurve {
  Profile saturation;           // the closed loop with every batch slot busy
  std::vector<Profile> stages;  // by rising rate; point.kept_up < 1 past capacity
};

struct CurveResult {
  std::vector<BenchmarkCurve> curves;
  std::vector<SkippedSetup> skipped;
  int simulations = 0;
  double wall_seconds = 0;
};

// One curve per model x accelerator x count that fits, with vLLM's default settings (or the
// settings asked: each combination its own curve). `stages` from 2 to 50.
Result<CurveResult> benchmark_curves(const catalog::Catalog& catalog, const PriceBook& prices,
                                     const SearchRequest& request, int stages);

// {"benchmarks": [{model, accelerator, accelerator_count, instance_type, settings,
// saturation, stages: [{stage, requested_rate, kept_up, requests_per_second, ...,
// ttft_ms: {mean, p50, p90, p99}, ...}]}], "skipped": [...]}.
nlohmann::ordered_json curves_json(const CurveResult& result);
// One row per stage (CSV and table).
Table curves_table(const nlohmann::ordered_json& benchmarks);

}  // namespace kgai::quickstart
