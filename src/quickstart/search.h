// The quickstart search: every model x accelerator x accelerator count x server settings asked
// for, cut by memory first (vLLM's startup arithmetic), then run in virtual time on the very
// engine `kgai sim` serves with, priced, and reduced to one Profile per model, accelerator and
// count (the settings that gave the lowest cost per output token).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"
#include "quickstart/prices.h"
#include "quickstart/profile.h"
#include "sim/workload.h"

namespace kgai::quickstart {

struct SearchRequest {
  // Catalog names or aliases; empty means every one in the catalog.
  std::vector<std::string> models;
  std::vector<std::string> accelerators;
  // Lengths (and seed) of the requests; rate and concurrency are the search's to set.
  sim::WorkloadSpec workload;
  WorkloadShape shape;
  Targets targets;
  std::optional<double> max_cost_per_million_input;
  std::optional<double> max_cost_per_million_output;
  std::string pricing_model = "on-demand";
  std::string cloud = std::string(kDefaultCloud);
  double cost_ratio = kDefaultCostRatio;
  // Requests/s to serve: each profile then says how many replicas and their monthly cost.
  std::optional<double> rate;
  std::vector<int> tensor_parallel = {1, 2, 4, 8};
  // Server settings to try; empty means the grid around vLLM's defaults for the accelerator
  // (the default and a quarter of it, for each of max-num-seqs and max-num-batched-tokens).
  std::vector<int> max_num_seqs;
  std::vector<int> max_num_batched_tokens;
  double gpu_memory_utilization = 0.9;
  // Requests per simulated load level; 0 sizes it from the output length (about 60,000 output
  // tokens a run, 200 to 2,000 requests).
  int64_t requests_per_run = 0;
  // Every settings combination gets its own row instead of the cheapest per count.
  bool all_settings = false;
  // Called after each model x accelerator with (done, total); may be empty.
  std::function<void(int, int)> progress;
};

// A setup left out, and why: it does not fit, has no price, misses a target even idle (then
// `best` holds what it achieves), or costs more than the cost target.
struct SkippedSetup {
  std::string model;
  std::string accelerator;
  int accelerator_count = 0;
  std::string why;
  std::optional<OperatingPoint> best;
};

struct SearchResult {
  std::vector<Profile> profiles;  // by cost per million output tokens, cheapest first
  std::vector<SkippedSetup> skipped;
  int setups = 0;       // model x accelerator x count x settings combinations considered
  int simulations = 0;  // virtual-time runs
  double wall_seconds = 0;
};

// Errors: an unknown model or accelerator (listing what exists), bad targets, a named
// accelerator without a price for the pricing model and cloud.
Result<SearchResult> search_profiles(const catalog::Catalog& catalog, const PriceBook& prices,
                                     const SearchRequest& request);

// Requests per load level for a workload (see SearchRequest::requests_per_run).
int64_t default_requests_per_run(double mean_output_tokens);

}  // namespace kgai::quickstart
