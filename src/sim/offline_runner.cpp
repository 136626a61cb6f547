#include "sim/offline_runner.h"

#include <chrono>
#include <deque>
#include <queue>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/stats.h"
#include "sim/frontend.h"

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
  run.prefix_cached_tokens += static_cast<uint64_t>(r.cached_tokens);
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

// Generated blocks of a generated workload: a conversation's token sequence only grows, so a
// block's content is its position in the conversation (WorkloadGenerator::hash_blocks).
class GeneratedOutputHasher final : public OutputBlockHasher {
 public:
  explicit GeneratedOutputHasher(const WorkloadGenerator& generator) : generator_(generator) {}
  void extend(const NewRequest& request, int computed_outputs,
              std::vector<uint64_t>& hashes) override {
    generator_.hash_blocks(request.content_key, request.prompt_tokens + computed_outputs, hashes);
  }

 private:
  const WorkloadGenerator& generator_;
};

}  // namespace

Result<OfflineRun> simulate(const OfflineOptions& options, const catalog::LatencyModel& latency) {
  const WorkloadSpec& w = options.workload;
  if ((w.rate > 0) == (w.concurrency > 0))
    return fail("set exactly one of --rate or --concurrency");
  if (w.duration <= 0 && w.num_requests <= 0) return fail("set --duration or --num-requests");
  if (!(w.ramp_up >= 0 && w.ramp_up < 1e9)) return fail("--ramp-up must be 0 or more seconds");
  if (auto valid = w.validate(); !valid) return fail(valid.error());

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
  // Prompts that share nothing can never hit the prefix cache; a caller that needs no prefix
  // counters may skip hashing them (the engine then runs exactly as it would, faster).
  const bool prompts_can_hit = spec.shared_prefix_groups > 0 || spec.turns > 1;
  WorkloadGenerator generator(spec, options.engine.block_size,
                              options.engine.enable_prefix_caching &&
                                  (prompts_can_hit || !options.skip_unmatchable_hashes));
  GeneratedOutputHasher hasher(generator);
  // A generated conversation's answer is only ever asked again by its own next turn: without
  // turns its blocks could never be hit, so hashing them would cost time and change nothing.
  if (spec.turns > 1) engine.set_output_block_hasher(&hasher);
  Frontend frontend(FrontendCosts::from(latency.accelerator().efficiency));
  const bool multi_turn = spec.turns > 1;

  // Requests sent later: closed-loop clients sending again, and the next turns of
  // conversations (after their answer and a think time). Ordered by time, then by when they
  // were scheduled, so that runs repeat exactly.
  struct Scheduled {
    double at;
    uint64_t order;
    GeneratedRequest request;
    bool operator>(const Scheduled& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> scheduled;
  uint64_t next_order = 0;
  // Requests that arrived and are in the API server until `handoff` (Frontend::admit; FIFO, so
  // in order of handoff).
  struct Pending {
    double arrival;
    double handoff;
    GeneratedRequest request;
  };
  std::deque<Pending> frontend_queue;
  // Per request id (ids are dense): when its first and latest tokens reached the client, and,
  // for multi-turn runs, the request itself (its prompt blocks start the next turn's).
  std::vector<double> first_delivered(1, 0.0);
  std::vector<double> last_delivered(1, 0.0);
  std::unordered_map<RequestId, GeneratedRequest> in_flight;

  VirtualClock clock;
  OfflineRun run;
  uint64_t& generated = run.generated;
  uint64_t next_id = 1;
  const auto limit_reached = [&](double arrival) {
    return (w.num_requests > 0 && generated >= static_cast<uint64_t>(w.num_requests)) ||
           (w.duration > 0 && arrival > w.duration);
  };
  // A request reaches the API server at `t` (a new conversation unless `request` is given).
  auto arrive = [&](double t, GeneratedRequest* request) {
    if (limit_reached(t)) return false;
    Pending p{t, 0, {}};
    if (request) {
      p.request = std::move(*request);
    } else {
      generator.next(p.request);
    }
    p.handoff = frontend.admit(t, p.request.prompt_tokens);
    frontend_queue.push_back(std::move(p));
    ++generated;
    return true;
  };
  // The client got its last token at `at`: it sends the next turn or, in a closed loop, a new
  // conversation.
  auto answered = [&](const FinishedRequest& f, double at) {
    if (multi_turn) {
      auto it = in_flight.find(f.id);
      if (it != in_flight.end()) {
        GeneratedRequest next = std::move(it->second);
        in_flight.erase(it);
        if (generator.follow_up(next, f.output_tokens, max_len, next)) {
          scheduled.push({at + generator.next_think_time(), next_order++, std::move(next)});
          return;
        }
      }
    }
    if (w.concurrency > 0) scheduled.push({at, next_order++, GeneratedRequest{}});
  };

  double next_arrival = -1;  // open loop only; -1 when done
  if (w.rate > 0) {
    next_arrival = generator.next_gap();
    if (limit_reached(next_arrival)) next_arrival = -1;
  } else if (w.ramp_up <= 0) {
    for (int i = 0; i < w.concurrency; ++i) arrive(0.0, nullptr);
  } else {
    // The clients start one by one over the ramp-up (an empty request: a new conversation).
    for (int i = 0; i < w.concurrency; ++i)
      scheduled.push({i * w.ramp_up / w.concurrency, next_order++, GeneratedRequest{}});
  }
  // Arrivals up to `now`, in time order (open-loop arrivals before scheduled ones at a tie).
  auto take_arrivals = [&](double now) {
    while (true) {
      const bool poisson = next_arrival >= 0 && next_arrival <= now;
      const bool later = !scheduled.empty() && scheduled.top().at <= now;
      if (!poisson && !later) break;
      if (poisson && (!later || next_arrival <= scheduled.top().at)) {
        arrive(next_arrival, nullptr);
        double t = next_arrival + generator.next_gap();
        next_arrival = limit_reached(t) ? -1 : t;
      } else {
        Scheduled next = std::move(const_cast<Scheduled&>(scheduled.top()));
        scheduled.pop();
        // An empty request is a closed-loop client's new conversation.
        const bool fresh = next.request.prompt_tokens == 0;
        arrive(next.at, fresh ? nullptr : &next.request);
      }
    }
  };

  double next_progress = 1.0;
  double itl_common = -1;
  uint64_t itl_common_count = 0;

  while (true) {
    // Arrivals up to now go into the API server, and what it handed over into the engine.
    take_arrivals(clock.now());
    while (!frontend_queue.empty() && frontend_queue.front().handoff <= clock.now()) {
      Pending& p = frontend_queue.front();
      NewRequest r;
      r.id = next_id++;
      r.prompt_tokens = p.request.prompt_tokens;
      r.max_tokens = p.request.output_tokens;
      r.arrival = p.arrival;
      r.content_key = p.request.conversation;
      if (multi_turn) {
        r.block_hashes = p.request.block_hashes;
        in_flight.emplace(r.id, std::move(p.request));
      } else {
        r.block_hashes = std::move(p.request.block_hashes);
      }
      if (auto added = engine.add(std::move(r)); !added) return fail(added.error());
      frontend_queue.pop_front();
    }
    if (!engine.has_work()) {
      // Idle: jump to the next event.
      double next = -1;
      const auto consider = [&next](double t) {
        if (t >= 0 && (next < 0 || t < next)) next = t;
      };
      if (!frontend_queue.empty()) consider(frontend_queue.front().handoff);
      consider(next_arrival);
      if (!scheduled.empty()) consider(scheduled.top().at);
      if (next < 0) break;
      clock.advance_to(std::max(next, clock.now()));
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

    // The API server takes in what arrived during the step before it streams the step's
    // tokens (FIFO); the clients see them when it is done.
    take_arrivals(clock.now());
    const double delivered = frontend.deliver(clock.now(), static_cast<int>(step.tokens.size()));
    if (first_delivered.size() < next_id) {
      first_delivered.resize(next_id, 0.0);
      last_delivered.resize(next_id, 0.0);
    }
    // Inter-token gaps as the client sees them; most equal one value (tokens of requests that
    // also had one in the previous step), kept as one weighted sample.
    for (const TokenEvent& t : step.tokens) {
      double& last = last_delivered[t.id];
      if (t.index == 0) {
        first_delivered[t.id] = delivered;
      } else {
        const double gap = delivered - last;
        if (gap == itl_common) {
          ++itl_common_count;
        } else if (itl_common_count == 0) {
          itl_common = gap;
          itl_common_count = 1;
        } else {
          if (options.collect_samples) run.itl.add(gap, 1);
          if (options.on_token_gap) options.on_token_gap(gap, 1);
        }
      }
      last = delivered;
    }
    if (itl_common_count) {
      if (options.collect_samples) run.itl.add(itl_common, itl_common_count);
      if (options.on_token_gap) options.on_token_gap(itl_common, itl_common_count);
    }
    itl_common_count = 0;
    itl_common = -1;

    for (const FinishedRequest& engine_record : step.finished) {
      // What the client measured: the API server's delivery times.
      FinishedRequest f = engine_record;
      f.first_token = first_delivered[f.id];
      f.finished = delivered;
      record_finished(run, f, options.collect_samples);
      if (options.on_finished) options.on_finished(f);
      answered(f, delivered);
    }
    if (options.progress && clock.now() >= next_progress) {
      options.progress(clock.now(), run.successes);
      next_progress = clock.now() + 1.0;
    }
  }

  run.counters = engine.counters();
  run.frontend_busy = frontend.busy_seconds();
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
      {"turns", w.turns},
      {"think_time", w.think_time},
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
      {"cached_prompt_tokens", run.prefix_cached_tokens},
      {"frontend_busy_fraction", span > 0 ? run.frontend_busy / span : 0.0},
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
