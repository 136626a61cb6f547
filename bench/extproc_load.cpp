// kgai-extproc-load: plays many Envoy ext_proc streams at once against an external processor
// (`kgai gateway --ext-proc-listen`), with few threads: gRPC's callback API, one reactor per
// stream (extproc_load_stream.h), streams spread over a few HTTP/2 connections as Envoy
// spreads them over its workers'. Behind bench/gateway_extproc.sh.
//
//   load (default)  streams at --concurrency (closed loop: one starts when one ends) or at
//                   --rate per second (open loop, Poisson, seeded; at most --concurrency open).
//                   Each is one request's request phases, FULL_DUPLEX_STREAMED: request_headers,
//                   then the body in --chunk-bytes chunks right behind them; the answers (the
//                   headers answer with the destination, the body echoed back); then Envoy's
//                   half-close, --think-ms (mean) after the last answer. Measured: the decision
//                   time as Envoy sees it (request_headers handed to gRPC -> the headers answer
//                   read, the body upload included), the request phases, the whole stream.
//   hold (--hold N) opens N streams (--concurrency being set up at a time) and keeps each at a
//                   point: --hold-at partial (request_headers and the first body chunk sent) or
//                   decided (the whole request sent and answered; the response phases would
//                   come next). With --gateway-pid it reads the processor's RSS fresh, idle
//                   after --warmup-requests streams, and with all N open: bytes per stream.
//
// Percentiles are exact, over every sample (stats::Samples); --json also writes each
// distribution as log buckets (1 % wide). Exit status: 0 the run completed without failures,
// 1 some streams failed, 2 bad flags or the run could not start.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "extproc_load_recorder.h"
#include "extproc_load_stream.h"

namespace kgai::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string target;
  int channels = 4;
  int concurrency = 100;
  double rate = 0;  // 0: closed loop
  size_t body_bytes = 2048;
  size_t chunk_bytes = 16 * 1024;
  std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  bool same_prompt = false;
  double duration_s = 10;
  double warmup_s = 2;
  uint64_t requests = 0;
  double think_ms = 0;
  bool fixed_think = false;
  double timeout_s = 30;
  uint64_t seed = 1;
  std::string json_path;
  std::string label;
  // hold
  int hold = 0;
  std::string hold_at = "decided";
  size_t partial_chunks = 1;
  double hold_s = 5;
  int gateway_pid = 0;
  std::string gateway_metrics;
  uint64_t warmup_requests = 1000;
};

std::vector<std::unique_ptr<Stub>> make_stubs(const std::string& target, int channels) {
  std::vector<std::unique_ptr<Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel and no shared subchannel pool: one HTTP/2 connection
    // each, as Envoy has one per worker thread.
    args.SetInt("kgai.extproc_load.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    stubs.push_back(pb::ExternalProcessor::NewStub(channel));
  }
  return stubs;
}

// Starts streams and keeps count of those open.
class Launcher {
 public:
  Launcher(const Options& o, std::vector<std::unique_ptr<Stub>>& stubs, const RequestTemplate& t)
      : options_(o), stubs_(stubs), request_(t) {}

  // `on_done` runs on a gRPC thread after the stream's end has been counted.
  void launch(HoldAt hold_at, std::function<void(LoadStream&)> on_held,
              std::function<void(const StreamResult&)> on_done) {
    const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    StreamSetup s;
    s.request = &request_;
    s.id = id;
    s.hold_at = hold_at;
    s.partial_chunks = options_.partial_chunks;
    s.think = std::chrono::microseconds(static_cast<int64_t>(think_ms(id) * 1000));
    s.timeout = std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000));
    s.on_held = std::move(on_held);
    s.on_done = [this, on_done = std::move(on_done)](const StreamResult& r) {
      if (on_done) on_done(r);
      // Counted last, and notified under the lock: whoever waits for no open streams may
      // destroy what the callbacks use as soon as it wakes.
      std::lock_guard lock(mutex_);
      --open_;
      changed_.notify_all();
    };
    {
      std::lock_guard lock(mutex_);
      ++open_;
    }
    LoadStream::start(*stubs_[id % stubs_.size()], std::move(s));
  }

  int64_t open() {
    std::lock_guard lock(mutex_);
    return open_;
  }

  // A stream's think time: exponential around --think-ms unless --fixed-think. Fixed think
  // times keep the streams in lockstep (the first ones start together, so they stay together):
  // the load then comes in bursts of --concurrency requests, not as steady traffic. Drawn from
  // (seed, stream number), so a run repeats.
  double think_ms(uint64_t id) const {
    if (options_.fixed_think || options_.think_ms <= 0) return options_.think_ms;
    uint64_t z = options_.seed * 0x9e3779b97f4a7c15ULL + id + 1;  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double u = (static_cast<double>(z >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
    return -options_.think_ms * std::log(u);
  }
  // Waits until fewer than `limit` streams are open (or the deadline).
  bool wait_below(int64_t limit, SteadyTime deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return open_ < limit; });
  }

 private:
  const Options& options_;
  std::vector<std::unique_ptr<Stub>>& stubs_;
  const RequestTemplate& request_;
  std::atomic<uint64_t> next_id_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  int64_t open_ = 0;
};

struct LoadResult {
  double window_s = 0;
  uint64_t started = 0;
  // CPU seconds over the measured window (-1: not read): the processor's (--gateway-pid)
  // and this client's. On a shared machine CPU per stream says more than latency.
  double server_cpu_s = -1;
  double client_cpu_s = -1;
};

// utime + stime of a process (0: this one), in seconds; -1 when unreadable.
double process_cpu_s(int pid) {
  std::ifstream in(pid > 0 ? fmt::format("/proc/{}/stat", pid) : "/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Closed loop: --concurrency streams, each replaced as it ends, until the window closes.
// Open loop: Poisson arrivals at --rate, at most --concurrency open (a late start is recorded
// as schedule delay, not hidden). Streams started in the warmup are not recorded.
LoadResult run_load(const Options& o, Launcher& launcher, Recorder& recorder, double warmup_s,
                    double duration_s, uint64_t max_requests) {
  const SteadyTime begin = Clock::now();
  const SteadyTime measure_from =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
  const SteadyTime measure_until = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(duration_s));
  std::atomic<uint64_t> measured_started{0};
  std::atomic<bool> accepting{true};
  std::atomic<bool> budget_used{false};
  auto in_window = [&](SteadyTime t) { return t >= measure_from && t < measure_until; };
  auto admit = [&]() {
    // Counts a measured start; false once the window or the request budget is used up.
    const SteadyTime now = Clock::now();
    if (!accepting.load() || now >= measure_until) return false;
    if (now >= measure_from && max_requests > 0 && measured_started.fetch_add(1) >= max_requests) {
      budget_used = true;
      return false;
    }
    return true;
  };
  auto record = [&](const StreamResult& r) {
    if (in_window(r.times.start)) recorder.add(r);
  };
  double server_cpu0 = -1, client_cpu0 = -1;
  std::thread cpu_sampler([&] {
    std::this_thread::sleep_until(measure_from);
    if (o.gateway_pid > 0) server_cpu0 = process_cpu_s(o.gateway_pid);
    client_cpu0 = process_cpu_s(0);
  });

  std::function<void(const StreamResult&)> closed_loop_done;
  closed_loop_done = [&](const StreamResult& r) {
    record(r);
    if (admit()) launcher.launch(HoldAt::kNone, nullptr, closed_loop_done);
  };
  uint64_t started = 0;
  if (o.rate <= 0) {
    for (int i = 0; i < o.concurrency && admit(); ++i, ++started) {
      launcher.launch(HoldAt::kNone, nullptr, closed_loop_done);
    }
    // The window closes by itself (admit() says no); streams in flight then finish.
    while (Clock::now() < measure_until && !budget_used.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } else {
    std::mt19937_64 rng(o.seed);
    std::exponential_distribution<double> gap(o.rate);
    SteadyTime arrival = begin;
    while (true) {
      arrival +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(rng)));
      if (arrival >= measure_until) break;
      std::this_thread::sleep_until(arrival);
      launcher.wait_below(o.concurrency, measure_until);
      if (!admit()) break;
      if (arrival >= measure_from) recorder.add_schedule_delay(to_ms(Clock::now() - arrival));
      launcher.launch(HoldAt::kNone, nullptr, record);
      ++started;
    }
  }
  accepting = false;
  cpu_sampler.join();
  LoadResult result;
  result.started = started;
  if (server_cpu0 >= 0) result.server_cpu_s = process_cpu_s(o.gateway_pid) - server_cpu0;
  result.client_cpu_s = process_cpu_s(0) - client_cpu0;
  const SteadyTime drain_deadline =
      Clock::now() +
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s + 5));
  if (!launcher.wait_below(1, drain_deadline)) {
    // Their callbacks refer to this frame: there is no going on.
    fmt::print(stderr, "kgai-extproc-load: {} streams still open past their timeout\n",
               launcher.open());
    std::fflush(stdout);
    std::_Exit(1);
  }
  const SteadyTime end = std::min(Clock::now(), measure_until);
  result.window_s = std::chrono::duration<double>(end - measure_from).count();
  return result;
}

struct Memory {
  int64_t rss_kb = -1;
  int64_t anon_kb = -1;
};

Memory read_memory(int pid) {
  Memory m;
  std::ifstream in(pid > 0 ? fmt::format("/proc/{}/status", pid) : "/proc/self/status");
  std::string key;
  int64_t value = 0;
  std::string unit;
  while (in >> key) {
    if (key == "VmRSS:" && in >> value >> unit) m.rss_kb = value;
    if (key == "RssAnon:" && in >> value >> unit) m.anon_kb = value;
  }
  return m;
}

// The median of three readings 200 ms apart: one reading can catch a passing allocation.
Memory settled_memory(int pid) {
  std::vector<Memory> m;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m.push_back(read_memory(pid));
  }
  std::sort(m.begin(), m.end(),
            [](const Memory& a, const Memory& b) { return a.rss_kb < b.rss_kb; });
  return m[1];
}

json memory_json(const Memory& m) { return {{"rss_kb", m.rss_kb}, {"rss_anon_kb", m.anon_kb}}; }

// kgai_gateway_ext_proc_streams on the gateway's /metrics (-1 when unreadable).
double open_streams_reported(const std::string& url) {
  if (url.empty()) return -1;
  auto r = http::get(url);
  if (!r || r->status != 200) return -1;
  const std::string key = "\nkgai_gateway_ext_proc_streams ";
  const size_t at = r->body.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(r->body.substr(at + key.size()));
}

json run_hold(const Options& o, Launcher& launcher, Recorder& warmup_recorder) {
  json out;
  const Memory fresh = settled_memory(o.gateway_pid);
  const Memory client_fresh = read_memory(0);
  // The warmup grows gRPC's and the gateway's one-time state (threads, pools, the prefix
  // index) so that "idle" has it and the held streams' difference does not.
  if (o.warmup_requests > 0) {
    run_load(o, launcher, warmup_recorder, 0, 3600, o.warmup_requests);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Memory idle = settled_memory(o.gateway_pid);
  const Memory client_idle = read_memory(0);

  const HoldAt at = o.hold_at == "partial" ? HoldAt::kPartialBody : HoldAt::kDecided;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<LoadStream*> held;
  int64_t setting_up = 0;
  uint64_t failed = 0;
  std::vector<std::string> failures;
  auto on_held = [&](LoadStream& s) {
    {
      std::lock_guard lock(mutex);
      held.push_back(&s);
      --setting_up;
    }
    changed.notify_all();
  };
  auto on_done = [&](const StreamResult& r) {
    std::lock_guard lock(mutex);
    if (r.held) return;  // released
    --setting_up;
    ++failed;
    if (failures.size() < 5) {
      failures.push_back(fmt::format("grpc {} \"{}\" immediate {} error \"{}\"", r.grpc_code,
                                     r.grpc_message, r.immediate_status, r.error));
    }
    changed.notify_all();
  };
  const SteadyTime open_start = Clock::now();
  const SteadyTime give_up =
      open_start + std::chrono::seconds(static_cast<int64_t>(o.timeout_s) + 60);
  for (int i = 0; i < o.hold; ++i) {
    {
      std::unique_lock lock(mutex);
      // A window of streams being set up at once, as Envoy's load would open them.
      if (!changed.wait_until(lock, give_up, [&] { return setting_up < o.concurrency; })) break;
      ++setting_up;
    }
    launcher.launch(at, on_held, on_done);
  }
  {
    std::unique_lock lock(mutex);
    changed.wait_until(lock, give_up, [&] { return setting_up == 0; });
  }
  const double open_s = std::chrono::duration<double>(Clock::now() - open_start).count();
  size_t held_count;
  {
    std::lock_guard lock(mutex);
    held_count = held.size();
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Memory loaded = settled_memory(o.gateway_pid);
  const Memory client_loaded = read_memory(0);
  const double reported = open_streams_reported(o.gateway_metrics);
  fmt::print("holding {} streams ({}, {} failed) after {:.1f} s; the gateway reports {} open\n",
             held_count, o.hold_at, failed, open_s, reported);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, o.hold_s - 1.6)));

  std::vector<LoadStream*> to_release;
  {
    std::lock_guard lock(mutex);
    to_release.swap(held);
  }
  for (LoadStream* s : to_release) s->release();  // each lives until its release
  launcher.wait_below(1, Clock::now() + std::chrono::seconds(static_cast<int64_t>(o.timeout_s)));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Memory after = settled_memory(o.gateway_pid);
  const double reported_after = open_streams_reported(o.gateway_metrics);

  auto per_stream = [&](const Memory& base, const Memory& with) {
    return held_count > 0 && base.rss_kb >= 0 ? static_cast<double>(with.rss_kb - base.rss_kb) *
                                                    1024.0 / static_cast<double>(held_count)
                                              : -1.0;
  };
  const double bytes = per_stream(idle, loaded);
  const double bytes_fresh = per_stream(fresh, loaded);
  const double client_bytes = per_stream(client_idle, client_loaded);
  if (o.gateway_pid > 0) {
    fmt::print(
        "gateway RSS: fresh {} kB, idle after {} warmup streams {} kB, with {} streams "
        "open {} kB, after their release {} kB\n",
        fresh.rss_kb, o.warmup_requests, idle.rss_kb, held_count, loaded.rss_kb, after.rss_kb);
    fmt::print("gateway bytes per open stream: {:.0f} (vs idle), {:.0f} (vs fresh)\n", bytes,
               bytes_fresh);
  }
  fmt::print("client RSS: idle {} kB, with the streams open {} kB: {:.0f} bytes per stream\n",
             client_idle.rss_kb, client_loaded.rss_kb, client_bytes);
  for (const auto& f : failures) fmt::print("  failure: {}\n", f);
  out = {{"hold_at", o.hold_at},
         {"requested", o.hold},
         {"held", held_count},
         {"failed", failed},
         {"failure_examples", failures},
         {"open_seconds", open_s},
         {"gateway_reported_open", reported},
         {"gateway_reported_open_after_release", reported_after},
         {"gateway_pid", o.gateway_pid},
         {"gateway_fresh", memory_json(fresh)},
         {"gateway_idle", memory_json(idle)},
         {"gateway_loaded", memory_json(loaded)},
         {"gateway_after_release", memory_json(after)},
         {"gateway_bytes_per_stream", bytes},
         {"gateway_bytes_per_stream_vs_fresh", bytes_fresh},
         {"client_fresh", memory_json(client_fresh)},
         {"client_idle", memory_json(client_idle)},
         {"client_loaded", memory_json(client_loaded)},
         {"client_bytes_per_stream", client_bytes}};
  return out;
}

json cpu_json(SteadyTime since) {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return {{"user_s", s(u.ru_utime)},
          {"sys_s", s(u.ru_stime)},
          {"wall_s", std::chrono::duration<double>(Clock::now() - since).count()},
          {"max_rss_kb", u.ru_maxrss}};
}

int run(const Options& o) {
  const SteadyTime since = Clock::now();
  auto stubs = make_stubs(o.target, o.channels);
  const RequestTemplate request =
      make_request(o.model, o.body_bytes, o.chunk_bytes, !o.same_prompt, o.seed);
  Launcher launcher(o, stubs, request);
  Recorder recorder;
  json report = {{"tool", "kgai-extproc-load"},
                 {"label", o.label},
                 {"target", o.target},
                 {"channels", o.channels},
                 {"concurrency", o.concurrency},
                 {"rate", o.rate},
                 {"body_bytes", request.body_bytes},
                 {"chunk_bytes", o.chunk_bytes},
                 {"body_messages", request.chunks.size()},
                 {"distinct_prompts", !o.same_prompt},
                 {"model", o.model},
                 {"think_ms", o.think_ms},
                 {"think", o.fixed_think ? "fixed" : "exponential"},
                 {"seed", o.seed}};
  fmt::print(
      "kgai-extproc-load: {} over {} channels, body {} bytes in {} messages of <= {}, "
      "seed {}\n",
      o.target, o.channels, request.body_bytes, request.chunks.size(), o.chunk_bytes, o.seed);
  uint64_t failed = 0;
  if (o.hold > 0) {
    fmt::print("hold {} streams at '{}', {} being set up at a time\n", o.hold, o.hold_at,
               o.concurrency);
    report["hold"] = run_hold(o, launcher, recorder);
    report["warmup"] = recorder.to_json(0);
    failed = report["hold"]["failed"].get<uint64_t>();
  } else {
    fmt::print("{}, {} s after a {} s warmup{}, think {} ms ({})\n",
               o.rate > 0 ? fmt::format("open loop at {} streams/s (at most {} open)", o.rate,
                                        o.concurrency)
                          : fmt::format("closed loop, concurrency {}", o.concurrency),
               o.duration_s, o.warmup_s,
               o.requests > 0 ? fmt::format(" (at most {} streams)", o.requests) : "", o.think_ms,
               o.fixed_think ? "fixed" : "exponential mean");
    const LoadResult r = run_load(o, launcher, recorder, o.warmup_s, o.duration_s, o.requests);
    recorder.print(r.window_s);
    const double ok = static_cast<double>(recorder.ok());
    auto per_stream_us = [&](double cpu_s) { return cpu_s >= 0 && ok > 0 ? cpu_s / ok * 1e6 : -1; };
    if (r.server_cpu_s >= 0) {
      fmt::print("processor CPU in the window: {:.2f} s, {:.1f} us per stream\n", r.server_cpu_s,
                 per_stream_us(r.server_cpu_s));
    }
    fmt::print("client CPU in the window: {:.2f} s, {:.1f} us per stream\n", r.client_cpu_s,
               per_stream_us(r.client_cpu_s));
    report["processor_cpu_s"] = r.server_cpu_s;
    report["processor_cpu_us_per_stream"] = per_stream_us(r.server_cpu_s);
    report["client_window_cpu_s"] = r.client_cpu_s;
    report["client_cpu_us_per_stream"] = per_stream_us(r.client_cpu_s);
    report["duration_s"] = o.duration_s;
    report["warmup_s"] = o.warmup_s;
    report["results"] = recorder.to_json(r.window_s);
    failed = recorder.failed();
  }
  report["client_cpu"] = cpu_json(since);
  fmt::print("client CPU: {:.2f} s user + {:.2f} s sys over {:.1f} s\n",
             report["client_cpu"]["user_s"].get<double>(),
             report["client_cpu"]["sys_s"].get<double>(),
             report["client_cpu"]["wall_s"].get<double>());
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << report.dump(1) << '\n';
    if (!out) {
      fmt::print(stderr, "kgai-extproc-load: cannot write {}\n", o.json_path);
      return 2;
    }
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace
}  // namespace kgai::bench

int main(int argc, char** argv) {
  kgai::bench::Options o;
  CLI::App app{
      "kgai-extproc-load: many Envoy ext_proc streams (FULL_DUPLEX_STREAMED) against an "
      "external processor, few threads; decision-time percentiles or memory per open "
      "stream."};
  app.add_option("--target", o.target, "HOST:PORT of the ext_proc server")->required();
  app.add_option("--channels", o.channels, "HTTP/2 connections (streams spread over them)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--concurrency", o.concurrency,
                 "streams open at once (closed loop); the cap in open loop; the setup window "
                 "with --hold")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "open loop: Poisson arrivals per second (0: closed loop)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--body-bytes", o.body_bytes, "request body size (an OpenAI completion)")
      ->capture_default_str();
  app.add_option("--chunk-bytes", o.chunk_bytes, "body bytes per request_body message")
      ->check(CLI::Range(size_t{1}, size_t{64} << 20))
      ->capture_default_str();
  app.add_option("--model", o.model, "model name in the body")->capture_default_str();
  app.add_flag("--same-prompt", o.same_prompt,
               "every stream sends the same prompt (default: each prompt starts with its own "
               "number, new to the prefix index)");
  app.add_option("--duration", o.duration_s, "measured seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds of load before the measurement")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--requests", o.requests, "stop after this many measured streams (0: none)")
      ->capture_default_str();
  app.add_option("--think-ms", o.think_ms,
                 "mean milliseconds a stream stays open after its request phases (the "
                 "upstream response's time) before the half-close")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--fixed-think", o.fixed_think,
               "every stream thinks exactly --think-ms (default: exponential with that mean)");
  app.add_option("--timeout", o.timeout_s, "seconds one stream may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the prompt filler and the arrivals")
      ->capture_default_str();
  app.add_option("--json", o.json_path, "write the report (with full histograms) here");
  app.add_option("--label", o.label, "a name for the run, copied into the JSON");
  app.add_option("--hold", o.hold, "hold this many streams open (the memory test)")
      ->check(CLI::Range(0, 10'000'000));
  app.add_option("--hold-at", o.hold_at, "where held streams stop")
      ->check(CLI::IsMember({"partial", "decided"}))
      ->capture_default_str();
  app.add_option("--partial-chunks", o.partial_chunks,
                 "--hold-at partial: body chunks sent before the hold (fewer than the body has)")
      ->capture_default_str();
  app.add_option("--hold-seconds", o.hold_s, "how long the streams stay open")
      ->capture_default_str();
  app.add_option("--gateway-pid", o.gateway_pid,
                 "the processor's pid, for its CPU per stream (load) or RSS (--hold)");
  app.add_option("--gateway-metrics", o.gateway_metrics,
                 "the gateway's /metrics URL, for kgai_gateway_ext_proc_streams");
  app.add_option("--warmup-requests", o.warmup_requests,
                 "--hold: streams run (and ended) before the idle RSS is read")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.hold > 0 && o.hold_at == "partial" && o.body_bytes <= o.chunk_bytes * o.partial_chunks) {
    fmt::print(stderr,
               "kgai-extproc-load: --hold-at partial needs a body of more than --partial-chunks "
               "chunks (--body-bytes > --chunk-bytes x --partial-chunks)\n");
    return 2;
  }
  return kgai::bench::run(o);
}
