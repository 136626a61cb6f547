// The setups a quickstart command walks: models x accelerators (each with its price) x
// accelerator counts x server settings, and what one of them becomes: an engine setup (or why
// it cannot run) and, once measured, a priced Profile. Shared by the profile search and the
// benchmark curves so the two cannot disagree on a setup.
#pragma once

#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"
#include "quickstart/prices.h"
#include "quickstart/profile.h"
#include "quickstart/search.h"
#include "sim/setup.h"

namespace kgai::quickstart {

struct SetupPair {
  const catalog::ModelSpec* model = nullptr;
  const catalog::AcceleratorSpec* accelerator = nullptr;
  const Price* price = nullptr;  // null: `no_price` says why
  std::string no_price;
};

struct SetupSpace {
  std::string pricing_model;
  std::vector<SetupPair> pairs;
  // The longest request (shared prefix + prompt + output) and the mean one, in tokens.
  int64_t longest_request = 0;
  double mean_request = 0;
  // Requests per simulated load level (the request's, or default_requests_per_run()).
  int64_t requests_per_run = 0;
};

// Checks the request and resolves names and prices. Errors: bad targets or flags, unknown
// names, a named accelerator without a price.
Result<SetupSpace> resolve_space(const catalog::Catalog& catalog, const PriceBook& prices,
                                 const SearchRequest& request);

// The settings values to try: those asked, or vLLM's default (and, with `grid`, a quarter of it
// but not below `floor`).
std::vector<int> settings_values(const std::vector<int>& asked, int vllm_default, int floor,
                                 bool grid);

// The engine for one count and settings; the error says why the setup cannot run (memory,
// context window, heads not divisible by the count).
Result<sim::Setup> make_candidate(const catalog::Catalog& catalog, const SearchRequest& request,
                                  const SetupSpace& space, const SetupPair& pair, int tp,
                                  int max_num_seqs, int max_num_batched_tokens);

// Clients that fill the engine: max-num-seqs, or fewer when the KV cache holds fewer requests
// of the mean length.
int saturation_clients(const sim::Setup& setup, const SetupSpace& space);

// A measured setup as a Profile: names, settings, workload, targets, point and its cost (and
// replicas for request.rate).
Result<Profile> make_profile(const SearchRequest& request, const SetupSpace& space,
                             const SetupPair& pair, const sim::Setup& setup,
                             const OperatingPoint& point, bool at_saturation);

}  // namespace kgai::quickstart
