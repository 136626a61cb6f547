#include "perf/runner.h"

#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <xxhash.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/log.h"
#include "perf/dataset.h"
#include "perf/request_body.h"
#include "perf/server_metrics.h"
#include "perf/sweep.h"

namespace kgai::perf {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(SteadyTime a, SteadyTime b) {
  return std::chrono::duration<double>(b - a).count();
}

// Prompts are drawn from the dataset in index order, so a seed gives the same request i
// whichever worker asks first; workers ask roughly in order, so the window stays small.
// A shard draws every prompt too (the generator's state must advance alike in every shard) but
// keeps only its own; the others count as taken at once.
class PromptWindow {
 public:
  PromptWindow(Dataset& dataset, uint64_t seed, bool chat, Shard shard = {})
      : dataset_(dataset), rng_(seed), chat_(chat), shard_(shard) {}

  Prompt get(uint64_t index) {
    std::lock_guard lock(mutex_);
    while (base_ + window_.size() <= index) {
      const bool theirs = shard_.active() && !shard_.owns(base_ + window_.size());
      window_.push_back({dataset_.next(rng_, chat_), theirs});
      if (theirs) window_.back().prompt = {};  // free its text now
    }
    Entry& e = window_[index - base_];
    e.taken = true;
    Prompt p = e.prompt;  // a copy: the entry may be dropped below
    while (!window_.empty() && window_.front().taken) {
      window_.pop_front();
      ++base_;
    }
    return p;
  }

 private:
  struct Entry {
    Prompt prompt;
    bool taken;
  };
  Dataset& dataset_;
  std::mt19937_64 rng_;
  bool chat_;
  Shard shard_;
  std::mutex mutex_;
  std::deque<Entry> window_;
  uint64_t base_ = 0;
};

// Deterministic adapter choice for request `index` by the configured traffic split.
std::string pick_lora(const std::vector<LoraSplit>& split, uint64_t seed, int stage,
                      uint64_t index) {
  if (split.empty()) return {};
  const uint64_t key[3] = {seed, static_cast<uint64_t>(stage), index};
  const double u = static_cast<double>(XXH3_64bits(key, sizeof key) >> 11) * 0x1.0p-53;
  double cumulative = 0;
  for (const auto& s : split) {
    cumulative += s.split;
    if (u < cumulative) return s.name;
  }
  return split.back().name;
}

// Request `index` of a stage (of this shard's share; `shard` maps it to the whole stage's): its
// prompt, its adapter by the traffic split (none for the sweep's burst, stage -1), and the body
// for them.
RequestSource make_source(const PerfConfig& config, const std::string& model, PromptWindow& prompts,
                          int stage, Shard shard = {}) {
  return [&config, renderer = RequestBodyRenderer(config, model), &prompts, stage,
          shard](uint64_t local) {
    const uint64_t index = shard.global_index(local);
    Prompt p = prompts.get(index);
    OutgoingRequest out;
    if (stage >= 0) {
      out.lora = pick_lora(config.load.lora_traffic_split, config.load.base_seed, stage, index);
    }
    out.body = renderer.render(p, out.lora);
    out.input_tokens = p.input_tokens;
    return out;
  };
}

// Seconds until the agreed Unix start time `start_at` (0 when none or already here). Refuses a
// start long past (a shard started too late would send its whole stage at once) or far ahead
// (usually milliseconds given for seconds).
Result<double> start_delay(double start_at) {
  if (start_at <= 0) return 0.0;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double left = start_at - now;
  if (left < -5) {
    return fail(
        "--start-at {:.3f}: that was {:.1f} s ago; give every shard a start time in "
        "the future (e.g. $(( $(date +%s) + 60 )))",
        start_at, -left);
  }
  if (left > 86400) {
    return fail("--start-at {:.3f}: more than a day from now; it is Unix time in seconds",
                start_at);
  }
  return std::max(0.0, left);
}

// The steady-clock time at Unix time `unix_seconds`.
SteadyTime steady_at(double unix_seconds) {
  const double now_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return Clock::now() + std::chrono::duration_cast<SteadyTime::duration>(
                            std::chrono::duration<double>(unix_seconds - now_unix));
}

}  // namespace

std::string request_body(const PerfConfig& config, const std::string& model, const Prompt& p) {
  return RequestBodyRenderer(config, model).render(p);
}

Result<std::string> discover_model(const std::string& base_url) {
  http::ClientOptions options;
  options.request_timeout = std::chrono::milliseconds(10'000);
  auto response = http::get(base_url + "/v1/models", options);
  if (!response) return fail("model discovery: {}", response.error().message);
  if (response->status != 200) {
    return fail("model discovery: GET {}/v1/models answered {}", base_url, response->status);
  }
  auto j = nlohmann::json::parse(response->body, nullptr, false);
  if (j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
      !j["data"][0].contains("id") || !j["data"][0]["id"].is_string()) {
    return fail("model discovery: {}/v1/models did not list a model; set server.model_name",
                base_url);
  }
  return j["data"][0]["id"].get<std::string>();
}

Result<RunResult> run_benchmark(const PerfConfig& config, const RunHooks& hooks,
                                const RunOptions& options) {
  auto url = http::parse_url(config.server.base_url);
  if (!url) return fail("server.base_url: {}", url.error().message);
  const Shard shard = options.shard;
  const bool sweep = config.load.sweep.has_value();
  if (shard.active() && sweep) {
    return fail(
        "--shard: a sweep cannot be sharded (each shard would measure its own saturation "
        "point); run the sweep once without --shard, then give its rates as load.stages");
  }
  if (shard.active() && options.start_at <= 0) {
    return fail(
        "--shard needs --start-at UNIX_SECONDS, the same for every shard, so they start "
        "their stages together");
  }
  auto wait = start_delay(options.start_at);
  if (!wait) return fail(wait.error());

  RunResult result;
  result.base_url = config.server.base_url;
  result.shard = shard;
  result.start_at = options.start_at;
  if (config.server.model_name.empty()) {
    auto model = discover_model(config.server.base_url);
    if (!model) return fail(model.error());
    result.model = *model;
    log::info("model: {} (from /v1/models)", result.model);
  } else {
    result.model = config.server.model_name;
  }

  auto dataset = make_dataset(config.data);
  if (!dataset) return fail(dataset.error());
  auto stages = sweep ? Result<std::vector<StagePlan>>{} : plan_stages(config.load);
  if (!stages) return fail(stages.error());
  // Every shard's share, checked before any request is sent.
  std::vector<StagePlan> shares;
  if (!sweep) {
    for (const auto& whole : *stages) {
      auto share = shard_plan(whole, shard);
      if (!share) return fail(share.error());
      shares.push_back(std::move(*share));
    }
  }

  ClientOptions client_options;
  client_options.host = url->host;
  client_options.port = url->port;
  std::string prefix = url->target == "/" ? "" : url->target;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  client_options.path =
      prefix + (config.api.type == "chat" ? "/v1/chat/completions" : "/v1/completions");
  client_options.stream = config.api.streaming;
  for (const auto& [name, value] : config.api.headers) {
    client_options.headers.emplace_back(name, value);
  }
  if (!config.server.api_key.empty()) {
    client_options.headers.emplace_back("Authorization", "Bearer " + config.server.api_key);
  }
  client_options.num_workers = config.load.num_workers;
  client_options.max_connections =
      config.load.worker_max_tcp_connections > 0
          ? config.load.worker_max_tcp_connections * std::max(1, config.load.num_workers)
          : 0;
  client_options.request_timeout = config.load.request_timeout;
  auto client = Client::create(client_options);
  if (!client) return fail(client.error());
  // Only when a report wants it: direct scraping adds load on the server under test.
  std::unique_ptr<ServerMetricsCollector> server_metrics;
  if ((config.report.prometheus_summary || config.report.prometheus_per_stage) &&
      shard.index == 0) {
    auto collector = ServerMetricsCollector::create(server_metrics_options(config));
    if (!collector) return fail(collector.error());
    server_metrics = std::move(*collector);
  }

  // The agreed start, recomputed after the setup above (model discovery may take a while).
  const bool agreed = options.start_at > 0;
  if (agreed) {
    auto left = start_delay(options.start_at);
    if (!left) return fail(left.error());
    if (*left > 0) {
      log::info("waiting {:.1f} s for the agreed start", *left);
      std::this_thread::sleep_for(std::chrono::duration<double>(*left));
    }
  }
  const SteadyTime run_start = agreed ? steady_at(options.start_at) : Clock::now();
  if (sweep) {
    // The burst's prompts come from the same dataset, under their own seed.
    PromptWindow prompts(**dataset, config.load.base_seed + 7, config.api.type == "chat");
    RequestSource source = make_source(config, result.model, prompts, /*stage=*/-1);
    auto saturation = measure_saturation(**client, *config.load.sweep, source, run_start);
    if (!saturation) return fail(saturation.error());
    result.saturation_rate = *saturation;
    stages = plan_sweep(config.load, *saturation);
    if (!stages) return fail(stages.error());
    shares = *stages;
  }
  // Let the workers settle before the first send time (after a sweep's burst, from its end).
  constexpr auto kSettle = std::chrono::milliseconds(20);
  SteadyTime stage_start = (sweep ? Clock::now() : run_start) + kSettle;
  for (size_t i = 0; i < stages->size(); ++i) {
    const StagePlan& whole = (*stages)[i];
    const StagePlan& plan = shares[i];
    if (i > 0) {
      const StagePlan& previous = (*stages)[i - 1];
      if (agreed && !previous.offsets.empty()) {
        // Every shard computes the same start: the previous start, its duration, the interval.
        stage_start += std::chrono::duration_cast<SteadyTime::duration>(
            std::chrono::duration<double>(previous.duration + config.load.interval));
      } else {
        // A closed-loop stage has no planned end: the next starts when this generator is done.
        if (config.load.interval > 0) {
          std::this_thread::sleep_for(std::chrono::duration<double>(config.load.interval));
        }
        stage_start = Clock::now() + kSettle;
      }
    }
    const double late = seconds_between(stage_start, Clock::now());
    if (agreed && late > 0.005) {
      log::warn(
          "stage {} starts {:.3f} s after its agreed time (the previous stage was still "
          "draining); its first requests show it as schedule delay. A longer load.interval "
          "gives stages time to drain.",
          plan.index, late);
    }
    PromptWindow prompts(**dataset, config.load.base_seed + 1000003ULL * (i + 1),
                         config.api.type == "chat", shard);
    const std::string& model = result.model;
    RequestSource source = make_source(config, model, prompts, plan.index, shard);
    StageRun run;
    run.stage = plan.index;
    run.offsets = plan.offsets;
    run.concurrency = plan.concurrency;
    run.num_requests = plan.num_requests;
    run.max_in_flight =
        config.load.worker_max_concurrency > 0
            ? config.load.worker_max_concurrency * std::max(1, config.load.num_workers)
            : 0;
    // Before the stage clock starts: the baseline scrape may take a moment.
    if (server_metrics) server_metrics->start_stage(plan.index);
    std::function<void(const Progress&)> progress;
    if (hooks.progress) progress = [&](const Progress& p) { hooks.progress(plan, p); };
    std::vector<RequestRecord> records;
    // A shard may own no request of a small stage; it still keeps the stage's time.
    if (plan.num_requests > 0 || !plan.offsets.empty()) {
      auto sent = (*client)->run_stage(run, source, run_start, stage_start, progress);
      if (!sent) return fail("stage {}: {}", plan.index, sent.error().message);
      records = std::move(*sent);
    }
    for (auto& r : records) r.index = shard.global_index(r.index);

    StageResult stage;
    stage.plan = plan;
    stage.whole = whole;
    stage.whole.offsets.clear();
    stage.whole.offsets.shrink_to_fit();
    stage.start = seconds_between(run_start, stage_start);
    stage.records = std::move(records);
    stage.samples.requested_rate = plan.rate;
    stage.samples.planned_duration = plan.duration;
    for (const auto& r : stage.records) stage.samples.add(r, config.report.goodput);
    stage.end = seconds_between(run_start, Clock::now());
    if (server_metrics) stage.server_metrics = server_metrics->end_stage(plan.index);
    result.summary.merge(stage.samples);
    if (hooks.stage_done) hooks.stage_done(stage);
    result.stages.push_back(std::move(stage));
  }
  result.wall_seconds = seconds_between(run_start, Clock::now());
  if (server_metrics) result.server_metrics = server_metrics->summary();
  return result;
}

}  // namespace kgai::perf
