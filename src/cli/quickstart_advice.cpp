#include "cli/quickstart_advice.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common/ascii.h"
#include "common/log.h"
#include "quickstart/workload_choice.h"

namespace kgai::cli {

void add_advice_options(CLI::App& cmd, AdviceFlags& f, bool with_cost_targets) {
  cmd.add_option("--model", f.models,
                 "Model(s), by catalog name or alias (default: every model in the catalog)");
  cmd.add_option("--accelerator,--accelerator-type", f.accelerators,
                 "Accelerator(s), by catalog name or alias (default: every accelerator with a "
                 "price for --pricing-model on --cloud)");
  cmd.add_option("--model-server", f.model_server,
                 "Model server; kgai simulates vLLM (the only one accepted)")
      ->capture_default_str();
  cmd.add_option("--use-case", f.use_case,
                 "GIQ use case by name or id (see 'use-cases list'; default chatbot)");
  cmd.add_option("--input-len,--target-input-length", f.input_length,
                 "Prompt length in tokens, or a distribution: N, normal:MEAN,SD, uniform:MIN,MAX, "
                 "exponential:MEAN, lognormal:MEAN,SIGMA (with --output-len)");
  cmd.add_option("--output-len,--target-output-length", f.output_length,
                 "Output length in tokens or a distribution (with --input-len)");
  cmd.add_option("--dataset", f.dataset,
                 "Lengths from a ShareGPT-shaped JSON file (the format kgai perf reads)");
  cmd.add_option("--target-ttft-ms,--target-ttft-milliseconds", f.target_ttft_ms,
                 "Time to first token target (ms) at --percentile");
  cmd.add_option("--target-ntpot-ms,--target-ntpot-milliseconds", f.target_ntpot_ms,
                 "Normalized time per output token target (request latency / output tokens, ms)");
  cmd.add_option("--target-itl-ms,--target-itl-milliseconds", f.target_itl_ms,
                 "Inter-token latency target (ms)");
  cmd.add_option("--percentile", f.percentile,
                 "Percentile the targets and the latency columns refer to: 50, 90 or 99")
      ->capture_default_str();
  if (with_cost_targets) {
    cmd.add_option("--target-cost-per-million-input-tokens", f.target_cost_input,
                   "Leave out setups costing more per million input tokens ($)");
    cmd.add_option("--target-cost-per-million-output-tokens", f.target_cost_output,
                   "Leave out setups costing more per million output tokens ($)");
  }
  cmd.add_option("--pricing-model", f.pricing_model, "on-demand, spot, 1-year-cud or 3-years-cud")
      ->capture_default_str();
  cmd.add_option("--cloud", f.cloud,
                 "Whose prices: gcp, aws, azure, catalog (the catalog's indicative prices) or a "
                 "cloud of your --prices file")
      ->capture_default_str();
  cmd.add_option("--prices", f.price_files,
                 "Price YAML file(s) adding or overriding prices (format: docs/quickstart.md)");
  cmd.add_option("--cost-ratio", f.cost_ratio,
                 "R, the output:input token cost ratio of GIQ's cost formula")
      ->capture_default_str();
  cmd.add_option("--rate", f.rate,
                 "Requests/s to serve: adds the replicas each setup needs and their monthly cost");
  cmd.add_option("--tp,--accelerator-count", f.tensor_parallel,
                 "Accelerator counts (tensor-parallel sizes) to try (default: 1 2 4 8)");
  cmd.add_option("--max-num-seqs", f.max_num_seqs,
                 "max-num-seqs values to try (default: vLLM's for the accelerator and a quarter)");
  cmd.add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
                 "max-num-batched-tokens values to try (default: vLLM's and a quarter)");
  cmd.add_option("--gpu-memory-utilization", f.gpu_memory_utilization,
                 "vLLM's --gpu-memory-utilization for every setup")
      ->capture_default_str();
  cmd.add_option("--requests-per-run", f.requests_per_run,
                 "Requests per simulated load level (0: about 60,000 output tokens' worth, "
                 "200 to 2,000)")
      ->capture_default_str();
  cmd.add_option("--seed", f.seed, "Seed of the simulated requests")->capture_default_str();
  cmd.add_option("--catalog", f.catalog_files,
                 "Extra catalog YAML file(s) adding or overriding models and accelerators");
  cmd.add_flag("--quiet", f.quiet, "No progress lines on stderr");
}

Result<Advice> resolve_advice(const AdviceFlags& f) {
  if (!ascii_iequals(f.model_server, "vllm")) {
    return fail(
        "--model-server {}: kgai's simulator models vLLM only (its scheduler, KV cache and "
        "defaults); SGLang, TGI and others are not modelled",
        f.model_server);
  }
  auto catalog = catalog::Catalog::builtin();
  if (!catalog) return fail(catalog.error());
  for (const auto& file : f.catalog_files) {
    if (auto loaded = catalog->load_file(file); !loaded) return fail(loaded.error());
  }
  auto prices = quickstart::PriceBook::builtin(*catalog);
  if (!prices) return fail(prices.error());
  for (const auto& file : f.price_files) {
    if (auto loaded = prices->load_file(file, *catalog); !loaded) return fail(loaded.error());
  }
  quickstart::WorkloadChoice choice{f.use_case, f.input_length, f.output_length, f.dataset, f.seed};
  auto workload = quickstart::resolve_workload(choice);
  if (!workload) return fail(workload.error());

  Advice advice{std::move(*catalog), std::move(*prices), {}};
  quickstart::SearchRequest& r = advice.request;
  r.models = f.models;
  r.accelerators = f.accelerators;
  r.workload = std::move(workload->spec);
  r.shape = std::move(workload->shape);
  r.targets.ttft_ms = f.target_ttft_ms;
  r.targets.ntpot_ms = f.target_ntpot_ms;
  r.targets.itl_ms = f.target_itl_ms;
  r.targets.percentile = f.percentile;
  r.max_cost_per_million_input = f.target_cost_input;
  r.max_cost_per_million_output = f.target_cost_output;
  r.pricing_model = f.pricing_model;
  r.cloud = f.cloud;
  r.cost_ratio = f.cost_ratio;
  r.rate = f.rate;
  if (!f.tensor_parallel.empty()) r.tensor_parallel = f.tensor_parallel;
  r.max_num_seqs = f.max_num_seqs;
  r.max_num_batched_tokens = f.max_num_batched_tokens;
  r.gpu_memory_utilization = f.gpu_memory_utilization;
  r.requests_per_run = f.requests_per_run;
  if (!f.quiet) {
    r.progress = [](int done, int total) {
      if (done == total || done % 8 == 0)
        log::info("searched {}/{} model x accelerator pairs", done, total);
    };
  }
  return advice;
}

}  // namespace kgai::cli
