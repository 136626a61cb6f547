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

struct Collector {
  stats::Samples ttft, tpot, ntpot, itl, e2e, queue, prompt_len, output_len;
  uint64_t successes = 0;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  double last_finish = 0;

  void on_step(const StepOutput& step) {
    for_each_token_gap(step, [this](double gap, uint64_t count) { itl.add(gap, count); });
  }

  void on_finished(const FinishedRequest& r) {
    ++successes;
    input_tokens += static_cast<uint64_t>(r.prompt_tokens);
    output_tokens += static_cast<uint64_t>(r.output_tokens);
    const double e2e_s = r.finished - r.arrival;
    e2e.add(e2e_s);
    ttft.add(r.first_token - r.arrival);
    queue.add(r.first_scheduled - r.arrival);
    if (r.output_tokens > 1) tpot.add((r.finished - r.first_token) / (r.output_tokens - 1));
    ntpot.add(e2e_s / r.output_tokens);
    prompt_len.add(r.prompt_tokens);
    output_len.add(r.output_tokens);
    last_finish = std::max(last_finish, r.finished);
  }
};

}  // namespace

Result<nlohmann::json> run_offline(const OfflineOptions& options,
                                   const catalog::LatencyModel& latency) {
  const WorkloadSpec& w = options.workload;
  if ((w.rate > 0) == (w.concurrency > 0))
    return fail("set exactly one of --rate or --concurrency");
  if (w.duration <= 0 && w.num_requests <= 0) return fail("set --duration or --num-requests");

  const auto wall_start = std::chrono::steady_clock::now();
  Engine engine(options.engine, latency);
  WorkloadSpec spec = w;
  // Never generate what the engine must refuse: keep prompt + output within the context.
  const int max_len = options.engine.max_model_len;
  const int prefix = spec.shared_prefix_groups > 0 ? spec.shared_prefix_len : 0;
  if (prefix + 2 > max_len) return fail("--shared-prefix-len leaves no room under max_model_len");
  spec.input.set_max(std::max(1, std::min(spec.input.max_value(), max_len / 2 - prefix)));
  spec.output.set_max(
      std::max(1, std::min(spec.output.max_value(), max_len - prefix - spec.input.max_value())));
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
  Collector collector;
  uint64_t generated = 0;
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

  double next_arrival = -1;  // open loop only; -1 when done
  if (w.rate > 0) {
    next_arrival = generator.next_gap();
    if (limit_reached(next_arrival)) next_arrival = -1;
  } else {
    for (int i = 0; i < w.concurrency; ++i) arrive(0.0);
  }

  // Engine-wide statistics.
  double kv_time_weighted = 0, kv_peak = 0, batch_sum = 0, busy_time = 0;
  uint64_t steps = 0;
  double next_progress = 1.0;

  while (true) {
    // Move arrivals up to now into the frontend, and frontend requests into the engine.
    while (next_arrival >= 0 && next_arrival <= clock.now()) {
      arrive(next_arrival);
      double t = next_arrival + generator.next_gap();
      next_arrival = limit_reached(t) ? -1 : t;
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
    ++steps;
    batch_sum += step.num_scheduled;
    busy_time += step.duration;
    clock.advance_by(step.duration);
    kv_time_weighted += engine.kv_usage() * step.duration;
    kv_peak = std::max(kv_peak, engine.kv_usage());
    collector.on_step(step);
    for (const FinishedRequest& f : step.finished) {
      collector.on_finished(f);
      if (w.concurrency > 0) arrive(f.finished);  // closed loop: the client sends again
    }
    if (options.progress && clock.now() >= next_progress) {
      options.progress(clock.now(), collector.successes);
      next_progress = clock.now() + 1.0;
    }
  }

  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double span = collector.last_finish;  // the run starts at t = 0
  const double per_sec = span > 0 ? 1.0 / span : 0.0;
  const EngineCounters& c = engine.counters();

  nlohmann::json summary;
  summary["load_summary"] = {
      {"count", generated},
      {"requested_rate", w.rate > 0 ? nlohmann::json(w.rate) : nlohmann::json(nullptr)},
      {"concurrency", w.concurrency > 0 ? nlohmann::json(w.concurrency) : nlohmann::json(nullptr)},
      {"achieved_rate", span > 0 ? static_cast<double>(generated) / span : 0.0},
  };
  nlohmann::json latency_json;
  latency_json["time_to_first_token"] = distribution(collector.ttft);
  latency_json["time_per_output_token"] = distribution(collector.tpot);
  latency_json["normalized_time_per_output_token"] = distribution(collector.ntpot);
  latency_json["inter_token_latency"] = distribution(collector.itl);
  latency_json["request_latency"] = distribution(collector.e2e);
  latency_json["queue_time"] = distribution(collector.queue);
  summary["successes"] = {
      {"count", collector.successes},
      {"latency", latency_json},
      {"throughput",
       {{"requests_per_sec", collector.successes * per_sec},
        {"input_tokens_per_sec", static_cast<double>(collector.input_tokens) * per_sec},
        {"output_tokens_per_sec", static_cast<double>(collector.output_tokens) * per_sec},
        {"total_tokens_per_sec",
         static_cast<double>(collector.input_tokens + collector.output_tokens) * per_sec}}},
      {"prompt_len", distribution(collector.prompt_len)},
      {"output_len", distribution(collector.output_len)},
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
      {"mean_batch_size", steps ? batch_sum / steps : 0.0},
      {"mean_kv_cache_usage", busy_time > 0 ? kv_time_weighted / busy_time : 0.0},
      {"peak_kv_cache_usage", kv_peak},
      {"num_gpu_blocks", options.engine.num_gpu_blocks},
      {"block_size", options.engine.block_size},
  };
  summary["runtime"] = {
      {"wall_seconds", wall},
      {"simulated_requests_per_wall_second", wall > 0 ? generated / wall : 0.0},
  };
  return summary;
}

}  // namespace kgai::sim
