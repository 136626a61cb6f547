#include "quickstart/load_point.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "common/log_histogram.h"
#include "common/stats.h"
#include "sim/offline_runner.h"

namespace kgai::quickstart {

namespace {

// What the run says of each request, kept to choose the steady-state window afterwards.
struct Finished {
  uint64_t id;
  double arrival, first_scheduled, first_token, finished;
  int prompt_tokens, output_tokens;
};

double mean_lengths(const sim::WorkloadSpec& w, bool input) {
  if (!w.samples || w.samples->empty()) return input ? w.input.mean() : w.output.mean();
  double sum = 0;
  for (const auto& s : *w.samples) sum += input ? s.input_tokens : s.output_tokens;
  return sum / static_cast<double>(w.samples->size());
}

// About one request's time in a full batch of `clients`: the closed loop's clients start
// spread over it, so that they do not run in lockstep.
double estimated_cycle(const catalog::LatencyModel& latency, int clients, double mean_input,
                       double mean_output) {
  catalog::StepShape decode;
  const auto context = static_cast<int64_t>(mean_input + mean_output / 2);
  for (int i = 0; i < clients; ++i) decode.add(1, context, false);
  return mean_output * latency.step_seconds(decode);
}

}  // namespace

Result<OperatingPoint> measure_load(const sim::EngineConfig& engine,
                                    const catalog::LatencyModel& latency,
                                    const sim::WorkloadSpec& workload, const Load& load,
                                    const Targets& targets) {
  if ((load.rate > 0) == (load.concurrency > 0))
    return fail("a load point needs exactly one of a rate or a concurrency");
  if (load.num_requests < 10) return fail("a load point needs at least 10 requests");
  sim::OfflineOptions options;
  options.engine = engine;
  options.workload = workload;
  options.workload.rate = load.rate;
  options.workload.concurrency = load.concurrency;
  options.workload.duration = 0;
  options.workload.num_requests = load.num_requests;
  if (load.concurrency > 1) {
    options.workload.ramp_up = estimated_cycle(
        latency, load.concurrency, mean_lengths(workload, true), mean_lengths(workload, false));
  }

  const auto n = static_cast<uint64_t>(load.num_requests);
  std::vector<Finished> all;
  all.reserve(n);
  options.collect_samples = false;
  options.skip_unmatchable_hashes = true;
  stats::LogHistogram itl;
  options.on_token_gap = [&itl](double gap, uint64_t count) { itl.observe(gap, count); };
  options.on_finished = [&all](const sim::FinishedRequest& r) {
    all.push_back({r.id, r.arrival, r.first_scheduled, r.first_token, r.finished, r.prompt_tokens,
                   r.output_tokens});
  };
  auto run = sim::simulate(options, latency);
  if (!run) return fail(run.error());
  if (all.size() < 10) return fail("too few requests finished to measure");
  std::sort(all.begin(), all.end(),
            [](const Finished& a, const Finished& b) { return a.id < b.id; });

  // The steady-state window. It starts once the system has filled: after the first tenth of
  // the requests (a closed loop: its first round of clients), and no sooner than one median
  // request latency into the run (a long answer fills the engine for that long). It ends
  // before the last tenth (a round), whose latencies flatter as arrivals stop.
  std::vector<double> e2es;
  e2es.reserve(all.size());
  for (const auto& r : all) e2es.push_back(r.finished - r.arrival);
  std::nth_element(e2es.begin(), e2es.begin() + e2es.size() / 2, e2es.end());
  const double fill_time = e2es[e2es.size() / 2];
  const size_t edge =
      load.concurrency > 0 ? std::min<size_t>(load.concurrency, all.size() / 4) : all.size() / 10;
  size_t first = std::max<size_t>(edge, 1);
  while (first < all.size() && all[first].arrival < fill_time) ++first;
  size_t end = all.size() - std::max<size_t>(edge, 1);  // one past the last counted
  // Too short a run for its latency: count its later half, the fullest part.
  if (first + 10 > end) {
    const size_t start = std::max<size_t>(edge, 1);
    first = end > start ? start + (end - start) / 2 : 0;
    if (first + 10 > end) first = end > 10 ? end - 10 : 0;
  }
  const double t_start = all[first].arrival;
  const double t_end = all[end].arrival;  // the first request after the window

  stats::Samples ttft, ntpot, e2e;
  uint64_t count = 0, good = 0, input_tokens = 0, output_tokens = 0;
  double running_seconds = 0, waiting_seconds = 0;
  const double ttft_target = targets.ttft_ms.value_or(0) / 1e3;
  const double ntpot_target = targets.ntpot_ms.value_or(0) / 1e3;
  const double itl_target = targets.itl_ms.value_or(0) / 1e3;
  for (size_t i = first; i < end; ++i) {
    const Finished& r = all[i];
    const double t = r.first_token - r.arrival;
    const double latency_s = r.finished - r.arrival;
    const double normalized = latency_s / std::max(1, r.output_tokens);
    const double mean_gap =
        r.output_tokens > 1 ? (r.finished - r.first_token) / (r.output_tokens - 1) : 0.0;
    ttft.add(t);
    ntpot.add(normalized);
    e2e.add(latency_s);
    ++count;
    input_tokens += static_cast<uint64_t>(r.prompt_tokens);
    output_tokens += static_cast<uint64_t>(r.output_tokens);
    running_seconds += r.finished - r.first_scheduled;
    waiting_seconds += r.first_scheduled - r.arrival;
    if ((!targets.ttft_ms || t <= ttft_target) &&
        (!targets.ntpot_ms || normalized <= ntpot_target) &&
        (!targets.itl_ms || mean_gap <= itl_target)) {
      ++good;
    }
  }

  // Throughput in the window from the first counted request's arrival to the arrival of the
  // first one after them: the counted requests arrived in it (in a closed loop each answer
  // releases the next request, so that is the service rate), and in an open loop the answers
  // finishing in it show whether the engine kept up. Windows bounded by arrivals stay right
  // when requests come in waves (equal lengths in a closed loop).
  OperatingPoint p;
  p.offered_rate = load.rate;
  p.concurrency = load.concurrency;
  const double window = t_end - t_start;
  if (window > 0 && count > 0) {
    uint64_t finished_in_window = 0;
    for (const auto& r : all)
      if (r.finished > t_start && r.finished <= t_end) ++finished_in_window;
    p.kept_up = static_cast<double>(finished_in_window) / static_cast<double>(count);
    // In a steady state finishes and arrivals in the window differ by the change in the number
    // of requests in the system, which swings by about its square root (Little: rate x mean
    // latency) at each end of the window.
    const double in_system = static_cast<double>(count) / window * e2e.mean();
    p.kept_up_noise = std::sqrt(2 * std::max(1.0, in_system)) / static_cast<double>(count);
    // The load the engine faced: a finite Poisson sample's arrivals run a few percent above or
    // below its nominal rate, and the latencies measured belong to the arrivals it had.
    if (load.rate > 0) p.offered_rate = static_cast<double>(count) / window;
    const double rate = static_cast<double>(std::min(count, finished_in_window)) / window;
    p.requests_per_second = rate;
    p.input_tokens_per_second = rate * static_cast<double>(input_tokens) / count;
    p.output_tokens_per_second = rate * static_cast<double>(output_tokens) / count;
  }
  // (No answer finishing in the window leaves the rates at 0 and kept_up at 0: a load far
  // past what the engine can do.)
  if (!(p.requests_per_second > 0)) p.kept_up = 0;
  const double q = targets.percentile;
  p.ttft_ms = ttft.percentile(q) * 1e3;
  p.ntpot_ms = ntpot.percentile(q) * 1e3;
  p.itl_ms = itl.percentile(q) * 1e3;
  p.e2e_ms = e2e.percentile(q) * 1e3;
  const auto percentiles = [](const auto& d, double scale) {
    return LatencyPercentiles{d.percentile(50) * scale, d.percentile(90) * scale,
                              d.percentile(99) * scale, d.mean() * scale};
  };
  p.ttft = percentiles(ttft, 1e3);
  p.ntpot = percentiles(ntpot, 1e3);
  p.itl = percentiles(itl, 1e3);
  p.e2e = percentiles(e2e, 1e3);
  p.goodput_rps = p.requests_per_second * static_cast<double>(good) / count;
  // Little's law: the mean number in a stage is throughput x the mean time spent in it.
  p.mean_running = p.requests_per_second * running_seconds / count;
  p.mean_waiting = p.requests_per_second * waiting_seconds / count;
  p.mean_kv_cache_usage = run->busy_time > 0 ? run->kv_time_weighted / run->busy_time : 0.0;
  p.preemptions = static_cast<double>(run->counters.preemptions);
  return p;
}

std::string missed_target(const OperatingPoint& point, const Targets& targets) {
  const auto check = [&](const char* name, const std::optional<double>& target,
                         double value) -> std::string {
    if (!target || value <= *target) return {};
    return fmt::format("p{} {} {:.1f} ms > {:g} ms target", targets.percentile, name, value,
                       *target);
  };
  for (auto missed : {check("TTFT", targets.ttft_ms, point.ttft_ms),
                      check("NTPOT", targets.ntpot_ms, point.ntpot_ms),
                      check("ITL", targets.itl_ms, point.itl_ms)}) {
    if (!missed.empty()) return missed;
  }
  return {};
}

double estimated_capacity(const sim::EngineConfig& engine, const catalog::LatencyModel& latency,
                          const sim::WorkloadSpec& workload, int clients) {
  const double in = mean_lengths(workload, true);
  const double out = std::max(1.0, mean_lengths(workload, false));
  const int batch = std::max(1, clients);
  catalog::StepShape step;
  const auto context = static_cast<int64_t>(in + out / 2);
  for (int i = 0; i < batch; ++i) step.add(1, context, false);
  // Each request's prompt is spread over its `out` decode steps.
  const auto prefill = static_cast<int64_t>(std::ceil(batch * in / out));
  if (prefill > 0) step.add(prefill, 0, true);
  double seconds = latency.step_seconds(step);
  const double tokens = static_cast<double>(batch + prefill);
  if (tokens > engine.max_num_batched_tokens) seconds *= tokens / engine.max_num_batched_tokens;
  return seconds > 0 ? batch / (out * seconds) : 0.0;
}

bool meets_targets(const OperatingPoint& point, const Targets& targets) {
  return missed_target(point, targets).empty();
}

}  // namespace kgai::quickstart
