// `kgai quickstart report`: one self-contained HTML page (inline SVG, no scripts, nothing
// fetched) with the setups' latency/throughput curves, the Pareto front of cost against
// latency over every profile, and the profiles table.
#pragma once

#include <string>

#include "quickstart/benchmark_curve.h"
#include "quickstart/search.h"

namespace kgai::quickstart {

struct ReportInput {
  const SearchRequest* request = nullptr;
  const SearchResult* profiles = nullptr;
  const CurveResult* curves = nullptr;  // of the cheapest profiles' setups
  std::string generated_on;
};

std::string render_report(const ReportInput& input);

// The profiles on the Pareto front of (cost per million output tokens, NTPOT at the request's
// percentile): none cheaper is also faster. Indexes into profiles, by rising cost.
std::vector<size_t> pareto_front(const std::vector<Profile>& profiles);

}  // namespace kgai::quickstart
