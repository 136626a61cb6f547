#include "quickstart/search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "quickstart/rate_search.h"
#include "quickstart/setup_space.h"

namespace kgai::quickstart {

int64_t default_requests_per_run(double mean_output_tokens) {
  const double n = 60'000.0 / std::max(1.0, mean_output_tokens);
  return std::clamp<int64_t>(std::llround(n), 200, 2000);
}

Result<SearchResult> search_profiles(const catalog::Catalog& catalog, const PriceBook& prices,
                                     const SearchRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  auto space = resolve_space(catalog, prices, request);
  if (!space) return fail(space.error());
  SearchResult result;
  const sim::WorkloadSpec& workload = request.workload;
  const int64_t per_run = space->requests_per_run;

  const int pairs = static_cast<int>(space->pairs.size());
  int done = 0;
  for (const SetupPair& pair : space->pairs) {
    const auto& model = *pair.model;
    const auto& accelerator = *pair.accelerator;
    if (!pair.price) {
      result.skipped.push_back({model.name, accelerator.name, 0, pair.no_price, {}});
      if (request.progress) request.progress(++done, pairs);
      continue;
    }
    for (int tp : request.tensor_parallel) {
      std::optional<Profile> best;
      std::optional<SkippedSetup> skipped;
      double hint_rate = 0;       // the first feasible settings' answer
      bool any_settings = false;  // with all_settings: some combination was feasible
      for (int seqs :
           settings_values(request.max_num_seqs, accelerator.default_max_num_seqs, 16, true)) {
        for (int budget : settings_values(request.max_num_batched_tokens,
                                          accelerator.default_max_num_batched_tokens, 512, true)) {
          ++result.setups;
          auto setup = make_candidate(catalog, request, *space, pair, tp, seqs, budget);
          if (!setup) {
            if (!best && !skipped)
              skipped = SkippedSetup{model.name, accelerator.name, tp, setup.error().message, {}};
            continue;
          }
          RateSearchOptions options;
          options.requests_per_run = per_run;
          options.saturation_concurrency = saturation_clients(*setup, *space);
          options.hint_rate = hint_rate;
          const MeasureLoad measure = [&](const Load& load) {
            return measure_load(setup->engine, *setup->latency, workload, load, request.targets);
          };
          auto found = search_rate(measure, request.targets, options);
          if (!found)
            return fail("{} on {} x {}: {}", model.name, tp, accelerator.name,
                        found.error().message);
          result.simulations += found->runs;
          if (!found->feasible) {
            // Keep the closest miss, to say what is achievable.
            if (!best && (!skipped || !skipped->best ||
                          found->best.ttft_ms + found->best.ntpot_ms <
                              skipped->best->ttft_ms + skipped->best->ntpot_ms)) {
              skipped =
                  SkippedSetup{model.name, accelerator.name, tp,
                               fmt::format("even at the lowest load: {}", found->why), found->best};
            }
            continue;
          }
          if (hint_rate == 0) hint_rate = found->point.offered_rate;
          auto p = make_profile(request, *space, pair, *setup, found->point, found->at_saturation);
          if (!p) return fail(p.error());
          if (request.all_settings) {
            any_settings = true;
            result.profiles.push_back(std::move(*p));
          } else if (!best ||
                     p->cost.per_million_output_tokens < best->cost.per_million_output_tokens) {
            best = std::move(*p);
          }
        }
      }
      if (best) {
        result.profiles.push_back(std::move(*best));
      } else if (skipped && !any_settings) {
        result.skipped.push_back(std::move(*skipped));
      }
    }
    if (request.progress) request.progress(++done, pairs);
  }

  // Cost targets cut rows after the search, so the skipped list can say by how much.
  std::vector<Profile> kept;
  for (auto& p : result.profiles) {
    std::string why;
    if (request.max_cost_per_million_input &&
        p.cost.per_million_input_tokens > *request.max_cost_per_million_input) {
      why = fmt::format("${:.4g} per million input tokens > ${:g} target",
                        p.cost.per_million_input_tokens, *request.max_cost_per_million_input);
    } else if (request.max_cost_per_million_output &&
               p.cost.per_million_output_tokens > *request.max_cost_per_million_output) {
      why = fmt::format("${:.4g} per million output tokens > ${:g} target",
                        p.cost.per_million_output_tokens, *request.max_cost_per_million_output);
    }
    if (why.empty()) {
      kept.push_back(std::move(p));
    } else {
      result.skipped.push_back({p.model, p.accelerator, p.accelerator_count, why, p.point});
    }
  }
  result.profiles = std::move(kept);
  std::stable_sort(result.profiles.begin(), result.profiles.end(),
                   [](const Profile& a, const Profile& b) {
                     return a.cost.per_million_output_tokens < b.cost.per_million_output_tokens;
                   });
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace kgai::quickstart
