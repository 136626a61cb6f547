// `kgai quickstart`: hardware and configuration advice in the shape of GKE Inference
// Quickstart. This file holds the lists the advice works from (models, accelerators with dated
// prices, use cases) and registers the other subcommands, each in its own file.
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "common/log.h"
#include "quickstart/listings.h"
#include "quickstart/prices.h"

namespace kgai::cli {
namespace {

struct ListFlags {
  std::vector<std::string> catalog_files;
  std::vector<std::string> price_files;
  std::string format = "table";
};

enum class Listing { kModels, kAccelerators, kUseCases };

Result<std::string> list(Listing what, const ListFlags& f) {
  auto format = quickstart::parse_format(f.format);
  if (!format) return fail(format.error());
  if (what == Listing::kUseCases) return quickstart::render(quickstart::use_cases_json(), *format);

  auto catalog = catalog::Catalog::builtin();
  if (!catalog) return fail(catalog.error());
  for (const auto& file : f.catalog_files) {
    if (auto loaded = catalog->load_file(file); !loaded) return fail(loaded.error());
  }
  if (what == Listing::kModels)
    return quickstart::render(quickstart::models_json(*catalog), *format);

  auto prices = quickstart::PriceBook::builtin(*catalog);
  if (!prices) return fail(prices.error());
  for (const auto& file : f.price_files) {
    if (auto loaded = prices->load_file(file, *catalog); !loaded) return fail(loaded.error());
  }
  auto json = quickstart::accelerators_json(*catalog, *prices);
  auto table = quickstart::accelerators_table(json["accelerators"]);
  return quickstart::render(json, *format, &table);
}

void add_list(CLI::App& parent, const std::string& noun, const std::string& description,
              Listing what, int& exit_code) {
  auto* group = parent.add_subcommand(noun, description);
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand("list", description);
  auto flags = std::make_shared<ListFlags>();
  cmd->add_option("--format", flags->format, "table, csv, json or yaml")->capture_default_str();
  if (what != Listing::kUseCases) {
    cmd->add_option("--catalog", flags->catalog_files,
                    "Extra catalog YAML file(s) adding or overriding models and accelerators");
  }
  if (what == Listing::kAccelerators) {
    cmd->add_option("--prices", flags->price_files,
                    "Price YAML file(s) adding or overriding prices (format: "
                    "data/quickstart/prices.yaml, docs/quickstart.md)");
  }
  cmd->callback([&exit_code, what, flags] {
    auto out = list(what, *flags);
    if (!out) {
      log::error("{}", out.error().message);
      exit_code = 2;
      return;
    }
    fmt::print("{}", *out);
  });
}

}  // namespace

void add_quickstart_command(CLI::App& app, int& exit_code) {
  auto* qs = app.add_subcommand(
      "quickstart",
      "Hardware and configuration advice in the shape of GKE Inference Quickstart, computed by "
      "the simulator's engine in virtual time for any model, accelerator, workload, percentile, "
      "price and cloud. 'profiles list': every model x accelerator x count x settings searched, "
      "one row per setup at its knee or at the highest load meeting TTFT/NTPOT/ITL targets, "
      "priced (and replicas for --rate). 'benchmarks list': the latency/throughput curve. "
      "'manifests create': the Kubernetes objects (vLLM Deployment, Service, monitoring, HPA, "
      "InferencePool) and a perf config for the cheapest setup. 'report': an HTML page. "
      "'calibrate': refit the latency model to a measured kgai perf run. 'models list', "
      "'accelerators list' (dated prices per cloud and pricing model), 'use-cases list': what "
      "the advice works from. Costs use GIQ's formula: $/output token = $/s / (input tok/s / R "
      "+ output tok/s), $/input token = that / R, R = 4 (docs/quickstart.md).");
  qs->require_subcommand(1);
  add_list(*qs, "models", "List the catalog's models (with --catalog files)", Listing::kModels,
           exit_code);
  add_list(*qs, "accelerators",
           "List the catalog's accelerators with their prices (with --catalog and --prices files)",
           Listing::kAccelerators, exit_code);
  add_list(*qs, "use-cases", "List GIQ's use cases (average input and output tokens)",
           Listing::kUseCases, exit_code);
  add_quickstart_profiles_command(*qs, exit_code);
  add_quickstart_benchmarks_command(*qs, exit_code);
  add_quickstart_manifests_command(*qs, exit_code);
  add_quickstart_report_command(*qs, exit_code);
  add_quickstart_calibrate_command(*qs, exit_code);
}

}  // namespace kgai::cli
