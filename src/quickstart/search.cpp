#include "quickstart/search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "quickstart/rate_search.h"
#include "sim/setup.h"

namespace kgai::quickstart {

namespace {

constexpr double kHoursPerMonth = 730;

Result<void> check_request(const SearchRequest& r) {
  const auto positive = [](const std::optional<double>& v) {
    return !v || (std::isfinite(*v) && *v > 0);
  };
  if (!positive(r.targets.ttft_ms) || !positive(r.targets.ntpot_ms) || !positive(r.targets.itl_ms))
    return fail("latency targets must be positive numbers of milliseconds");
  if (r.targets.percentile != 50 && r.targets.percentile != 90 && r.targets.percentile != 99)
    return fail("--percentile must be 50, 90 or 99, got {}", r.targets.percentile);
  if (!positive(r.max_cost_per_million_input) || !positive(r.max_cost_per_million_output))
    return fail("cost targets must be positive numbers of dollars");
  if (!positive(r.rate)) return fail("--rate must be a positive number of requests/s");
  if (!(std::isfinite(r.cost_ratio) && r.cost_ratio > 0))
    return fail("--cost-ratio must be positive, got {}", r.cost_ratio);
  if (r.tensor_parallel.empty()) return fail("no accelerator count to try");
  for (int tp : r.tensor_parallel)
    if (tp < 1 || tp > 64) return fail("accelerator counts must be 1 to 64, got {}", tp);
  for (int v : r.max_num_seqs)
    if (v < 1) return fail("--max-num-seqs must be positive, got {}", v);
  for (int v : r.max_num_batched_tokens)
    if (v < 1) return fail("--max-num-batched-tokens must be positive, got {}", v);
  if (r.requests_per_run < 0 || r.requests_per_run > 1'000'000)
    return fail("requests per run must be 0 (auto) to 1,000,000, got {}", r.requests_per_run);
  return {};
}

// The default and a quarter of it (not below `floor`), deduplicated.
std::vector<int> around_default(const std::vector<int>& asked, int fallback, int floor) {
  if (!asked.empty()) return asked;
  std::vector<int> out{fallback};
  if (int quarter = std::max(floor, fallback / 4); quarter != fallback) out.push_back(quarter);
  return out;
}

struct Candidate {
  std::optional<Profile> profile;  // the cheapest feasible settings so far
  std::optional<SkippedSetup> skipped;
};

}  // namespace

int64_t default_requests_per_run(double mean_output_tokens) {
  const double n = 100'000.0 / std::max(1.0, mean_output_tokens);
  return std::clamp<int64_t>(std::llround(n), 200, 2000);
}

Result<SearchResult> search_profiles(const catalog::Catalog& catalog, const PriceBook& prices,
                                     const SearchRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  if (auto ok = check_request(request); !ok) return fail(ok.error());
  auto pricing_model = check_pricing_model(request.pricing_model);
  if (!pricing_model) return fail(pricing_model.error());

  std::vector<const catalog::ModelSpec*> models;
  for (const auto& name : request.models) {
    auto m = catalog.model(name);
    if (!m) return fail(m.error());
    models.push_back(*m);
  }
  if (request.models.empty())
    for (const auto& m : catalog.models()) models.push_back(&m);
  std::vector<const catalog::AcceleratorSpec*> accelerators;
  for (const auto& name : request.accelerators) {
    auto a = catalog.accelerator(name);
    if (!a) return fail(a.error());
    accelerators.push_back(*a);
  }
  const bool named_accelerators = !request.accelerators.empty();
  if (!named_accelerators)
    for (const auto& a : catalog.accelerators()) accelerators.push_back(&a);

  // Prices first: a named accelerator without one is an error before any simulation.
  std::map<std::string, const Price*> price_of;
  SearchResult result;
  for (const auto* a : accelerators) {
    auto price = prices.find(catalog, a->name, *pricing_model, request.cloud);
    if (price) {
      price_of[a->name] = *price;
    } else if (named_accelerators) {
      return fail(price.error());
    }
  }

  const sim::WorkloadSpec& workload = request.workload;
  const int prefix = workload.shared_prefix_groups > 0 ? workload.shared_prefix_len : 0;
  const int64_t longest =
      int64_t{prefix} + workload.input_upper_bound() + workload.output_upper_bound();
  const double mean_sequence =
      prefix + request.shape.mean_input_tokens + request.shape.mean_output_tokens;
  const int64_t per_run = request.requests_per_run > 0
                              ? request.requests_per_run
                              : default_requests_per_run(request.shape.mean_output_tokens);

  const int pairs = static_cast<int>(models.size() * accelerators.size());
  int done = 0;
  for (const auto* model : models) {
    for (const auto* accelerator : accelerators) {
      const auto price_it = price_of.find(accelerator->name);
      if (price_it == price_of.end()) {
        auto why = prices.find(catalog, accelerator->name, *pricing_model, request.cloud);
        result.skipped.push_back({model->name, accelerator->name, 0, why.error().message, {}});
        if (request.progress) request.progress(++done, pairs);
        continue;
      }
      const Price& price = *price_it->second;
      for (int tp : request.tensor_parallel) {
        Candidate best;
        double hint_rate = 0;  // the first feasible settings' answer
        for (int seqs :
             around_default(request.max_num_seqs, accelerator->default_max_num_seqs, 16)) {
          for (int budget : around_default(request.max_num_batched_tokens,
                                           accelerator->default_max_num_batched_tokens, 512)) {
            ++result.setups;
            sim::SetupRequest ask;
            ask.model = model->name;
            ask.accelerator = accelerator->name;
            ask.tensor_parallel = tp;
            ask.max_num_seqs = seqs;
            ask.max_num_batched_tokens = budget;
            ask.gpu_memory_utilization = request.gpu_memory_utilization;
            if (longest > model->max_model_len) {
              best.skipped = SkippedSetup{
                  model->name,
                  accelerator->name,
                  tp,
                  fmt::format("requests of up to {} tokens exceed the context window of {}",
                              longest, model->max_model_len),
                  {}};
              continue;
            }
            // Bounded lengths: the context the longest request needs (as GIQ's
            // --max-model-len); unbounded ones: the model's, capped by the KV cache.
            if (longest < (int64_t{1} << 30)) ask.max_model_len = static_cast<int>(longest);
            auto setup = sim::make_setup(catalog, ask);
            if (!setup) {
              if (!best.profile && !best.skipped)
                best.skipped =
                    SkippedSetup{model->name, accelerator->name, tp, setup.error().message, {}};
              continue;
            }
            const int64_t kv_tokens = setup->engine.num_gpu_blocks * setup->engine.block_size;
            RateSearchOptions options;
            options.requests_per_run = per_run;
            options.saturation_concurrency = static_cast<int>(
                std::clamp<int64_t>(static_cast<int64_t>(kv_tokens / std::max(1.0, mean_sequence)),
                                    1, setup->engine.max_num_seqs));
            const double estimate = estimated_capacity(setup->engine, *setup->latency, workload,
                                                       options.saturation_concurrency);
            // The estimate runs 0-30 % above the engine's measured capacity; 15 % more
            // brackets nearly every case, and the search raises the top when it does not.
            if (request.targets.any_latency()) options.capacity_estimate = 1.15 * estimate;
            options.hint_rate = hint_rate;
            const MeasureLoad measure = [&](const Load& load) {
              return measure_load(setup->engine, *setup->latency, workload, load, request.targets);
            };
            auto found = search_rate(measure, request.targets, options);
            if (!found)
              return fail("{} on {} x {}: {}", model->name, tp, accelerator->name,
                          found.error().message);
            result.simulations += found->runs;
            if (!found->feasible) {
              if (!best.profile &&
                  (!best.skipped || !best.skipped->best ||
                   found->best.ttft_ms + found->best.ntpot_ms <
                       best.skipped->best->ttft_ms + best.skipped->best->ntpot_ms)) {
                best.skipped = SkippedSetup{model->name, accelerator->name, tp,
                                            fmt::format("even at the lowest load: {}", found->why),
                                            found->best};
              }
              continue;
            }
            if (hint_rate == 0) hint_rate = found->point.offered_rate;
            Profile p;
            p.model = model->name;
            p.accelerator = accelerator->name;
            p.accelerator_count = tp;
            p.cloud = price.cloud;
            p.pricing_model = std::string(*pricing_model);
            p.settings.tensor_parallel_size = tp;
            p.settings.max_num_seqs = setup->engine.max_num_seqs;
            p.settings.max_num_batched_tokens = setup->engine.max_num_batched_tokens;
            p.settings.max_model_len = setup->engine.max_model_len;
            p.settings.gpu_memory_utilization = request.gpu_memory_utilization;
            p.settings.block_size = setup->engine.block_size;
            p.settings.enable_prefix_caching = setup->engine.enable_prefix_caching;
            p.settings.enable_chunked_prefill = setup->engine.enable_chunked_prefill;
            p.workload = request.shape;
            p.targets = request.targets;
            p.at_saturation = found->at_saturation;
            p.point = found->point;
            auto cost = token_cost({price.usd_per_chip_hour, tp, p.point.input_tokens_per_second,
                                    p.point.output_tokens_per_second, request.cost_ratio});
            if (!cost) return fail(cost.error());
            p.cost = *cost;
            if (request.rate) {
              p.replicas = static_cast<int>(
                  std::ceil(*request.rate / std::max(1e-9, p.point.requests_per_second)));
              p.monthly_cost = *p.replicas * cost->dollars_per_second * 3600 * kHoursPerMonth;
            }
            if (request.all_settings) {
              result.profiles.push_back(p);
            } else if (!best.profile || p.cost.per_million_output_tokens <
                                            best.profile->cost.per_million_output_tokens) {
              best.profile = std::move(p);
            }
          }
        }
        if (best.profile) {
          result.profiles.push_back(std::move(*best.profile));
        } else if (best.skipped && !request.all_settings) {
          result.skipped.push_back(std::move(*best.skipped));
        }
      }
      if (request.progress) request.progress(++done, pairs);
    }
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
