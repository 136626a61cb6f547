#include "demo/demo_runner.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "common/text_file.h"
#include "demo/child_process.h"
#include "demo/replica_sampler.h"
#include "demo/routers.h"
#include "demo/stage_results.h"

namespace kgai::demo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What a run sends: the workload's data section, the stages, the simulator's settings.
struct Plan {
  std::string data_yaml;  // the `data:` section of the perf config
  std::string description;
  std::vector<double> rates;
  double stage_seconds = 6;
  double time_scale = 1;
  // Each replica's KV cache is made small enough (0.24 of an H100 for the 8B model: about
  // 1,100 blocks of 16 tokens) that it cannot hold every group's system prompt and the running
  // requests: the prefix cache then hits only when the router keeps a group on few replicas,
  // as on a real pool whose cache is full of other traffic.
  double gpu_memory_utilization = 0.24;
  double ttft_slo = 0.5;    // goodput: TTFT at most this (s)
  double ntpot_slo = 0.05;  // and normalized time per output token at most this (s)
};

std::string find_sharegpt_sample(const std::string& kgai_binary) {
  std::vector<fs::path> candidates;
  if (const char* dir = std::getenv("KGAI_DATA_DIR")) candidates.emplace_back(dir);
  std::error_code ec;
  const fs::path exe = fs::canonical(kgai_binary, ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "data");
    candidates.push_back(exe.parent_path().parent_path() / "share" / "kgai" / "data");
  }
  candidates.emplace_back("data");
  for (const auto& dir : candidates) {
    const fs::path file = dir / "sharegpt_sample.json";
    if (fs::exists(file, ec)) return fs::absolute(file).string();
  }
  return {};
}

Result<Plan> make_plan(const DemoOptions& o) {
  Plan plan;
  double total_requests = 0;
  // From light load to past the points where the routers saturate this pool (shared_prefix on
  // 4 replicas: round-robin near 40 req/s, nginx near 60, leastconn near 90; kgai beyond 120),
  // within about three minutes for five policies.
  plan.rates = o.quick ? std::vector<double>{10, 40} : std::vector<double>{20, 50, 80, 110};
  plan.stage_seconds = o.quick ? 3 : 5;
  if (!o.rates.empty()) plan.rates = o.rates;
  if (o.stage_seconds > 0) plan.stage_seconds = o.stage_seconds;
  if (o.time_scale > 0) plan.time_scale = o.time_scale;
  for (double r : plan.rates) total_requests += r * plan.stage_seconds;
  if (o.workload == "shared_prefix" || o.workload == "mixed") {
    const bool mixed = o.workload == "mixed";
    const int groups = mixed ? 24 : 9;
    const int system_len = mixed ? 1000 : 2000;
    const int question_len = mixed ? 600 : 200;
    const int output_len = mixed ? 128 : 32;
    const int per_group = static_cast<int>(std::ceil(total_requests / groups)) + 1;
    plan.data_yaml = fmt::format(
        "data:\n  type: shared_prefix\n  shared_prefix:\n    num_groups: {}\n"
        "    num_prompts_per_group: {}\n    system_prompt_len: {}\n    question_len: {}\n"
        "    output_len: {}\n",
        groups, per_group, system_len, question_len, output_len);
    plan.description = fmt::format(
        "{}: {} groups of {}-token system prompts, each request a {}-token question after "
        "its group's prompt, {} output tokens; requests take the groups in turn",
        o.workload, groups, system_len, question_len, output_len);
    if (mixed) plan.ntpot_slo = 0.08;
  } else if (o.workload == "sharegpt") {
    const std::string path = find_sharegpt_sample(o.kgai_binary);
    if (path.empty()) {
      return fail(
          "--workload sharegpt needs data/sharegpt_sample.json (looked beside the kgai binary's "
          "folder, in ./data and in $KGAI_DATA_DIR)");
    }
    plan.data_yaml = fmt::format("data:\n  type: shareGPT\n  path: {}\n", path);
    plan.description = "sharegpt: conversations from ShareGPT (the sample in " + path +
                       "): real prompt and answer lengths, little prefix reuse";
  } else {
    return fail("--workload: expected shared_prefix, sharegpt or mixed, got '{}'", o.workload);
  }
  for (double r : plan.rates) {
    if (!(r > 0) || !std::isfinite(r)) return fail("every rate must be positive, got {}", r);
  }
  return plan;
}

std::string perf_config(const Plan& plan) {
  std::string stages;
  for (double r : plan.rates) {
    stages += fmt::format("  - {{rate: {}, duration: {}}}\n", r, plan.stage_seconds);
  }
  return fmt::format(
      "# Written by kgai demo: the same seeded workload for every policy.\n"
      "api: {{type: completion, streaming: true}}\n"
      "{}"
      "load:\n  type: poisson\n  interval: 1\n  request_timeout: 120\n  stages:\n{}"
      "report:\n  goodput:\n    constraints: {{ttft: {}, ntpot: {}}}\n",
      plan.data_yaml, stages, plan.ttft_slo, plan.ntpot_slo);
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string machine_description() {
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) {
      cpu = line.substr(line.find(':') + 1);
      while (!cpu.empty() && cpu.front() == ' ') cpu.erase(0, 1);
      break;
    }
  }
  return fmt::format("{} cores{}", std::thread::hardware_concurrency(),
                     cpu.empty() ? "" : ", " + cpu);
}

double load_average() {
  double one = 0;
  std::ifstream("/proc/loadavg") >> one;
  return one;
}

// A fresh simulated pool: empty KV and prefix caches for every policy.
struct Pool {
  ChildProcess process;
  std::vector<std::string> endpoints;  // host:port
  std::vector<std::string> urls;       // http://host:port
};

Result<Pool> start_pool(const DemoOptions& o, const Plan& plan, const std::string& log) {
  auto process = ChildProcess::start({o.kgai_binary,
                                      "sim",
                                      "--model",
                                      o.model,
                                      "--accelerator",
                                      o.accelerator,
                                      "--served-model-name",
                                      o.model,
                                      "--replicas",
                                      std::to_string(o.replicas),
                                      "--host",
                                      "127.0.0.1",
                                      "--port",
                                      "0",
                                      "--gpu-memory-utilization",
                                      fmt::format("{}", plan.gpu_memory_utilization),
                                      "--time-scale",
                                      fmt::format("{}", plan.time_scale),
                                      "--seed",
                                      std::to_string(o.seed)},
                                     log);
  if (!process) return fail(process.error());
  auto lines = process->wait_for_lines(" serving ", static_cast<size_t>(o.replicas), 30s);
  if (!lines) return fail(lines.error());
  Pool pool{std::move(*process), {}, {}};
  for (const auto& line : *lines) {
    const size_t at = line.find("http://");
    if (at == std::string::npos) return fail("cannot read a replica's address from '{}'", line);
    std::string url = line.substr(at);
    while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back()))) url.pop_back();
    pool.urls.push_back(url);
    pool.endpoints.push_back(url.substr(7));
  }
  return pool;
}

// Waits for a child, giving up early on Ctrl-C.
Result<int> wait_child(ChildProcess& child, std::chrono::seconds timeout,
                       const std::atomic<bool>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto status = child.wait(200ms);
    if (status) return *status;
    if (stop) return fail("interrupted");
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail("{} did not finish within {} s; its log ({}) ends:\n{}", child.name(),
                  timeout.count(), child.log_path(), child.log_tail());
    }
  }
}

// Runs perf against `url` with the demo's config; its report folder is `dir`.
Result<void> run_perf(const DemoOptions& o, const fs::path& config, const std::string& url,
                      const fs::path& dir, const Plan& plan, const std::atomic<bool>& stop) {
  auto perf = ChildProcess::start(
      {o.kgai_binary, "perf", "--config", config.string(), "--url", url, "--model", o.model,
       "--seed", std::to_string(o.seed), "--quiet", "--out", dir.string()},
      (dir.parent_path() / (dir.filename().string() + ".log")).string());
  if (!perf) return fail(perf.error());
  const double planned = static_cast<double>(plan.rates.size()) * (plan.stage_seconds + 1);
  auto status = wait_child(*perf, std::chrono::seconds(static_cast<int>(planned) + 240), stop);
  if (!status) return fail(status.error());
  if (*status != 0) {
    return fail("kgai perf failed (status {}); its log ({}) ends:\n{}", *status, perf->log_path(),
                perf->log_tail());
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> resolve_policies(const DemoOptions& options) {
  std::vector<std::string> out;
  if (options.policies.empty()) {
    for (const auto& p : known_policies()) {
      if (options.quick && p.optional) continue;
      out.push_back(p.name);
    }
    return out;
  }
  for (const auto& name : options.policies) {
    if (!find_policy(name)) {
      std::string known;
      for (const auto& p : known_policies()) known += (known.empty() ? "" : ", ") + p.name;
      return fail("--policies: unknown policy '{}' (known: {})", name, known);
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

Result<DemoResult> run_demo(const DemoOptions& o,
                            const std::function<void(const std::string&)>& progress,
                            const std::atomic<bool>& stop) {
  if (o.replicas < 1 || o.replicas > 64) return fail("--replicas must be 1-64, got {}", o.replicas);
  auto policies = resolve_policies(o);
  if (!policies) return fail(policies.error());
  auto plan = make_plan(o);
  if (!plan) return fail(plan.error());

  const fs::path out = o.out_dir;
  const fs::path work = out / "runs";
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return fail("cannot create {}: {}", work.string(), ec.message());
  const fs::path config = work / "perf.yaml";
  if (auto w = write_text_file(config.string(), perf_config(*plan)); !w) return fail(w.error());

  DemoResult result;
  result.started_at = utc_now();
  result.machine = machine_description();
  result.command = o.command_line;
  result.pool = PoolInfo{.replicas = o.replicas,
                         .model = o.model,
                         .accelerator = o.accelerator,
                         .time_scale = plan->time_scale,
                         .max_num_seqs = 0};
  result.workload = WorkloadInfo{.kind = o.workload,
                                 .description = plan->description,
                                 .seed = o.seed,
                                 .rates = plan->rates,
                                 .stage_seconds = plan->stage_seconds};

  // 1. Can this host and the load generator produce the top rate? The whole top rate goes to
  // one replica directly (no router) for a short stage; the generator's lateness and the
  // achieved rate say whether the figures below measure the routers or the machine.
  {
    progress(fmt::format("host check: {} req/s straight to one replica", plan->rates.back()));
    auto pool = start_pool(o, *plan, (work / "host-check-sim.log").string());
    if (!pool) return fail(pool.error());
    Plan check = *plan;
    check.rates = {plan->rates.back()};
    check.stage_seconds = o.quick ? 2 : 4;
    const fs::path check_config = work / "host-check.yaml";
    if (auto w = write_text_file(check_config.string(), perf_config(check)); !w)
      return fail(w.error());
    if (auto r = run_perf(o, check_config, pool->urls.front(), work / "host-check", check, stop);
        !r) {
      return fail(r.error());
    }
    std::ifstream in(work / "host-check" / "stage_0_lifecycle_metrics.json");
    auto stage = nlohmann::json::parse(in, nullptr, false);
    const double delay = stage.is_discarded()
                             ? NAN
                             : stage.value("/load_summary/schedule_delay/p99"_json_pointer, NAN);
    const double achieved =
        stage.is_discarded() ? NAN : stage.value("/load_summary/achieved_rate"_json_pointer, NAN);
    result.host_check.schedule_delay_p99 = delay;
    result.host_check.cpu_load_average = load_average();
    const double offered = plan->rates.back();
    result.host_check.ok = delay < 0.05 && achieved >= 0.9 * offered;
    result.host_check.message = fmt::format(
        "The load generator sent {} req/s for {} s straight to one replica: achieved {:.1f} "
        "req/s, schedule delay p99 {:.1f} ms, load average {:.2f} on {} cores. {}",
        offered, check.stage_seconds, achieved, delay * 1e3, result.host_check.cpu_load_average,
        std::thread::hardware_concurrency(),
        result.host_check.ok
            ? "The generator keeps up: the differences below are the routers'."
            : "The generator fell behind (delay p99 over 50 ms or under 90 % of the rate): the "
              "machine is busy or too small, and the figures below are partly its own.");
    progress(result.host_check.message);
  }

  // 2. Each policy on a fresh pool.
  for (const std::string& name : *policies) {
    if (stop) return fail("interrupted");
    const PolicySpec& spec = *find_policy(name);
    PolicyResult policy;
    policy.name = spec.name;
    policy.description = spec.description;
    if (spec.optional && find_program(spec.name).empty()) {
      policy.skipped = true;
      policy.skip_reason = fmt::format("{} is not installed (scripts/deps.sh installs it)", name);
      progress(fmt::format("{}: skipped, {}", name, policy.skip_reason));
      result.policies.push_back(std::move(policy));
      continue;
    }
    progress(fmt::format("{}: {} stages of {} s at {} req/s", name, plan->rates.size(),
                         plan->stage_seconds, fmt::join(plan->rates, ", ")));
    auto pool = start_pool(o, *plan, (work / (name + "-sim.log")).string());
    if (!pool) return fail(pool.error());
    auto router = start_router(spec, RouterSetup{.kgai_binary = o.kgai_binary,
                                                 .work_dir = work.string(),
                                                 .endpoints = pool->endpoints,
                                                 .model = o.model});
    if (!router) return fail("{}: {}", name, router.error().message);
    ReplicaSampler sampler(pool->urls, 500ms);
    if (auto s = sampler.start(); !s) return fail(s.error());
    if (auto r = run_perf(o, config, router->url, work / name, *plan, stop); !r) {
      return fail("{}: {}", name, r.error().message);
    }
    if (auto s = sampler.stop(); !s) return fail(s.error());
    auto stages = read_stage_results((work / name).string(), plan->rates);
    if (!stages) return fail(stages.error());
    policy.stages = std::move(*stages);
    policy.prefix_hit_rate = sampler.prefix_hit_rate();
    policy.requests_per_replica = sampler.requests_per_replica();
    policy.replica_load = sampler.series();
    router->process.stop();
    pool->process.stop();
    result.policies.push_back(std::move(policy));
  }

  const PolicyResult* kgai = nullptr;
  const PolicyResult* round_robin = nullptr;
  for (const auto& p : result.policies) {
    if (p.name == "kgai" && !p.skipped) kgai = &p;
    if (p.name == "round-robin" && !p.skipped) round_robin = &p;
  }
  if (kgai && round_robin) result.headline = compare_policies(*kgai, *round_robin);
  if (kgai) {
    for (const auto& p : result.policies) {
      if (p.skipped || &p == kgai) continue;
      if (auto c = compare_policies(*kgai, p)) result.comparisons.push_back(*c);
    }
  }
  return result;
}

}  // namespace kgai::demo
