// `kgai perf`: an Inference Perf-compatible benchmark. Reads Inference Perf's YAML (or builds
// a config from flags), runs the stages, writes the reports and prints a summary.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/log.h"
#include "common/text_file.h"
#include "perf/compare.h"
#include "perf/config.h"
#include "perf/merge.h"
#include "perf/report.h"
#include "perf/runner.h"

namespace kgai::cli {

namespace {

struct PerfFlags {
  std::string config_file;
  std::string url;
  std::string model;
  std::string api;
  bool stream = false;
  double rate = 0;
  int concurrency = 0;
  int64_t num_requests = 0;
  double duration = 0;
  std::string load_type;  // constant | poisson
  double burstiness = 0;
  std::string data;
  std::string input_len;
  std::string output_len;
  std::string out_dir;
  int64_t seed = -1;
  std::string goodput;
  double request_timeout = 0;
  int workers = 0;
  bool per_request = false;
  bool quiet = false;
  double scrape_interval = 0;
  std::string shard;  // "i/N"
  double start_at = 0;
};

// "N" (exactly N), "normal:MEAN,SD" or "uniform:MIN,MAX" into Inference Perf's distribution;
// uniform switches the dataset to "random".
Result<perf::Distribution> parse_length(const std::string& text, bool& uniform) {
  perf::Distribution d;
  auto number = [&](std::string_view s) -> Result<double> {
    try {
      size_t used = 0;
      double v = std::stod(std::string(s), &used);
      if (used != s.size() || !(v >= 1) || v > 1e7) throw std::invalid_argument("");
      return v;
    } catch (...) {
      return fail("'{}': expected a token count, normal:MEAN,SD or uniform:MIN,MAX", text);
    }
  };
  auto two = [&](std::string_view rest) -> Result<std::pair<double, double>> {
    auto comma = rest.find(',');
    if (comma == std::string_view::npos) return fail("'{}': expected two numbers", text);
    auto a = number(rest.substr(0, comma));
    auto b = number(rest.substr(comma + 1));
    if (!a) return fail(a.error());
    if (!b) return fail(b.error());
    return std::pair{*a, *b};
  };
  std::string_view t = text;
  if (t.starts_with("normal:")) {
    auto v = two(t.substr(7));
    if (!v) return fail(v.error());
    d.mean = v->first;
    d.std_dev = v->second;
    d.min = 1;
    d.max = static_cast<int>(v->first + 6 * v->second);
  } else if (t.starts_with("uniform:")) {
    auto v = two(t.substr(8));
    if (!v) return fail(v.error());
    if (v->second < v->first) return fail("'{}': uniform needs MIN <= MAX", text);
    d.min = static_cast<int>(v->first);
    d.max = static_cast<int>(v->second);
    d.mean = (v->first + v->second) / 2;
    uniform = true;
  } else {
    auto v = number(t);
    if (!v) return fail(v.error());
    d.mean = *v;
    d.min = d.max = static_cast<int>(*v);
  }
  return d;
}

Result<perf::GoodputConstraints> parse_goodput(const std::string& text) {
  perf::GoodputConstraints g;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = item.find('=');
    if (eq == std::string::npos) return fail("--goodput: '{}' is not NAME=SECONDS", item);
    std::string name = item.substr(0, eq);
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !(value > 0)) throw std::invalid_argument("");
    } catch (...) {
      return fail("--goodput: '{}' needs a positive number of seconds", item);
    }
    if (name == "ttft")
      g.ttft = value;
    else if (name == "tpot")
      g.tpot = value;
    else if (name == "itl")
      g.itl = value;
    else if (name == "ntpot")
      g.ntpot = value;
    else if (name == "e2e" || name == "request_latency")
      g.request_latency = value;
    else
      return fail("--goodput: unknown constraint '{}' (ttft, tpot, itl, ntpot, e2e)", name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return g;
}

Result<void> apply_flags(const PerfFlags& f, perf::PerfConfig& c) {
  if (!f.url.empty()) c.server.base_url = f.url;
  if (!f.model.empty()) c.server.model_name = f.model;
  if (!f.api.empty()) {
    if (f.api != "completion" && f.api != "chat") return fail("--api must be completion or chat");
    c.api.type = f.api;
  }
  if (f.stream) c.api.streaming = true;
  if (f.rate > 0 && f.concurrency > 0) return fail("give --rate or --concurrency, not both");
  if (f.rate > 0 || f.concurrency > 0) c.load.stages.clear();
  if (f.rate > 0) {
    c.load.type = f.load_type.empty() ? "constant" : f.load_type;
    c.load.stages.push_back({.rate = f.rate, .duration = f.duration > 0 ? f.duration : 30});
  } else if (f.concurrency > 0) {
    c.load.type = "concurrent";
    c.load.stages.push_back(
        {.num_requests = f.num_requests > 0 ? f.num_requests : f.concurrency * 10,
         .concurrency_level = f.concurrency});
  } else if (!f.load_type.empty()) {
    c.load.type = f.load_type;
  }
  if (f.burstiness > 0) c.load.burstiness = f.burstiness;
  if (!f.data.empty()) c.data.type = f.data == "sharegpt" ? "shareGPT" : f.data;
  bool uniform = false;
  if (!f.input_len.empty()) {
    auto d = parse_length(f.input_len, uniform);
    if (!d) return fail("--input-len {}", d.error().message);
    c.data.input_distribution = *d;
  }
  if (!f.output_len.empty()) {
    auto d = parse_length(f.output_len, uniform);
    if (!d) return fail("--output-len {}", d.error().message);
    c.data.output_distribution = *d;
  }
  if ((!f.input_len.empty() || !f.output_len.empty()) && f.data.empty() && c.data.type == "mock") {
    c.data.type = uniform ? "random" : "synthetic";
  }
  if (!f.out_dir.empty()) c.storage.path = f.out_dir;
  if (f.seed >= 0) c.load.base_seed = static_cast<uint64_t>(f.seed);
  if (!f.goodput.empty()) {
    auto g = parse_goodput(f.goodput);
    if (!g) return fail(g.error());
    c.report.goodput = *g;
  }
  if (f.request_timeout > 0) c.load.request_timeout = f.request_timeout;
  if (f.workers > 0) c.load.num_workers = f.workers;
  if (f.per_request) c.report.per_request = true;
  if (f.scrape_interval > 0) c.metrics.scrape_interval = f.scrape_interval;
  return {};
}

int run_perf(const PerfFlags& f) {
  perf::PerfConfig config;
  if (!f.config_file.empty()) {
    std::vector<std::string> warnings;
    auto loaded = perf::load_config(f.config_file, warnings);
    for (const auto& w : warnings) log::warn("{}: {}", f.config_file, w);
    if (!loaded) {
      log::error("{}", loaded.error().message);
      return 2;
    }
    config = std::move(*loaded);
  } else if (f.url.empty()) {
    log::error("give --config FILE or --url URL (see kgai perf --help)");
    return 2;
  }
  if (auto applied = apply_flags(f, config); !applied) {
    log::error("{}", applied.error().message);
    return 2;
  }
  if (auto valid = perf::validate(config); !valid) {
    log::error("{}", valid.error().message);
    return 2;
  }
  perf::RunOptions options;
  if (!f.shard.empty()) {
    auto shard = perf::parse_shard(f.shard);
    if (!shard) {
      log::error("{}", shard.error().message);
      return 2;
    }
    options.shard = *shard;
  }
  options.start_at = f.start_at;
  const std::string out_dir = perf::resolve_output_dir(config.storage.path);
  const bool tty = !f.quiet && isatty(STDERR_FILENO);
  perf::RunHooks hooks;
  if (!f.quiet) {
    hooks.progress = [tty](const perf::StagePlan& plan, const perf::Progress& p) {
      const double rate = p.elapsed > 0 ? p.sent / p.elapsed : 0.0;
      std::string line =
          fmt::format("stage {} {:6.1f}s  sent {}  in flight {}  done {}  errors {}  rate {:.1f}/s",
                      plan.index, p.elapsed, p.sent, p.in_flight, p.done, p.errors, rate);
      if (tty) {
        fmt::print(stderr, "\r\033[K{}", line);
      }
    };
    hooks.stage_done = [tty](const perf::StageResult& s) {
      if (tty) fmt::print(stderr, "\r\033[K");
      log::info("stage {} done: {} requests, {} errors, {:.1f} s", s.plan.index, s.samples.count,
                s.samples.count - s.samples.successes, s.end - s.start);
    };
  }
  auto run = perf::run_benchmark(config, hooks, options);
  if (!run) {
    log::error("{}", run.error().message);
    return 2;
  }
  fmt::print("{}", perf::console_summary(*run, config));
  if (auto written = perf::write_reports(*run, config, out_dir); !written) {
    log::error("{}", written.error().message);
    return 2;
  }
  fmt::print("reports: {}\n", out_dir);
  return 0;
}

int run_compare(const std::vector<std::string>& dirs, const std::string& out) {
  auto runs = perf::load_report_folders(dirs);
  if (!runs) {
    log::error("{}", runs.error().message);
    return 2;
  }
  fmt::print("{}", perf::format_compare_table(perf::compare_table(*runs)));
  if (out.empty()) return 0;
  if (auto written = write_text_file(out, perf::render_compare_html(*runs)); !written) {
    log::error("{}", written.error().message);
    return 2;
  }
  fmt::print("comparison: {}\n", out);
  return 0;
}

int run_merge(const std::vector<std::string>& dirs, const std::string& out) {
  auto merged = perf::merge_shards(dirs);
  if (!merged) {
    log::error("{}", merged.error().message);
    return 2;
  }
  merged->config.storage.path = out;
  fmt::print("{}", perf::console_summary(merged->run, merged->config));
  if (auto written = perf::write_reports(merged->run, merged->config, out); !written) {
    log::error("{}", written.error().message);
    return 2;
  }
  fmt::print("merged {} shards: {}\n", dirs.size(), out);
  return 0;
}

}  // namespace

void add_perf_command(CLI::App& app, int& exit_code) {
  auto* perf = app.add_subcommand(
      "perf",
      "Benchmark an OpenAI-compatible server: TTFT, TPOT, ITL, E2E, throughput and goodput, "
      "with Inference Perf's config files and report layout.");
  auto f = std::make_shared<PerfFlags>();
  perf->add_option("--config", f->config_file, "Inference Perf config YAML");
  perf->add_option("--url", f->url, "Server base URL, e.g. http://127.0.0.1:8000");
  perf->add_option("--model", f->model, "Model name (default: the first of /v1/models)");
  perf->add_option("--api", f->api, "completion or chat");
  perf->add_flag("--stream", f->stream, "Stream responses (SSE): needed for TTFT and ITL");
  perf->add_option("--rate", f->rate, "Open-loop requests/s (one stage)");
  perf->add_option("--load", f->load_type, "constant (evenly spaced) or poisson");
  perf->add_option("--burstiness", f->burstiness, "Gamma shape of the gaps with --load poisson");
  perf->add_option("--concurrency", f->concurrency, "Closed loop with C streams (one stage)");
  perf->add_option("--num-requests", f->num_requests, "Requests of a --concurrency stage");
  perf->add_option("--duration", f->duration, "Seconds of a --rate stage (default 30)");
  perf->add_option("--data", f->data, "mock, synthetic, random, shared_prefix or sharegpt");
  perf->add_option("--input-len", f->input_len, "N, normal:MEAN,SD or uniform:MIN,MAX tokens");
  perf->add_option("--output-len", f->output_len, "N, normal:MEAN,SD or uniform:MIN,MAX tokens");
  perf->add_option("--out", f->out_dir, "Report folder (default reports-<timestamp>)");
  perf->add_option("--seed", f->seed, "Seed of every random choice");
  perf->add_option("--goodput", f->goodput, "Constraints in seconds, e.g. ttft=0.5,tpot=0.05");
  perf->add_option("--request-timeout", f->request_timeout, "Seconds before a request fails");
  perf->add_option("--workers", f->workers, "Client threads (default: one per core)");
  perf->add_flag("--per-request", f->per_request, "Also write per_request_lifecycle_metrics.json");
  perf->add_flag("--quiet", f->quiet, "No progress line");
  perf->add_option("--scrape-interval", f->scrape_interval,
                   "Seconds between scrapes of the server's /metrics during a stage (default 1)");
  perf->add_option("--shard", f->shard,
                   "INDEX/COUNT: be one of COUNT load generators, sending every COUNT-th request "
                   "of each stage (needs --start-at; combine the folders with kgai perf merge)");
  perf->add_option("--start-at", f->start_at,
                   "Unix time (seconds) to start the first stage at, the same for every shard");

  auto* compare = perf->add_subcommand(
      "compare",
      "Compare report folders (kgai's or Inference Perf's) side by side; --out writes their "
      "latency-vs-throughput curves overlaid as HTML.");
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto compare_out = std::make_shared<std::string>();
  compare->add_option("dirs", *dirs, "Report folders")->required();
  compare->add_option("--out", *compare_out, "HTML file to write");
  compare->callback(
      [&exit_code, dirs, compare_out] { exit_code = run_compare(*dirs, *compare_out); });

  auto* merge = perf->add_subcommand(
      "merge",
      "Combine the report folders of a run's shards (--shard i/N) into one report, with exact "
      "percentiles over every shard's requests.");
  auto merge_dirs = std::make_shared<std::vector<std::string>>();
  auto merge_out = std::make_shared<std::string>();
  merge->add_option("dirs", *merge_dirs, "The shards' report folders")->required();
  merge->add_option("--out", *merge_out, "Folder for the merged report")->required();
  merge->callback(
      [&exit_code, merge_dirs, merge_out] { exit_code = run_merge(*merge_dirs, *merge_out); });

  perf->callback([&exit_code, f, perf] {
    // compare and merge ran in their own callbacks
    if (perf->got_subcommand("compare") || perf->got_subcommand("merge")) return;
    exit_code = run_perf(*f);
  });
}

}  // namespace kgai::cli
