#include "sim/offline_runner.h"

#include <chrono>
#include <deque>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/stats.h"

namespace kgai::sim {

namespace {

// Inference Perf's distribution keys.
nlohmann::json distribution(const stats::Samples& s) {
  nlohmann::json j;
  j["mean"] = s.mean();
  j["min"] = s.min();
  for (auto [key, p] : std::initializer_list<std::pair<const char*, double>>{{"p0.1", 0.1},
                                                                             {"p1", 1},
                                                                             {"p5", 5},
                                                                             {"p10", 10},
                                                                             {"p25", 25},
                                                                             {"median", 50},
                                                                             {"p75", 75},
                                                                             {"p90", 90},
                                                                             {"p95", 95},
                                                                             {"p99", 99},
                                                                             {"p99.9", 99.9}}) {
    j[key] = s.percentile(p);
  }
  j["max"] = s.max();
  return j;
}

void record_finished(OfflineRun& run, const FinishedRequest& r, bool samples) {
  ++run.successes;
  run.input_tokens += static_cast<uint64_t>(r.prompt_tokens);
  run.output_tokens += static_cast<uint64_t>(r.output_tokens);
  run.span = std::max(run.span, r.finished);
  if (!samples) return;
  const double e2e_s = r.finished - r.arrival;
  run.e2e.add(e2e_s);
  run.ttft.add(r.first_token - r.arrival);
  run.queue.add(r.first_scheduled - r.arrival);
  if (r.output_tokens > 1) run.tpot.add((r.finished - r.first_token) / (r.output_tokens - 1));
  run.ntpot.add(e2e_s / r.output_tokens);
  run.prompt_len.add(r.prompt_tokens);
  run.output_len.add(r.output_tokens);
}

}  // namespace

Result<OfflineRun> simulate(const OfflineOptions& options, const catalog::LatencyModel& latency) {
  const WorkloadSpec& w = options.workload;
  if ((w.rate > 0) == (w.concurrency > 0))
    return fail("set exactly one of --rate or --concurrency");
  if (!(w.ramp_up >= 0 && w.ramp_up < 1e9)) return fail("--ramp-up must be 0 or more seconds");
  if (w.duration <= 0 && w.num_requests <= 0) return fail("set --duration or --num-requests");

  const auto wall_start = std::chrono::steady_clock::now();
  Engine engine(options.engine, latency);
  WorkloadSpec spec = w;
  // Never generate what the engine must refuse: keep prompt + output within the context.
  const int max_len = options.engine.max_model_len;
  const int prefix = spec.shared_prefix_groups > 0 ? spec.shared_prefix_len : 0;
  if (prefix + 2 > max_len) return fail("--shared-prefix-len leaves no room under max_model_len");
  // Bounded lengths that fit are left alone; otherwise the prompt gets at most half the room.
  if (int64_t{prefix} + spec.input_upper_bound() + spec.output_upper_bound() > max_len) {
    spec.input.set_max(std::max(1, std::min(spec.input.max_value(), max_len / 2 - prefix)));
    spec.output.set_max(
        std::max(1, std::min(spec.output.max_value(), max_len - prefix - spec.input.max_value())));
  }
  WorkloadGenerator generator(spec, options.engine.block_size,
                              options.engine.enable_prefix_caching);
  const double frontend = latency.frontend_seconds();

  // Requests that arrived but are still in the API server (the frontend delay): FIFO, since
  // the delay is the same for all.
  struct Pending {
    double arrival;
    GeneratedRequest request;
  };
  std::deque<Pending> frontend_queue;
  VirtualClock clock;
  OfflineRun run;
  uint64_t& generated = run.generated;
  uint64_t next_id = 1;
  const auto limit_reached = [&](double arrival) {
    return (w.num_requests > 0 && generated >= static_cast<uint64_t>(w.num_requests)) ||
           (w.duration > 0 && arrival > w.duration);
  };
  auto arrive = [&](double t) {
    if (limit_reached(t)) return false;
    Pending p{t, {}};
    generator.next(p.request);
    frontend_queue.push_back(std::move(p));
    ++generated;
    return true;
  };

  // The next request not released by a finished one: open-loop arrivals, or the clients of a
  // closed loop starting one by one over the ramp-up. -1 when there is none.
  double next_arrival = -1;
  int clients_started = 0;
  const double client_gap = w.concurrency > 0 ? w.ramp_up / w.concurrency : 0.0;
  const auto following_arrival = [&](double t) {
    if (w.rate > 0) {
      const double next = t + generator.next_gap();
      return limit_reached(next) ? -1.0 : next;
    }
    return clients_started < w.concurrency ? clients_started * client_gap : -1.0;
  };
  if (w.rate > 0) {
    next_arrival = following_arrival(0.0);
  } else if (client_gap <= 0) {
    for (; clients_started < w.concurrency; ++clients_started) arrive(0.0);
  } else {
    next_arrival = 0.0;
  }

  double next_progress = 1.0;

  while (true) {
    // Move arrivals up to now into the frontend, and frontend requests into the engine.
    while (next_arrival >= 0 && next_arrival <= clock.now()) {
      arrive(next_arrival);
      if (w.concurrency > 0) ++clients_started;
      next_arrival = following_arrival(next_arrival);
    }
    while (!frontend_queue.empty() && frontend_queue.front().arrival + frontend <= clock.now()) {
      Pending& p = frontend_queue.front();
      NewRequest r;
      r.id = next_id++;
      r.prompt_tokens = p.request.prompt_tokens;
      r.block_hashes = std::move(p.request.block_hashes);
      r.max_tokens = p.request.output_tokens;
      r.arrival = p.arrival;
      if (auto added = engine.add(std::move(r)); !added) return fail(added.error());
      frontend_queue.pop_front();
    }
    if (!engine.has_work()) {
      // Idle: jump to the next event.
      double next = -1;
      if (!frontend_queue.empty()) next = frontend_queue.front().arrival + frontend;
      if (next_arrival >= 0 && (next < 0 || next_arrival < next)) next = next_arrival;
      if (next < 0) break;
      clock.advance_to(next);
      continue;
    }
    const StepOutput& step = engine.step(clock.now());
    if (step.num_scheduled == 0) return fail("the engine could not schedule any request");
    ++run.steps;
    run.batch_sum += step.num_scheduled;
    run.busy_time += step.duration;
    clock.advance_by(step.duration);
    run.kv_time_weighted += engine.kv_usage() * step.duration;
    run.kv_peak = std::max(run.kv_peak, engine.kv_usage());
    // The gauges as vLLM exports them after a step, held for the step's duration.
    run.running_time_weighted += engine.num_running() * step.duration;
    run.waiting_time_weighted += engine.num_waiting() * step.duration;
    if (options.collect_samples) {
      for_each_token_gap(step, [&run](double gap, uint64_t count) { run.itl.add(gap, count); });
    }
    if (options.on_step) options.on_step(step);
    for (const FinishedRequest& f : step.finished) {
      record_finished(run, f, options.collect_samples);
      if (options.on_finished) options.on_finished(f);
      if (w.concurrency > 0) arrive(f.finished);  // closed loop: the client sends again
    }
    if (options.progress && clock.now() >= next_progress) {
      options.progress(clock.now(), run.successes);
      next_progress = clock.now() + 1.0;
    }
  }

  run.counters = engine.counters();
  run.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return run;
}

nlohmann::json summarize(const OfflineRun& run, const OfflineOptions& options) {
  const WorkloadSpec& w = options.workload;
  const double span = run.span;  // the run starts at t = 0
  const double per_sec = span > 0 ? 1.0 / span : 0.0;
  const uint64_t generated = run.generated;
  const double wall = run.wall_seconds;
  const EngineCounters& c = run.counters;
  const uint64_t steps = run.steps;
  const double busy_time = run.busy_time;

  nlohmann::json summary;
  summary["load_summary"] = {
      {"count", generated},
      {"requested_rate", w.rate > 0 ? nlohmann::json(w.rate) : nlohmann::json(nullptr)},
      {"concurrency", w.concurrency > 0 ? nlohmann::json(w.concurrency) : nlohmann::json(nullptr)},
      {"achieved_rate", span > 0 ? static_cast<double>(generated) / span : 0.0},
  };
  nlohmann::json latency_json;
  latency_json["time_to_first_token"] = distribution(run.ttft);
  latency_json["time_per_output_token"] = distribution(run.tpot);
  latency_json["normalized_time_per_output_token"] = distribution(run.ntpot);
  latency_json["inter_token_latency"] = distribution(run.itl);
  latency_json["request_latency"] = distribution(run.e2e);
  latency_json["queue_time"] = distribution(run.queue);
  summary["successes"] = {
      {"count", run.successes},
      {"latency", latency_json},
      {"throughput",
       {{"requests_per_sec", run.successes * per_sec},
        {"input_tokens_per_sec", static_cast<double>(run.input_tokens) * per_sec},
        {"output_tokens_per_sec", static_cast<double>(run.output_tokens) * per_sec},
        {"total_tokens_per_sec",
         static_cast<double>(run.input_tokens + run.output_tokens) * per_sec}}},
      {"prompt_len", distribution(run.prompt_len)},
      {"output_len", distribution(run.output_len)},
  };
  summary["failures"] = {{"count", 0}};
  summary["engine"] = {
      {"steps", steps},
      {"simulated_seconds", span},
      {"busy_fraction", span > 0 ? busy_time / span : 0.0},
      {"preemptions", c.preemptions},
      {"prefix_cache_queries", c.prefix_queries},
      {"prefix_cache_hits", c.prefix_hits},
      {"prefix_cache_hit_rate",
       c.prefix_queries ? static_cast<double>(c.prefix_hits) / c.prefix_queries : 0.0},
      {"mean_batch_size", steps ? run.batch_sum / steps : 0.0},
      {"mean_kv_cache_usage", busy_time > 0 ? run.kv_time_weighted / busy_time : 0.0},
      {"peak_kv_cache_usage", run.kv_peak},
      {"mean_requests_running", run.mean_running()},
      {"mean_requests_waiting", run.mean_waiting()},
      {"num_gpu_blocks", options.engine.num_gpu_blocks},
      {"block_size", options.engine.block_size},
  };
  summary["runtime"] = {
      {"wall_seconds", wall},
      {"simulated_requests_per_wall_second", wall > 0 ? generated / wall : 0.0},
  };
  return summary;
}

Result<nlohmann::json> run_offline(const OfflineOptions& options,
                                   const catalog::LatencyModel& latency) {
  auto run = simulate(options, latency);
  if (!run) return fail(run.error());
  return summarize(*run, options);
}

}  // namespace kgai::sim
