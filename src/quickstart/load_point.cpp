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

// The counted requests' figures, collected as they finish.
struct Window {
  uint64_t first_id = 0;  // ids in [first_id, last_id] are counted
  uint64_t last_id = 0;
  stats::Samples ttft, ntpot, e2e;
  uint64_t count = 0;
  uint64_t good = 0;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  double first_arrival = -1;     // of the first counted request
  double next_arrival = -1;      // of the first request after the counted ones
  std::vector<double> finishes;  // of every request
  double running_seconds = 0;    // sum over counted requests of time in the engine's batch
  double waiting_seconds = 0;    // ... and time before it
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

  Window w;
  const auto n = static_cast<uint64_t>(load.num_requests);
  const uint64_t skip = load.concurrency > 0 ? std::min<uint64_t>(load.concurrency, n / 4) : n / 10;
  w.first_id = skip + 1;
  w.last_id = n - skip;
  const double ttft_target = targets.ttft_ms.value_or(0) / 1e3;
  const double ntpot_target = targets.ntpot_ms.value_or(0) / 1e3;
  const double itl_target = targets.itl_ms.value_or(0) / 1e3;
  w.finishes.reserve(n);
  options.collect_samples = false;
  stats::LogHistogram itl;
  options.on_token_gap = [&itl](double gap, uint64_t count) { itl.observe(gap, count); };
  options.on_finished = [&](const sim::FinishedRequest& r) {
    w.finishes.push_back(r.finished);
    if (r.id == w.first_id) w.first_arrival = r.arrival;
    if (r.id == w.last_id + 1) w.next_arrival = r.arrival;
    if (r.id < w.first_id || r.id > w.last_id) return;
    const double ttft = r.first_token - r.arrival;
    const double e2e = r.finished - r.arrival;
    const double ntpot = e2e / std::max(1, r.output_tokens);
    const double mean_gap =
        r.output_tokens > 1 ? (r.finished - r.first_token) / (r.output_tokens - 1) : 0.0;
    w.ttft.add(ttft);
    w.ntpot.add(ntpot);
    w.e2e.add(e2e);
    ++w.count;
    w.input_tokens += static_cast<uint64_t>(r.prompt_tokens);
    w.output_tokens += static_cast<uint64_t>(r.output_tokens);
    w.running_seconds += r.finished - r.first_scheduled;
    w.waiting_seconds += r.first_scheduled - r.arrival;
    const bool good = (!targets.ttft_ms || ttft <= ttft_target) &&
                      (!targets.ntpot_ms || ntpot <= ntpot_target) &&
                      (!targets.itl_ms || mean_gap <= itl_target);
    if (good) ++w.good;
  };
  auto run = sim::simulate(options, latency);
  if (!run) return fail(run.error());
  if (w.count == 0) return fail("no request finished in the measured window");

  // Throughput in the window from the first counted request's arrival to the arrival of the
  // first one after them: the counted requests arrived in it (in a closed loop each answer
  // releases the next request, so that is the service rate), and in an open loop the answers
  // finishing in it show whether the engine kept up with the offered rate. The lower of the
  // two is the honest figure. Windows bounded by arrivals stay right when requests come in
  // waves (equal lengths in a closed loop).
  OperatingPoint p;
  p.offered_rate = load.rate;
  p.concurrency = load.concurrency;
  const double window = w.next_arrival - w.first_arrival;
  if (w.first_arrival >= 0 && window > 0) {
    uint64_t finished_in_window = 0;
    for (double f : w.finishes)
      if (f > w.first_arrival && f <= w.next_arrival) ++finished_in_window;
    p.kept_up = static_cast<double>(finished_in_window) / static_cast<double>(w.count);
    // The load the engine faced: a finite Poisson sample's arrivals run a few percent above or
    // below its nominal rate, and the latencies measured belong to the arrivals it had.
    if (load.rate > 0) p.offered_rate = static_cast<double>(w.count) / window;
    const double rate =
        static_cast<double>(std::min<uint64_t>(w.count, finished_in_window)) / window;
    p.requests_per_second = rate;
    p.input_tokens_per_second = rate * static_cast<double>(w.input_tokens) / w.count;
    p.output_tokens_per_second = rate * static_cast<double>(w.output_tokens) / w.count;
  }
  const double q = targets.percentile;
  p.ttft_ms = w.ttft.percentile(q) * 1e3;
  p.ntpot_ms = w.ntpot.percentile(q) * 1e3;
  p.itl_ms = itl.percentile(q) * 1e3;
  p.e2e_ms = w.e2e.percentile(q) * 1e3;
  const auto percentiles = [](const auto& d, double scale) {
    return LatencyPercentiles{d.percentile(50) * scale, d.percentile(90) * scale,
                              d.percentile(99) * scale, d.mean() * scale};
  };
  p.ttft = percentiles(w.ttft, 1e3);
  p.ntpot = percentiles(w.ntpot, 1e3);
  p.itl = percentiles(itl, 1e3);
  p.e2e = percentiles(w.e2e, 1e3);
  p.goodput_rps = p.requests_per_second * static_cast<double>(w.good) / w.count;
  // Little's law: the mean number in a stage is throughput x the mean time spent in it.
  p.mean_running = p.requests_per_second * w.running_seconds / w.count;
  p.mean_waiting = p.requests_per_second * w.waiting_seconds / w.count;
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
