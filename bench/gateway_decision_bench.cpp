// The endpoint picker's decision latency, the gateway's own cost per request: the default
// profile (queue x2, kv-cache x2, prefix x3, max-score-picker) deciding over pools of 64 and
// 1,024 endpoints with realistic state (waiting 0-20, KV use 0-1, an eighth of the pool
// holding the shared system prompt in the prefix index), for 2 KB and 200 KB chat prompts.
// Each iteration is one Scheduler::schedule() + picked() on a fresh SchedulingContext, as the
// proxy does per request; bodies are parsed once, outside the timed region. Each decision is
// timed on its own (manual time), so the counters give exact p50/p99/max, not just the mean;
// cpu_p50/cpu_p99 are the same decisions in thread CPU time.
#include <time.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "common/stats.h"
#include "gateway/config.h"
#include "gateway/request_info.h"
#include "gateway/scheduler.h"

namespace {

using namespace kgai::gateway;
using kgai::SteadyTime;

constexpr int kDecisions = 20'000;
constexpr size_t kBodies = 256;  // distinct requests, cycled through

// Prose-like text with the escapes a real prompt carries.
std::string prose(size_t bytes, std::mt19937& rng) {
  static const char* kWords[] = {"the",   "model", "server", "cache", "token", "prefix",
                                 "route", "queue", "batch",  "GPU",   "\\n",   "\\\"quoted\\\"",
                                 "kv",    "and",   "of",     "when",  "then",  "request"};
  std::string text;
  while (text.size() < bytes) {
    text += kWords[rng() % std::size(kWords)];
    text += ' ';
  }
  text.resize(bytes);
  while (!text.empty() && text.back() == '\\') text.pop_back();
  return text;
}

// This thread's CPU time: unlike the steady clock it does not count time spent preempted, so
// on a shared machine the two p99s together tell the decision's cost from the neighbours'.
double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

PoolSnapshot make_pool(size_t n, SteadyTime now, std::mt19937& rng) {
  PoolSnapshot pool;
  pool.taken_at = now;
  std::uniform_int_distribution<int> waiting(0, 20);
  std::uniform_real_distribution<double> kv(0.0, 1.0);
  for (size_t i = 0; i < n; ++i) {
    EndpointState s;
    s.id = static_cast<uint32_t>(i);
    auto e = std::make_shared<Endpoint>();
    e->host = fmt::format("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
    e->port = 8000;
    e->address = e->host + ":8000";
    s.endpoint = std::move(e);
    s.healthy = true;
    s.scraped_at = now - std::chrono::milliseconds(rng() % 50);
    s.metrics.waiting = waiting(rng);
    s.metrics.running = 16;
    s.metrics.kv_usage = kv(rng);
    s.load = std::make_shared<EndpointLoad>();
    pool.endpoints.push_back(std::move(s));
  }
  return pool;
}

void BM_Decision(benchmark::State& state) {
  const size_t endpoints = static_cast<size_t>(state.range(0));
  const size_t body_bytes = static_cast<size_t>(state.range(1));
  std::mt19937 rng(7);
  const auto now = SteadyTime::clock::now();
  const PoolSnapshot pool = make_pool(endpoints, now, rng);
  const Scheduler scheduler(default_gateway_config().profile, 2.0);

  // Every request shares the system prompt. With `fresh`, each also brings a user message never
  // seen before (a request number leads it, so every block after the system prompt's is new to
  // the index: the usual case, which inserts and evicts); otherwise 256 requests repeat (the
  // next turn of a conversation: the picked endpoint already holds every block).
  const bool fresh = state.range(2) != 0;
  const std::string system = prose(std::min<size_t>(body_bytes / 4, 8000), rng);
  std::vector<std::string> users;
  for (size_t i = 0; i < kBodies; ++i)
    users.push_back(prose(body_bytes - system.size() - 200, rng));
  std::vector<std::string> bodies(kBodies);
  std::vector<RequestInfo> requests(kBodies);
  uint64_t request_number = 0;
  // Builds and parses request `i` into slot i % kBodies, outside any timed region.
  auto prepare = [&](size_t i) -> RequestInfo* {
    const size_t slot = i % kBodies;
    if (!fresh && !bodies[slot].empty()) return &requests[slot];
    std::string& body = bodies[slot];
    body.clear();
    body +=
        R"({"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"system","content":")";
    body += system;
    body += R"("},{"role":"user","content":")";
    body += fmt::format("Request {}. ", request_number++);
    body += users[slot];
    body += R"("}],"stream":true,"max_completion_tokens":256})";
    auto info = parse_request_body(body, ApiKind::kChatCompletions);
    if (!info) {
      state.SkipWithError(info.error().message.c_str());
      return nullptr;
    }
    info->target_model = info->model;
    requests[slot] = std::move(*info);
    return &requests[slot];
  };

  std::mt19937_64 tie_rng(42);
  auto context_for = [&](const RequestInfo& request) {
    SchedulingContext context;
    context.request = &request;
    context.pool = &pool;
    context.now = now;
    context.rng = &tie_rng;
    return context;
  };
  // Warm-up: an eighth of the pool has served requests with the shared system prompt, as
  // prefix-aware routing spreads a popular prompt under load; then 2,000 ordinary decisions
  // fill the picked endpoints' LRUs, so the timed ones see the steady state (evictions included).
  const size_t holders = std::max<size_t>(1, endpoints / 8);
  for (size_t i = 0; i < 4 * holders + 2000; ++i) {
    const RequestInfo* request = prepare(i);
    if (request == nullptr) return;
    SchedulingContext context = context_for(*request);
    Decision decision = scheduler.schedule(context);
    const uint32_t to = i < 4 * holders ? static_cast<uint32_t>(i % holders * 8 % endpoints)
                                        : decision.ranked.front();
    scheduler.picked(context, to);
  }

  kgai::stats::Samples micros, cpu_micros, schedule_micros;
  size_t next = 4 * holders + 2000;
  for (auto _ : state) {
    const RequestInfo* request = prepare(next++);
    if (request == nullptr) return;
    const double cpu_start = thread_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    SchedulingContext context = context_for(*request);
    Decision decision = scheduler.schedule(context);
    const auto scheduled = std::chrono::steady_clock::now();
    if (!decision.ranked.empty()) scheduler.picked(context, decision.ranked.front());
    const auto end = std::chrono::steady_clock::now();
    const double cpu_end = thread_cpu_seconds();
    benchmark::DoNotOptimize(decision);
    const double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    micros.add(seconds * 1e6);
    cpu_micros.add((cpu_end - cpu_start) * 1e6);
    schedule_micros.add(std::chrono::duration<double>(scheduled - start).count() * 1e6);
  }
  state.counters["p50_us"] = micros.percentile(50);
  state.counters["p99_us"] = micros.percentile(99);
  state.counters["max_us"] = micros.max();
  state.counters["cpu_p99_us"] = cpu_micros.percentile(99);
  state.counters["sched_p50_us"] = schedule_micros.percentile(50);
  state.counters["sched_p99_us"] = schedule_micros.percentile(99);
}

BENCHMARK(BM_Decision)
    ->ArgNames({"endpoints", "body_bytes", "fresh"})
    ->ArgsProduct({{64, 1024}, {2'000, 200'000}, {1, 0}})
    ->Iterations(kDecisions)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
