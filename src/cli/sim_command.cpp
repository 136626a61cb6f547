// `kgai sim` (serve simulated vLLM replicas over HTTP) and `kgai sim offline` (the same
// engine in virtual time, printing a JSON summary).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/file_limit.h"
#include "common/http.h"
#include "common/log.h"
#include "sim/offline_runner.h"
#include "sim/openai_api.h"
#include "sim/replica.h"
#include "sim/setup.h"

namespace kgai::cli {

namespace {

struct EngineFlags {
  sim::SetupRequest setup{.model = "llama-3.1-8b", .accelerator = "h100"};
  std::vector<std::string> catalog_files;
  bool no_prefix_caching = false;
  bool no_chunked_prefill = false;
  uint64_t seed = 0;
};

void add_engine_flags(CLI::App& app, EngineFlags& f) {
  app.add_option("--model", f.setup.model, "Model, by catalog name or alias (see data/catalog)")
      ->capture_default_str();
  app.add_option("--accelerator", f.setup.accelerator, "Accelerator, by catalog name or alias")
      ->capture_default_str();
  app.add_option("--tp", f.setup.tensor_parallel, "Tensor-parallel size")->capture_default_str();
  app.add_option("--max-num-seqs", f.setup.max_num_seqs,
                 "Most requests running at once (default: vLLM's for the accelerator)");
  app.add_option("--max-num-batched-tokens", f.setup.max_num_batched_tokens,
                 "Token budget per step (default: vLLM's for the accelerator)");
  app.add_option("--max-model-len", f.setup.max_model_len,
                 "Context length (default: the model's, capped by the KV cache)");
  app.add_option("--block-size", f.setup.block_size, "KV cache block size in tokens")
      ->capture_default_str();
  app.add_option("--gpu-memory-utilization", f.setup.gpu_memory_utilization,
                 "Share of accelerator memory for weights, activations and KV cache")
      ->capture_default_str();
  app.add_flag("--no-prefix-caching", f.no_prefix_caching, "Disable automatic prefix caching");
  app.add_flag("--no-chunked-prefill", f.no_chunked_prefill, "Disable chunked prefill");
  app.add_option("--long-prefill-token-threshold", f.setup.long_prefill_token_threshold,
                 "Cap on one prefill chunk (0 = none)")
      ->capture_default_str();
  app.add_option("--max-loras", f.setup.max_loras, "LoRA adapters resident at once")
      ->capture_default_str();
  app.add_option("--max-waiting", f.setup.max_waiting,
                 "Waiting-queue capacity; beyond it requests get 429 (0 = unbounded)")
      ->capture_default_str();
  app.add_option("--catalog", f.catalog_files,
                 "Extra catalog YAML file(s) adding or overriding models and accelerators");
  app.add_option("--seed", f.seed, "Seed for every random choice")->capture_default_str();
}

struct Resolved {
  catalog::Catalog catalog;
  sim::Setup setup;
};

Result<Resolved> resolve(EngineFlags& f) {
  auto catalog = catalog::Catalog::builtin();
  if (!catalog) return fail(catalog.error());
  for (const auto& file : f.catalog_files) {
    if (auto loaded = catalog->load_file(file); !loaded) return fail(loaded.error());
  }
  f.setup.enable_prefix_caching = !f.no_prefix_caching;
  f.setup.enable_chunked_prefill = !f.no_chunked_prefill;
  Resolved r{std::move(*catalog), {}};
  auto setup = sim::make_setup(r.catalog, f.setup);
  if (!setup) return fail(setup.error());
  r.setup = std::move(*setup);
  for (const auto& note : r.setup.notes) log::warn("{}", note);
  return r;
}

std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      std::string item =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

struct ServeFlags {
  std::string host = "0.0.0.0";
  int port = 8000;
  int replicas = 1;
  int threads = 0;
  double time_scale = 1.0;
  double failure_rate = 0.0;
  bool allow_failure_header = false;
  int max_lora_adapters = 256;
  int64_t max_body_bytes = static_cast<int64_t>(http::kDefaultMaxBodyBytes);
  std::string served_model_name;
  std::vector<std::string> lora_modules;
  std::string natural_output = "lognormal:256,0.7";
  bool list = false;
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

int list_catalog(const EngineFlags& ef) {
  auto catalog = catalog::Catalog::builtin();
  if (!catalog) {
    log::error("{}", catalog.error().message);
    return 2;
  }
  for (const auto& file : ef.catalog_files) {
    if (auto loaded = catalog->load_file(file); !loaded) {
      log::error("{}", loaded.error().message);
      return 2;
    }
  }
  fmt::print("Models:\n");
  for (const auto& m : catalog->models()) {
    fmt::print("  {:<40} {:>6.1f}B params, context {:>6}, aliases: {}\n", m.name,
               m.num_params / 1e9, m.max_model_len, join(m.aliases));
  }
  fmt::print("Accelerators:\n");
  for (const auto& a : catalog->accelerators()) {
    fmt::print("  {:<20} {:>5.0f} TFLOP/s, {:>5.1f} GiB, {:>4.2f} TB/s, aliases: {}\n", a.name,
               a.peak_flops / 1e12, a.memory_bytes / (1024.0 * 1024 * 1024),
               a.memory_bandwidth / 1e12, join(a.aliases));
  }
  return 0;
}

int serve(EngineFlags& ef, const ServeFlags& sf) {
  if (sf.list) return list_catalog(ef);
  if (sf.replicas < 1 || sf.replicas > 1024) {
    log::error("--replicas must be between 1 and 1024, got {}", sf.replicas);
    return 2;
  }
  if (sf.port < 0 || sf.port > 65535 || (sf.port > 0 && sf.port + sf.replicas - 1 > 65535)) {
    log::error("--port {} with {} replicas runs past port 65535", sf.port, sf.replicas);
    return 2;
  }
  if (!(sf.time_scale > 0 && sf.time_scale <= 1e6)) {
    log::error("--time-scale must be in (0, 1e6], got {}", sf.time_scale);
    return 2;
  }
  if (!(sf.failure_rate >= 0 && sf.failure_rate <= 1)) {
    log::error("--failure-rate must be in [0, 1], got {}", sf.failure_rate);
    return 2;
  }
  // Parsing a body costs the replica's event loop about 10 ms of CPU a MiB at worst (dense
  // small numbers), so a larger limit is a longer possible stall; 1 GiB is past any use.
  if (sf.max_body_bytes < 1 || sf.max_body_bytes > (int64_t{1} << 30)) {
    log::error("--max-body-bytes must be between 1 and 1073741824, got {}", sf.max_body_bytes);
    return 2;
  }
  if (sf.max_lora_adapters < 0 || sf.max_lora_adapters > 100000) {
    log::error("--max-lora-adapters must be between 0 and 100000, got {}", sf.max_lora_adapters);
    return 2;
  }
  const auto loras = split_commas(sf.lora_modules);
  for (const auto& name : loras) {
    if (auto ok = sim::check_lora_name(name); !ok) {
      log::error("--lora-modules: adapter name '{}' {}", sim::shortened(name), ok.error().message);
      return 2;
    }
  }
  if (static_cast<int64_t>(loras.size()) > sf.max_lora_adapters) {
    log::error("--lora-modules names {} adapters, more than --max-lora-adapters {}", loras.size(),
               sf.max_lora_adapters);
    return 2;
  }
  auto natural = sim::LengthDistribution::parse(sf.natural_output);
  if (!natural) {
    log::error("--natural-output-len {}", natural.error().message);
    return 2;
  }
  auto resolved = resolve(ef);
  if (!resolved) {
    log::error("{}", resolved.error().message);
    return 2;
  }
  const sim::Setup& setup = resolved->setup;

  // Signals are taken by this thread alone (sigwait), so block them before any thread starts.
  const sigset_t signals = block_stop_signals();
  // One descriptor per client connection: thousands of streams need more than the usual 1024.
  const uint64_t file_limit = raise_open_file_limit();
  log::debug("open-file limit: {}", file_limit);

  const int hardware = std::max(1u, std::thread::hardware_concurrency());
  const int num_loops =
      sf.threads > 0 ? std::min(sf.threads, sf.replicas) : std::min(sf.replicas, hardware);
  std::vector<std::unique_ptr<EventLoop>> loops;
  for (int i = 0; i < num_loops; ++i) loops.push_back(std::make_unique<EventLoop>());
  RealClock clock(sf.time_scale);

  std::vector<std::unique_ptr<sim::Replica>> replicas;
  const std::string served =
      sf.served_model_name.empty() ? setup.model->name : sf.served_model_name;
  for (int i = 0; i < sf.replicas; ++i) {
    sim::ReplicaOptions o;
    o.index = i;
    o.served_model_name = served;
    o.model_path = setup.model->name;
    o.engine = setup.engine;
    o.cache = setup.cache;
    o.lora_modules = loras;
    o.max_lora_adapters = sf.max_lora_adapters;
    o.failure_rate = sf.failure_rate;
    o.allow_failure_header = sf.allow_failure_header;
    o.seed = ef.seed + static_cast<uint64_t>(i);
    o.natural_output = *natural;
    o.http.address = sf.host;
    o.http.port = static_cast<uint16_t>(sf.port == 0 ? 0 : sf.port + i);
    o.http.max_body_bytes = static_cast<size_t>(sf.max_body_bytes);
    auto replica = std::make_unique<sim::Replica>(*loops[static_cast<size_t>(i % num_loops)], clock,
                                                  *setup.latency, std::move(o));
    auto port = replica->start();
    if (!port) {
      log::error("replica {}: {}", i, port.error().message);
      return 2;
    }
    // One line per replica on stdout, so scripts and tests can find the ports.
    fmt::print("kgai sim: replica {} serving {} on http://{}:{}\n", i, served, sf.host, *port);
    replicas.push_back(std::move(replica));
  }
  std::fflush(stdout);
  log::info(
      "{} on {} x {}: {} KV blocks of {} tokens, max_model_len {}, max_num_seqs {}, "
      "max_num_batched_tokens {}, time scale {}",
      setup.model->name, ef.setup.tensor_parallel, setup.accelerator->name,
      setup.engine.num_gpu_blocks, setup.engine.block_size, setup.engine.max_model_len,
      setup.engine.max_num_seqs, setup.engine.max_num_batched_tokens, sf.time_scale);

  std::vector<std::thread> threads;
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });
  log::info("signal {}: stopping", wait_for_stop_signal(signals));
  for (size_t i = 0; i < replicas.size(); ++i) {
    auto* replica = replicas[i].get();
    loops[i % loops.size()]->post([replica] { replica->stop(); });
  }
  for (auto& loop : loops) loop->post([l = loop.get()] { l->stop(); });
  for (auto& t : threads) t.join();
  replicas.clear();
  return 0;
}

struct OfflineFlags {
  double rate = 0;
  int concurrency = 0;
  double duration = 0;
  int64_t num_requests = 0;
  std::string input_len = "200";
  std::string output_len = "60";
  int shared_prefix_groups = 0;
  int shared_prefix_len = 0;
  int turns = 1;
  double think_time = 0;
  std::string out_file;
  bool quiet = false;
};

int offline(EngineFlags& ef, const OfflineFlags& of) {
  sim::OfflineOptions options;
  sim::WorkloadSpec& w = options.workload;
  w.rate = of.rate;
  w.concurrency = of.concurrency;
  w.duration = of.duration;
  w.num_requests = of.num_requests;
  w.seed = ef.seed;
  if (of.rate < 0 || of.concurrency < 0 || of.duration < 0 || of.num_requests < 0 ||
      of.shared_prefix_groups < 0 || of.shared_prefix_len < 0) {
    log::error("rates, counts, durations and lengths must not be negative");
    return 2;
  }
  if ((of.rate > 0) == (of.concurrency > 0)) {
    log::error("set exactly one of --rate or --concurrency");
    return 2;
  }
  if (of.duration <= 0 && of.num_requests <= 0) {
    log::error("set --duration or --num-requests");
    return 2;
  }
  auto input = sim::LengthDistribution::parse(of.input_len);
  auto output = sim::LengthDistribution::parse(of.output_len);
  if (!input || !output) {
    log::error("{}", !input ? "--input-len " + input.error().message
                            : "--output-len " + output.error().message);
    return 2;
  }
  w.input = *input;
  w.output = *output;
  w.shared_prefix_groups = of.shared_prefix_groups;
  w.shared_prefix_len = of.shared_prefix_len;
  w.turns = of.turns;
  w.think_time = of.think_time;
  if (auto valid = w.validate(); !valid) {
    log::error("{}", valid.error().message);
    return 2;
  }
  if ((of.shared_prefix_groups > 0) != (of.shared_prefix_len > 0)) {
    log::error("--shared-prefix-groups and --shared-prefix-len go together");
    return 2;
  }

  auto resolved = resolve(ef);
  if (!resolved) {
    log::error("{}", resolved.error().message);
    return 2;
  }
  options.engine = resolved->setup.engine;
  auto last_print = std::chrono::steady_clock::now();
  if (!of.quiet) {
    options.progress = [&](double sim_seconds, uint64_t finished) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_print < std::chrono::seconds(2)) return;
      last_print = now;
      log::info("simulated {:.0f} s, {} requests finished", sim_seconds, finished);
    };
  }
  auto summary = sim::run_offline(options, *resolved->setup.latency);
  if (!summary) {
    log::error("{}", summary.error().message);
    return 2;
  }
  const sim::Setup& s = resolved->setup;
  (*summary)["config"] = {
      {"model", s.model->name},
      {"accelerator", s.accelerator->name},
      {"tensor_parallel", ef.setup.tensor_parallel},
      {"max_num_seqs", s.engine.max_num_seqs},
      {"max_num_batched_tokens", s.engine.max_num_batched_tokens},
      {"max_model_len", s.engine.max_model_len},
      {"enable_prefix_caching", s.engine.enable_prefix_caching},
      {"enable_chunked_prefill", s.engine.enable_chunked_prefill},
      {"input_len", w.input.text()},
      {"output_len", w.output.text()},
      {"shared_prefix_groups", w.shared_prefix_groups},
      {"shared_prefix_len", w.shared_prefix_len},
      {"multi_turn", w.turns},
      {"think_time", w.think_time},
      {"seed", ef.seed},
  };
  const std::string text = summary->dump(2);
  if (of.out_file.empty()) {
    fmt::print("{}\n", text);
  } else {
    std::FILE* f = std::fopen(of.out_file.c_str(), "w");
    if (!f || std::fputs(text.c_str(), f) < 0 || std::fclose(f) != 0) {
      log::error("cannot write {}", of.out_file);
      return 2;
    }
  }
  return 0;
}

}  // namespace

void add_sim_command(CLI::App& app, int& exit_code) {
  auto* sim = app.add_subcommand(
      "sim",
      "Simulate vLLM model servers: the OpenAI API, SSE streaming and vLLM's /metrics, with "
      "latencies from a roofline model of the model on the accelerator.");
  auto engine_flags = std::make_shared<EngineFlags>();
  auto serve_flags = std::make_shared<ServeFlags>();
  add_engine_flags(*sim, *engine_flags);
  sim->add_option("--host", serve_flags->host, "Address to listen on")->capture_default_str();
  sim->add_option("--port", serve_flags->port,
                  "First port; replica i listens on port + i (0 = pick free ports)")
      ->capture_default_str();
  sim->add_option("--replicas", serve_flags->replicas, "Independent servers in this process")
      ->capture_default_str();
  sim->add_option("--threads", serve_flags->threads,
                  "Event-loop threads (default: one per core, at most one per replica)");
  sim->add_option("--time-scale", serve_flags->time_scale,
                  "Run simulated time this many times faster than the wall clock")
      ->capture_default_str();
  sim->add_option("--failure-rate", serve_flags->failure_rate,
                  "Share of requests answered with an injected 429, 500 or 503")
      ->capture_default_str();
  sim->add_flag("--allow-failure-header", serve_flags->allow_failure_header,
                "Let the request header 'x-kgai-fail: CODE' force that error status (for tests "
                "of retries; without this flag the header is ignored)");
  sim->add_option("--served-model-name", serve_flags->served_model_name,
                  "Model name clients use (default: the catalog's full name)");
  sim->add_option("--lora-modules", serve_flags->lora_modules,
                  "LoRA adapters served from the start (comma-separated names)");
  sim->add_option("--max-body-bytes", serve_flags->max_body_bytes,
                  "Largest request body (413 beyond); keep it equal to the gateway's")
      ->capture_default_str();
  sim->add_option("--max-lora-adapters", serve_flags->max_lora_adapters,
                  "Most LoRA adapters loaded at once (--lora-modules and "
                  "/v1/load_lora_adapter together); loads beyond it get 400")
      ->capture_default_str();
  sim->add_flag("--list", serve_flags->list,
                "List the models and accelerators of the catalog (with --catalog files) and exit");
  sim->add_option("--natural-output-len", serve_flags->natural_output,
                  "Where the model stops by itself when ignore_eos is not set "
                  "(a length distribution, see 'sim offline --help')")
      ->capture_default_str();

  auto* off = sim->add_subcommand(
      "offline",
      "Run the simulator in virtual time against a generated workload and print a JSON "
      "summary (Inference Perf's layout). Length distributions: N, normal:MEAN,SD, "
      "uniform:MIN,MAX, exponential:MEAN, lognormal:MEAN,SIGMA.");
  auto offline_engine_flags = std::make_shared<EngineFlags>();
  auto offline_flags = std::make_shared<OfflineFlags>();
  add_engine_flags(*off, *offline_engine_flags);
  off->add_option("--rate", offline_flags->rate, "Poisson arrival rate (requests/s)");
  off->add_option("--concurrency", offline_flags->concurrency, "Closed loop with C clients");
  off->add_option("--duration", offline_flags->duration, "Simulated seconds of arrivals");
  off->add_option("--num-requests", offline_flags->num_requests, "Requests to send");
  off->add_option("--input-len", offline_flags->input_len, "Prompt length (tokens)")
      ->capture_default_str();
  off->add_option("--output-len", offline_flags->output_len, "Output length (tokens)")
      ->capture_default_str();
  off->add_option("--shared-prefix-groups", offline_flags->shared_prefix_groups,
                  "Groups of requests sharing a system prompt");
  off->add_option("--shared-prefix-len", offline_flags->shared_prefix_len,
                  "Length of the shared system prompt (tokens)");
  off->add_option("--multi-turn", offline_flags->turns,
                  "Turns per conversation: each next turn's prompt is the previous prompt, its "
                  "answer and a new message (--input-len), sent after the answer and a think time")
      ->capture_default_str();
  off->add_option("--think-time", offline_flags->think_time,
                  "Mean seconds (exponential) between an answer and the next turn")
      ->capture_default_str();
  off->add_option("--out", offline_flags->out_file, "Write the summary here instead of stdout");
  off->add_flag("--quiet", offline_flags->quiet, "No progress lines on stderr");

  off->callback([&exit_code, offline_engine_flags, offline_flags] {
    exit_code = offline(*offline_engine_flags, *offline_flags);
  });
  sim->callback([&exit_code, sim, engine_flags, serve_flags] {
    if (sim->got_subcommand("offline")) return;
    exit_code = serve(*engine_flags, *serve_flags);
  });
}

}  // namespace kgai::cli
