// `kgai quickstart profiles list` (the search over setups, printed as GIQ prints profiles) and
// `kgai quickstart benchmarks list` (each setup's latency/throughput curve).
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/quickstart_advice.h"
#include "common/log.h"
#include "common/text_file.h"
#include "quickstart/benchmark_curve.h"
#include "quickstart/listings.h"
#include "quickstart/profiles_output.h"
#include "quickstart/report_html.h"

namespace kgai::cli {
namespace {

bool is_table(quickstart::Format format) {
  return format == quickstart::Format::kTable || format == quickstart::Format::kCsv;
}

// JSON and YAML print the whole value; table and CSV the rows `make_table` flattens from it.
template <typename MakeTable>
void print_result(const nlohmann::ordered_json& json, quickstart::Format format,
                  MakeTable&& make_table) {
  if (!is_table(format)) {
    fmt::print("{}", quickstart::render(json, format));
    return;
  }
  const quickstart::Table table = make_table();
  std::string text = format == quickstart::Format::kCsv ? quickstart::render_csv(table)
                                                        : quickstart::render_table(table);
  if (!text.empty() && text.back() != '\n') text += '\n';
  fmt::print("{}", text);
}

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
  if (!result->profiles.empty() || !is_table(*format)) {
    print_result(json, *format, [&] {
      return quickstart::profiles_table(json["profiles"], advice->request.rate.has_value());
    });
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

struct BenchmarksFlags {
  AdviceFlags advice;
  std::string format = "csv";
  int stages = 10;
};

int run_benchmarks(const BenchmarksFlags& f) {
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
  auto result =
      quickstart::benchmark_curves(advice->catalog, advice->prices, advice->request, f.stages);
  if (!result) {
    log::error("{}", result.error().message);
    return 2;
  }
  if (!f.advice.quiet) {
    log::info("{} curves, {} virtual-time runs in {:.2f} s", result->curves.size(),
              result->simulations, result->wall_seconds);
    for (const auto& s : result->skipped)
      log::info("left out {} on {} x {}: {}", s.model, s.accelerator_count, s.accelerator, s.why);
  }
  auto json = quickstart::curves_json(*result);
  print_result(json, *format, [&] { return quickstart::curves_table(json["benchmarks"]); });
  if (result->curves.empty()) {
    log::error("no setup fits (see above)");
    return 1;
  }
  return 0;
}

struct ReportFlags {
  AdviceFlags advice;
  std::string out;
  int curves = 6;
  int stages = 8;
};

int run_report(const ReportFlags& f) {
  if (f.curves < 0 || f.curves > 20) {
    log::error("--curves must be 0 to 20, got {}", f.curves);
    return 2;
  }
  auto advice = resolve_advice(f.advice);
  if (!advice) {
    log::error("{}", advice.error().message);
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) {
    log::error("{}: cannot create: {}", f.out, ec.message());
    return 2;
  }
  auto profiles = quickstart::search_profiles(advice->catalog, advice->prices, advice->request);
  if (!profiles) {
    log::error("{}", profiles.error().message);
    return 2;
  }
  // The curves of the cheapest setups, each with the settings the search chose for it.
  quickstart::CurveResult curves;
  for (size_t i = 0; i < profiles->profiles.size() && i < static_cast<size_t>(f.curves); ++i) {
    const auto& p = profiles->profiles[i];
    quickstart::SearchRequest one = advice->request;
    one.models = {p.model};
    one.accelerators = {p.accelerator};
    one.tensor_parallel = {p.accelerator_count};
    one.max_num_seqs = {p.settings.max_num_seqs};
    one.max_num_batched_tokens = {p.settings.max_num_batched_tokens};
    one.progress = nullptr;
    auto curve = quickstart::benchmark_curves(advice->catalog, advice->prices, one, f.stages);
    if (!curve) {
      log::error("{}", curve.error().message);
      return 2;
    }
    curves.simulations += curve->simulations;
    for (auto& c : curve->curves) curves.curves.push_back(std::move(c));
  }
  const std::string generated = fmt::format(
      "{:%Y-%m-%d %H:%M} UTC",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  const std::string html =
      quickstart::render_report({&advice->request, &*profiles, &curves, generated});
  const std::filesystem::path dir(f.out);
  for (auto [name, text] : {std::pair{"report.html", html},
                            {"profiles.json", quickstart::profiles_json(*profiles).dump(2) + "\n"},
                            {"benchmarks.json", quickstart::curves_json(curves).dump(2) + "\n"}}) {
    if (auto ok = write_text_file((dir / name).string(), text); !ok) {
      log::error("{}", ok.error().message);
      return 2;
    }
  }
  log::info("wrote {}: {} profiles, {} curves", (dir / "report.html").string(),
            profiles->profiles.size(), curves.curves.size());
  return profiles->profiles.empty() ? 1 : 0;
}

}  // namespace

void add_quickstart_report_command(CLI::App& quickstart, int& exit_code) {
  auto* cmd = quickstart.add_subcommand(
      "report",
      "Search as 'profiles list' does and write --out DIR/report.html (self-contained: the "
      "cheapest setups' latency/throughput curves, the Pareto front of cost against latency over "
      "every profile, the table), profiles.json and benchmarks.json.");
  auto flags = std::make_shared<ReportFlags>();
  add_advice_options(*cmd, flags->advice, true);
  cmd->add_option("--out", flags->out, "Folder for the report (created)")->required();
  cmd->add_option("--curves", flags->curves, "Curves for the cheapest N setups (0 to 20)")
      ->capture_default_str();
  cmd->add_option("--stages", flags->stages, "Rates per curve (2 to 50)")->capture_default_str();
  cmd->callback([&exit_code, flags] { exit_code = run_report(*flags); });
}

void add_quickstart_benchmarks_command(CLI::App& quickstart, int& exit_code) {
  auto* group = quickstart.add_subcommand(
      "benchmarks", "Latency/throughput curves of setups (GIQ's 'profiles benchmarks list')");
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand(
      "list",
      "For each model x accelerator x count that fits (vLLM's default settings unless "
      "--max-num-seqs / --max-num-batched-tokens are given): a closed loop with every batch slot "
      "busy gives the capacity, then --stages open-loop (Poisson) stages at 1/N ... N/N of it, "
      "in virtual time: throughput, TTFT, NTPOT, ITL and E2E percentiles and the cost per "
      "million tokens at each rate. kept_up below 0.95 marks a rate the engine could not keep "
      "up with. CSV by default (one row per stage); JSON nests stages per setup.");
  auto flags = std::make_shared<BenchmarksFlags>();
  add_advice_options(*cmd, flags->advice, false);
  cmd->add_option("--format", flags->format, "csv, table, json or yaml")->capture_default_str();
  cmd->add_option("--stages", flags->stages, "Rates in the sweep (2 to 50)")->capture_default_str();
  cmd->callback([&exit_code, flags] { exit_code = run_benchmarks(*flags); });
}

void add_quickstart_profiles_command(CLI::App& quickstart, int& exit_code) {
  auto* group = quickstart.add_subcommand(
      "profiles", "Latency, throughput and cost of each setup (GIQ's 'profiles list')");
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand(
      "list",
      "Search every model x accelerator x accelerator count x server settings asked for: memory "
      "first (weights, activations, KV cache for the lengths asked), then the engine in virtual "
      "time. One row per model, accelerator and count (the settings with the lowest cost per "
      "output token), cheapest first. Without latency targets: the knee (the fewest clients "
      "reaching 95 % of the saturation throughput); with targets: the highest request rate "
      "meeting them at --percentile within 95 % of saturation. "
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
