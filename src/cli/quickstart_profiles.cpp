// `kgai quickstart profiles list`: the search over setups, printed as GIQ prints profiles.
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/quickstart_advice.h"
#include "common/log.h"
#include "quickstart/listings.h"
#include "quickstart/profiles_output.h"

namespace kgai::cli {
namespace {

struct ProfilesFlags {
  AdviceFlags advice;
  std::string format = "table";
  bool all_settings = false;
};

// The skipped setups for people: one line each on stderr, the closest to the targets first.
void explain_skipped(const quickstart::SearchResult& result, bool verbose) {
  int shown = 0;
  for (const auto& s : result.skipped) {
    if (!verbose && !s.best) continue;
    log::info("left out {} on {} x {}: {}", s.model, s.accelerator_count, s.accelerator, s.why);
    if (++shown == 20 && !verbose) {
      log::info("... and more (--format json lists every setup left out and why)");
      break;
    }
  }
}

int run_profiles(const ProfilesFlags& f) {
  auto format = quickstart::parse_format(f.format);
  if (!format) {
    log::error("{}", format.error().message);
    return 2;
  }
  auto advice = resolve_advice(f.advice);
  if (!advice) {
    log::error("{}", advice.error().message);
    return 2;
  }
  advice->request.all_settings = f.all_settings;
  auto result = quickstart::search_profiles(advice->catalog, advice->prices, advice->request);
  if (!result) {
    log::error("{}", result.error().message);
    return 2;
  }
  if (!f.advice.quiet) {
    log::info("{} setups, {} virtual-time runs in {:.2f} s", result->setups, result->simulations,
              result->wall_seconds);
  }
  auto json = quickstart::profiles_json(*result);
  if (*format == quickstart::Format::kJson || *format == quickstart::Format::kYaml) {
    fmt::print("{}", quickstart::render(json, *format));
  } else if (!result->profiles.empty()) {
    auto table = quickstart::profiles_table(json["profiles"], advice->request.rate.has_value());
    fmt::print("{}", *format == quickstart::Format::kCsv ? quickstart::render_csv(table)
                                                         : quickstart::render_table(table));
  }
  if (result->profiles.empty()) {
    // A "no" answer: say what comes closest.
    explain_skipped(*result, true);
    log::error("no setup meets the targets{}", result->skipped.empty() ? "" : " (see above)");
    return 1;
  }
  if (!f.advice.quiet) explain_skipped(*result, false);
  return 0;
}

}  // namespace

void add_quickstart_profiles_command(CLI::App& quickstart, int& exit_code) {
  auto* group = quickstart.add_subcommand(
      "profiles", "Latency, throughput and cost of each setup (GIQ's 'profiles list')");
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand(
      "list",
      "Search every model x accelerator x accelerator count x server settings asked for: memory "
      "first (weights, activations, KV cache for the lengths asked), then the engine in virtual "
      "time. One row per model, accelerator and count (the settings with the lowest cost per "
      "output token), cheapest first. Without latency targets: the saturation point (every "
      "batch slot busy); with targets: the highest request rate meeting them at --percentile. "
      "Costs use GIQ's formula ($/output token = $/s / (input tok/s / R + output tok/s), "
      "$/input token = that / R). Exit 1 when no setup meets the targets (the closest are "
      "shown), 2 on bad input.");
  auto flags = std::make_shared<ProfilesFlags>();
  add_advice_options(*cmd, flags->advice, true);
  cmd->add_option("--format", flags->format, "table, csv, json or yaml")->capture_default_str();
  cmd->add_flag("--all-settings", flags->all_settings,
                "A row per settings combination instead of the cheapest per count");
  cmd->callback([&exit_code, flags] { exit_code = run_profiles(*flags); });
}

}  // namespace kgai::cli
