// `kgai quickstart calibrate`: fit the latency model's efficiency factors to a measured
// `kgai perf` (or Inference Perf) run and write them as a catalog overlay (quickstart/calibrate.h).
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "common/log.h"
#include "common/text_file.h"
#include "quickstart/calibrate.h"
#include "quickstart/measured_run.h"
#include "quickstart/output.h"

namespace kgai::cli {
namespace {

struct CalibrateFlags {
  std::string report_dir;
  std::vector<std::string> catalog_files;
  std::string out;
  std::string format = "table";
  double time_scale = 1;
  bool no_prefix_caching = false;
  bool no_chunked_prefill = false;
  bool quiet = false;
  quickstart::CalibrateOptions options;
};

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return stamp;
}

// The output for stdout, or an error (exit 2).
Result<std::string> run(CalibrateFlags& f) {
  if (f.format != "table" && f.format != "json") {
    return fail("unknown format '{}' (table or json)", f.format);
  }
  auto catalog = catalog::Catalog::builtin();
  if (!catalog) return fail(catalog.error());
  for (const auto& file : f.catalog_files) {
    if (auto loaded = catalog->load_file(file); !loaded) return fail(loaded.error());
  }
  auto measured = quickstart::read_measured_run(f.report_dir, {.time_scale = f.time_scale});
  if (!measured) return fail(measured.error());
  for (const auto& warning : measured->warnings) log::warn("{}", warning);

  quickstart::CalibrateOptions& o = f.options;
  if (o.setup.model.empty()) {
    if (measured->model.empty() || !catalog->model(measured->model)) {
      return fail(
          "--model is needed: the report {} (see `kgai quickstart models list`)",
          measured->model.empty()
              ? std::string("does not name the served model")
              : fmt::format("names '{}', which the catalog does not know", measured->model));
    }
    o.setup.model = measured->model;
  }
  o.setup.enable_prefix_caching = !f.no_prefix_caching;
  o.setup.enable_chunked_prefill = !f.no_chunked_prefill;
  if (!f.quiet) {
    o.progress = [](const std::string& line) { fmt::print(stderr, "calibrate: {}\n", line); };
  }
  auto c = quickstart::calibrate(*catalog, *measured, o);
  if (!c) return fail(c.error());

  std::string overlay_note;
  if (!f.out.empty()) {
    if (auto w = write_text_file(f.out, quickstart::overlay_yaml(*c, *measured, utc_now())); !w) {
      return fail(w.error());
    }
    overlay_note = fmt::format(
        "overlay: {} (use it with --catalog {} in kgai sim and kgai quickstart)\n", f.out, f.out);
  } else {
    overlay_note = "overlay: not written (give --out FILE)\n";
  }
  if (f.format == "json") {
    auto j = quickstart::calibration_json(*c, *measured);
    j["overlay"] = f.out.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(f.out);
    return j.dump(2) + "\n";
  }
  return quickstart::calibration_table(*c, *measured) + overlay_note;
}

}  // namespace

void add_quickstart_calibrate_command(CLI::App& quickstart, int& exit_code) {
  auto* cmd = quickstart.add_subcommand(
      "calibrate",
      "Fit the latency model's efficiency factors to a measured run: replays each stage of a "
      "kgai perf (or Inference Perf) report in virtual time, fits the factors the stages can "
      "tell apart (memory bandwidth share, step overhead, API-server overhead, prefill and "
      "decode compute share, per-request cost) to the measured median TTFT, median TPOT and "
      "output throughput, prints measured vs predicted before and after, and writes a catalog "
      "overlay (--out) for --catalog. Efficiency is per accelerator, not per model.");
  auto f = std::make_shared<CalibrateFlags>();
  auto& setup = f->options.setup;
  cmd->add_option("--perf-report", f->report_dir,
                  "Report folder of the measured run (kgai perf --out, or Inference Perf's)")
      ->required();
  cmd->add_option("--model", setup.model,
                  "Model, by catalog name or alias (default: the report's served model)");
  cmd->add_option("--accelerator", setup.accelerator, "Accelerator, by catalog name or alias")
      ->required();
  cmd->add_option("--tp", setup.tensor_parallel, "Tensor-parallel size of the measured server")
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", setup.max_num_seqs,
                  "The server's max running requests (0 = vLLM's default)")
      ->capture_default_str();
  cmd->add_option("--max-num-batched-tokens", setup.max_num_batched_tokens,
                  "The server's token budget per step (0 = vLLM's default)")
      ->capture_default_str();
  cmd->add_option("--max-model-len", setup.max_model_len,
                  "The server's context length (0 = the model's)")
      ->capture_default_str();
  cmd->add_option("--block-size", setup.block_size, "KV cache block size in tokens")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-utilization", setup.gpu_memory_utilization,
                  "The server's share of memory for weights, activations and KV cache")
      ->capture_default_str();
  cmd->add_flag("--no-prefix-caching", f->no_prefix_caching,
                "The server ran without prefix caching");
  cmd->add_flag("--no-chunked-prefill", f->no_chunked_prefill,
                "The server ran without chunked prefill");
  cmd->add_option("--long-prefill-token-threshold", setup.long_prefill_token_threshold,
                  "The server's cap on one prefill chunk (0 = none)")
      ->capture_default_str();
  cmd->add_option("--catalog", f->catalog_files,
                  "Catalog YAML file(s) adding or overriding models and accelerators (the "
                  "starting point of the fit)");
  cmd->add_option("--out", f->out, "Write the fitted factors here as a catalog overlay (YAML)");
  cmd->add_option("--format", f->format, "table or json")->capture_default_str();
  cmd->add_option("--requests-per-stage", f->options.requests_per_stage,
                  "Requests each replay of a stage simulates (a closed-loop stage at least 2x "
                  "its concurrency)")
      ->capture_default_str();
  cmd->add_option("--max-simulations", f->options.max_simulations,
                  "Candidate factor sets the fit may replay")
      ->capture_default_str();
  cmd->add_option("--time-scale", f->time_scale,
                  "The run was measured against `kgai sim --time-scale X`: latencies are "
                  "multiplied and rates divided by X")
      ->capture_default_str();
  cmd->add_option("--seed", f->options.seed, "Seed of the replayed arrivals and lengths")
      ->capture_default_str();
  cmd->add_flag("--quiet", f->quiet, "No progress lines on stderr");
  cmd->callback([&exit_code, f] {
    auto out = run(*f);
    if (!out) {
      log::error("{}", out.error().message);
      exit_code = 2;
      return;
    }
    fmt::print("{}", *out);
  });
}

}  // namespace kgai::cli
