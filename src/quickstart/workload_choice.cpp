#include "quickstart/workload_choice.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "perf/dataset.h"
#include "quickstart/use_cases.h"

namespace kgai::quickstart {

namespace {

Result<ResolvedWorkload> from_lengths(std::string name, const std::string& input,
                                      const std::string& output) {
  auto in = sim::LengthDistribution::parse(input);
  if (!in) return fail("input length: {}", in.error().message);
  auto out = sim::LengthDistribution::parse(output);
  if (!out) return fail("output length: {}", out.error().message);
  ResolvedWorkload w;
  w.spec.input = *in;
  w.spec.output = *out;
  w.shape.name = std::move(name);
  w.shape.input_length = input;
  w.shape.output_length = output;
  w.shape.mean_input_tokens = in->mean();
  w.shape.mean_output_tokens = out->mean();
  w.shape.max_input_tokens = in->upper_bound();
  w.shape.max_output_tokens = out->upper_bound();
  return w;
}

Result<ResolvedWorkload> from_dataset(const std::string& path, uint64_t seed) {
  perf::DataConfig config;
  config.type = "shareGPT";
  config.path = path;
  auto dataset = perf::make_dataset(config);
  if (!dataset) return fail(dataset.error());
  const size_t n = (*dataset)->size();
  if (n == 0) return fail("{}: no conversation with a prompt and an answer", path);
  auto samples = std::make_shared<std::vector<sim::LengthSample>>();
  samples->reserve(n);
  std::mt19937_64 rng(seed);
  double in_sum = 0, out_sum = 0;
  ResolvedWorkload w;
  for (size_t i = 0; i < n; ++i) {
    perf::Prompt p = (*dataset)->next(rng, false);
    sim::LengthSample s{std::max(1, p.input_tokens), std::max(1, p.output_tokens)};
    in_sum += s.input_tokens;
    out_sum += s.output_tokens;
    w.shape.max_input_tokens = std::max(w.shape.max_input_tokens, s.input_tokens);
    w.shape.max_output_tokens = std::max(w.shape.max_output_tokens, s.output_tokens);
    samples->push_back(s);
  }
  w.spec.samples = std::move(samples);
  w.shape.name = path;
  w.shape.input_length = fmt::format("dataset ({} conversations)", n);
  w.shape.output_length = w.shape.input_length;
  w.shape.mean_input_tokens = in_sum / static_cast<double>(n);
  w.shape.mean_output_tokens = out_sum / static_cast<double>(n);
  return w;
}

}  // namespace

Result<ResolvedWorkload> resolve_workload(const WorkloadChoice& c) {
  const bool lengths = !c.input_length.empty() || !c.output_length.empty();
  const int sources = int{!c.use_case.empty()} + int{lengths} + int{!c.dataset.empty()};
  if (sources > 1)
    return fail("give one of --use-case, --input-len with --output-len, or --dataset");
  if (lengths && (c.input_length.empty() || c.output_length.empty()))
    return fail("--input-len and --output-len go together (as GIQ's target lengths do)");

  Result<ResolvedWorkload> w = fail("no workload");
  if (!c.dataset.empty()) {
    w = from_dataset(c.dataset, c.seed);
  } else if (lengths) {
    w = from_lengths("lengths", c.input_length, c.output_length);
  } else {
    auto use_case = find_use_case(c.use_case.empty() ? "chatbot" : c.use_case);
    if (!use_case) return fail(use_case.error());
    w = from_lengths(std::string((*use_case)->id), std::to_string((*use_case)->input_tokens),
                     std::to_string((*use_case)->output_tokens));
  }
  if (!w) return w;
  w->spec.seed = c.seed;
  return w;
}

}  // namespace kgai::quickstart
