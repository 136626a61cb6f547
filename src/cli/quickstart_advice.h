// The flags `kgai quickstart profiles list`, `benchmarks list` and `manifests create` share
// (what to search, for which requests, under which targets and prices), and their resolution
// into a catalog, a price book and a search request. GIQ's flag names are accepted next to
// kgai's shorter ones, so commands written for `gcloud container ai profiles` carry over.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"
#include "quickstart/prices.h"
#include "quickstart/search.h"

namespace CLI {
class App;
}

namespace kgai::cli {

struct AdviceFlags {
  std::vector<std::string> models;
  std::vector<std::string> accelerators;
  std::string model_server = "vllm";
  std::string use_case;
  std::string input_length;
  std::string output_length;
  std::string dataset;
  std::optional<double> target_ttft_ms;
  std::optional<double> target_ntpot_ms;
  std::optional<double> target_itl_ms;
  int percentile = 50;
  std::optional<double> target_cost_input;
  std::optional<double> target_cost_output;
  std::string pricing_model = "on-demand";
  std::string cloud = "gcp";
  double cost_ratio = 4;
  std::optional<double> rate;
  std::vector<int> tensor_parallel;
  std::vector<int> max_num_seqs;
  std::vector<int> max_num_batched_tokens;
  double gpu_memory_utilization = 0.9;
  int64_t requests_per_run = 0;
  uint64_t seed = 0;
  std::vector<std::string> catalog_files;
  std::vector<std::string> price_files;
  bool quiet = false;
};

// `with_cost_targets`: profiles list filters on cost; the others do not need those flags.
void add_advice_options(CLI::App& command, AdviceFlags& flags, bool with_cost_targets);

struct Advice {
  catalog::Catalog catalog;
  quickstart::PriceBook prices;
  quickstart::SearchRequest request;
};

Result<Advice> resolve_advice(const AdviceFlags& flags);

}  // namespace kgai::cli
