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
class PromptWindow {
 public:
  PromptWindow(Dataset& dataset, uint64_t seed, bool chat)
      : dataset_(dataset), rng_(seed), chat_(chat) {}

  Prompt get(uint64_t index) {
    std::lock_guard lock(mutex_);
    while (base_ + window_.size() <= index) window_.push_back({dataset_.next(rng_, chat_), false});
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

// Request `index` of a stage: its prompt, its adapter by the traffic split (none for the sweep's
// burst, stage -1), and the body for them.
RequestSource make_source(const PerfConfig& config, const std::string& model, PromptWindow& prompts,
                          int stage) {
  return [&config, renderer = RequestBodyRenderer(config, model), &prompts, stage](uint64_t index) {
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

Result<RunResult> run_benchmark(const PerfConfig& config, const RunHooks& hooks) {
  auto url = http::parse_url(config.server.base_url);
  if (!url) return fail("server.base_url: {}", url.error().message);
  RunResult result;
  result.base_url = config.server.base_url;
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
  const bool sweep = config.load.sweep.has_value();
  auto stages = sweep ? Result<std::vector<StagePlan>>{} : plan_stages(config.load);
  if (!stages) return fail(stages.error());

  ClientOptions options;
  options.host = url->host;
  options.port = url->port;
  std::string prefix = url->target == "/" ? "" : url->target;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  options.path = prefix + (config.api.type == "chat" ? "/v1/chat/completions" : "/v1/completions");
  options.stream = config.api.streaming;
  for (const auto& [name, value] : config.api.headers) options.headers.emplace_back(name, value);
  if (!config.server.api_key.empty()) {
    options.headers.emplace_back("Authorization", "Bearer " + config.server.api_key);
  }
  options.num_workers = config.load.num_workers;
  options.max_connections =
      config.load.worker_max_tcp_connections > 0
          ? config.load.worker_max_tcp_connections * std::max(1, config.load.num_workers)
          : 0;
  options.request_timeout = config.load.request_timeout;
  auto client = Client::create(options);
  if (!client) return fail(client.error());
  // Only when a report wants it: direct scraping adds load on the server under test.
  std::unique_ptr<ServerMetricsCollector> server_metrics;
  if (config.report.prometheus_summary || config.report.prometheus_per_stage) {
    auto collector = ServerMetricsCollector::create(server_metrics_options(config));
    if (!collector) return fail(collector.error());
    server_metrics = std::move(*collector);
  }

  const SteadyTime run_start = Clock::now();
  if (sweep) {
    // The burst's prompts come from the same dataset, under their own seed.
    PromptWindow prompts(**dataset, config.load.base_seed + 7, config.api.type == "chat");
    RequestSource source = make_source(config, result.model, prompts, /*stage=*/-1);
    auto saturation = measure_saturation(**client, *config.load.sweep, source, run_start);
    if (!saturation) return fail(saturation.error());
    result.saturation_rate = *saturation;
    stages = plan_sweep(config.load, *saturation);
    if (!stages) return fail(stages.error());
  }
  for (size_t i = 0; i < stages->size(); ++i) {
    const StagePlan& plan = (*stages)[i];
    if (i > 0 && config.load.interval > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(config.load.interval));
    }
    PromptWindow prompts(**dataset, config.load.base_seed + 1000003ULL * (i + 1),
                         config.api.type == "chat");
    const std::string& model = result.model;
    RequestSource source = make_source(config, model, prompts, plan.index);
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
    // Let the workers settle before the first send time.
    const SteadyTime stage_start = Clock::now() + std::chrono::milliseconds(20);
    std::function<void(const Progress&)> progress;
    if (hooks.progress) progress = [&](const Progress& p) { hooks.progress(plan, p); };
    auto records = (*client)->run_stage(run, source, run_start, stage_start, progress);
    if (!records) return fail("stage {}: {}", plan.index, records.error().message);

    StageResult stage;
    stage.plan = plan;
    stage.start = seconds_between(run_start, stage_start);
    stage.records = std::move(*records);
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
