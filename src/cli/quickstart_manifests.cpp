// `kgai quickstart manifests create`: search the setups of one model on one accelerator, take
// the cheapest that meets the targets, and write the Kubernetes objects that run it (and the
// perf config that checks it).
#include <chrono>
#include <memory>
#include <string>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/quickstart_advice.h"
#include "common/log.h"
#include "quickstart/manifests.h"

namespace kgai::cli {
namespace {

struct ManifestsFlags {
  AdviceFlags advice;
  quickstart::ManifestOptions options;
  std::string output_path;
  bool force = false;
};

std::string today() {
  return fmt::format(
      "{:%Y-%m-%d}",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
}

int run_manifests(ManifestsFlags f) {
  if (f.advice.models.size() != 1 || f.advice.accelerators.size() != 1) {
    log::error(
        "manifests create needs exactly one --model and one --accelerator (see 'profiles list' "
        "to compare them)");
    return 2;
  }
  auto advice = resolve_advice(f.advice);
  if (!advice) {
    log::error("{}", advice.error().message);
    return 2;
  }
  auto result = quickstart::search_profiles(advice->catalog, advice->prices, advice->request);
  if (!result) {
    log::error("{}", result.error().message);
    return 2;
  }
  if (result->profiles.empty()) {
    for (const auto& s : result->skipped)
      log::info("left out {} x {}: {}", s.accelerator_count, s.accelerator, s.why);
    log::error("no setup of {} on {} meets the targets; no manifests written", f.advice.models[0],
               f.advice.accelerators[0]);
    return 1;
  }
  const quickstart::Profile& chosen = result->profiles.front();
  if (!f.advice.quiet) {
    log::info(
        "chose {} x {} (max-num-seqs {}, max-num-batched-tokens {}): {:.2f} req/s, ${:.3f} "
        "per million output tokens{}",
        chosen.accelerator_count, chosen.accelerator, chosen.settings.max_num_seqs,
        chosen.settings.max_num_batched_tokens, chosen.point.requests_per_second,
        chosen.cost.per_million_output_tokens,
        chosen.replicas ? fmt::format(", {} replicas", *chosen.replicas) : "");
  }
  f.options.generated_on = today();
  f.options.kgai_version = "0.1.0";
  auto files = quickstart::make_manifests(chosen, f.options);
  if (!files) {
    log::error("{}", files.error().message);
    return 2;
  }
  if (f.output_path.empty()) {
    // GIQ prints the manifests; one stream of YAML documents.
    for (size_t i = 0; i < files->size(); ++i) {
      if ((*files)[i].kind == "PerfConfig") continue;  // not a Kubernetes object
      fmt::print("{}{}", i ? "---\n" : "", (*files)[i].content);
    }
    return 0;
  }
  if (auto written = quickstart::write_manifests(f.output_path, *files, f.force); !written) {
    log::error("{}", written.error().message);
    return 2;
  }
  for (const auto& file : *files) log::info("wrote {}/{}", f.output_path, file.file_name);
  return 0;
}

}  // namespace

void add_quickstart_manifests_command(CLI::App& quickstart, int& exit_code) {
  auto* group = quickstart.add_subcommand(
      "manifests", "Kubernetes manifests for a setup (GIQ's 'profiles manifests create')");
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand(
      "create",
      "Search the setups of one --model on one --accelerator as 'profiles list' does, take the "
      "cheapest that meets the targets, and write: a vLLM Deployment with the chosen settings, "
      "a Service, a ServiceMonitor or PodMonitoring, a HorizontalPodAutoscaler (on the running "
      "batch with a latency target, on the queue without, the threshold from the simulated "
      "operating point), an InferencePool for kgai gateway, a kustomization.yaml, and an "
      "Inference Perf config (runnable by 'kgai perf') that checks the advice on the cluster. "
      "Without --output-path the Kubernetes objects go to stdout. Exit 1 when no setup meets "
      "the targets.");
  auto flags = std::make_shared<ManifestsFlags>();
  add_advice_options(*cmd, flags->advice, false);
  auto& o = flags->options;
  cmd->add_option("--namespace", o.namespace_name, "Namespace of the objects")
      ->capture_default_str();
  cmd->add_option("--name", o.name, "Name of the objects (default: vllm-<model>)");
  cmd->add_option("--replicas", o.replicas,
                  "Replicas (default: what --rate needs, else 1); the autoscaler's minimum");
  cmd->add_option("--image", o.image, "vLLM image (default: a pinned vllm/vllm-openai for NVIDIA)");
  cmd->add_flag("--dra", o.dra,
                "Request accelerators through a DRA ResourceClaimTemplate instead of "
                "nvidia.com/gpu-style resources");
  cmd->add_option("--device-class", o.device_class,
                  "DeviceClass of the DRA claim (default gpu.nvidia.com for NVIDIA)");
  cmd->add_option("--monitoring", o.monitoring,
                  "servicemonitor (Prometheus Operator) or podmonitoring (Google Cloud Managed "
                  "Prometheus)")
      ->capture_default_str();
  cmd->add_option("--endpoint-picker", o.endpoint_picker,
                  "Service of the endpoint picker the InferencePool names (default <name>-epp)");
  cmd->add_option("--api", o.api, "API the perf config uses: completion or chat")
      ->capture_default_str();
  cmd->add_option("--output-path", flags->output_path, "Write the files into this folder");
  cmd->add_flag("--force", flags->force, "Overwrite files in --output-path kgai did not write");
  cmd->callback([&exit_code, flags] { exit_code = run_manifests(*flags); });
}

}  // namespace kgai::cli
