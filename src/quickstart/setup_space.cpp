#include "quickstart/setup_space.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

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

}  // namespace

Result<SetupSpace> resolve_space(const catalog::Catalog& catalog, const PriceBook& prices,
                                 const SearchRequest& request) {
  if (auto ok = check_request(request); !ok) return fail(ok.error());
  auto pricing_model = check_pricing_model(request.pricing_model);
  if (!pricing_model) return fail(pricing_model.error());
  SetupSpace space;
  space.pricing_model = std::string(*pricing_model);

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

  for (const auto* model : models) {
    for (const auto* accelerator : accelerators) {
      SetupPair pair{model, accelerator, nullptr, {}};
      auto price = prices.find(catalog, accelerator->name, space.pricing_model, request.cloud);
      if (price) {
        pair.price = *price;
      } else if (named_accelerators) {
        // A named accelerator without a price is an error before any simulation.
        return fail(price.error());
      } else {
        pair.no_price = price.error().message;
      }
      space.pairs.push_back(std::move(pair));
    }
  }

  const sim::WorkloadSpec& workload = request.workload;
  const int prefix = workload.shared_prefix_groups > 0 ? workload.shared_prefix_len : 0;
  space.longest_request =
      int64_t{prefix} + workload.input_upper_bound() + workload.output_upper_bound();
  space.mean_request = prefix + request.shape.mean_input_tokens + request.shape.mean_output_tokens;
  space.requests_per_run = request.requests_per_run > 0
                               ? request.requests_per_run
                               : default_requests_per_run(request.shape.mean_output_tokens);
  return space;
}

std::vector<int> settings_values(const std::vector<int>& asked, int vllm_default, int floor,
                                 bool grid) {
  if (!asked.empty()) return asked;
  std::vector<int> out{vllm_default};
  if (int quarter = std::max(floor, vllm_default / 4); grid && quarter != vllm_default)
    out.push_back(quarter);
  return out;
}

Result<sim::Setup> make_candidate(const catalog::Catalog& catalog, const SearchRequest& request,
                                  const SetupSpace& space, const SetupPair& pair, int tp,
                                  int max_num_seqs, int max_num_batched_tokens) {
  if (space.longest_request > pair.model->max_model_len) {
    return fail("requests of up to {} tokens exceed the context window of {}",
                space.longest_request, pair.model->max_model_len);
  }
  sim::SetupRequest ask;
  ask.model = pair.model->name;
  ask.accelerator = pair.accelerator->name;
  ask.tensor_parallel = tp;
  ask.max_num_seqs = max_num_seqs;
  ask.max_num_batched_tokens = max_num_batched_tokens;
  ask.gpu_memory_utilization = request.gpu_memory_utilization;
  // Bounded lengths: the context the longest request needs (GIQ's --max-model-len); unbounded
  // ones: the model's, capped by the KV cache.
  if (space.longest_request < (int64_t{1} << 30))
    ask.max_model_len = static_cast<int>(space.longest_request);
  return sim::make_setup(catalog, ask);
}

int saturation_clients(const sim::Setup& setup, const SetupSpace& space) {
  const int64_t kv_tokens = setup.engine.num_gpu_blocks * setup.engine.block_size;
  return static_cast<int>(
      std::clamp<int64_t>(static_cast<int64_t>(kv_tokens / std::max(1.0, space.mean_request)), 1,
                          setup.engine.max_num_seqs));
}

Result<Profile> make_profile(const SearchRequest& request, const SetupSpace& space,
                             const SetupPair& pair, const sim::Setup& setup,
                             const OperatingPoint& point, bool at_saturation) {
  Profile p;
  const int tp = setup.latency->tensor_parallel();
  p.model = pair.model->name;
  p.accelerator = pair.accelerator->name;
  p.accelerator_count = tp;
  p.cloud = pair.price->cloud;
  p.pricing_model = space.pricing_model;
  p.instance_type = pair.price->instance_type(tp);
  p.settings.tensor_parallel_size = tp;
  p.settings.max_num_seqs = setup.engine.max_num_seqs;
  p.settings.max_num_batched_tokens = setup.engine.max_num_batched_tokens;
  p.settings.max_model_len = setup.engine.max_model_len;
  p.settings.gpu_memory_utilization = request.gpu_memory_utilization;
  p.settings.block_size = setup.engine.block_size;
  p.settings.enable_prefix_caching = setup.engine.enable_prefix_caching;
  p.settings.enable_chunked_prefill = setup.engine.enable_chunked_prefill;
  p.workload = request.shape;
  p.targets = request.targets;
  p.at_saturation = at_saturation;
  p.point = point;
  const CostInputs inputs{pair.price->usd_per_chip_hour, tp, point.input_tokens_per_second,
                          point.output_tokens_per_second, request.cost_ratio};
  if (point.input_tokens_per_second + point.output_tokens_per_second <= 0) {
    // A load past capacity that finished nothing in its window (a benchmark stage): its cost
    // per token is undefined, shown as null.
    p.cost.inputs = inputs;
    p.cost.dollars_per_second = inputs.price_per_hour * tp / 3600;
    p.cost.per_million_input_tokens = std::numeric_limits<double>::quiet_NaN();
    p.cost.per_million_output_tokens = std::numeric_limits<double>::quiet_NaN();
    return p;
  }
  auto cost = token_cost(inputs);
  if (!cost) return fail(cost.error());
  p.cost = *cost;
  if (request.rate) {
    p.replicas =
        static_cast<int>(std::ceil(*request.rate / std::max(1e-9, point.requests_per_second)));
    p.monthly_cost = *p.replicas * cost->dollars_per_second * 3600 * kHoursPerMonth;
  }
  return p;
}

}  // namespace kgai::quickstart
