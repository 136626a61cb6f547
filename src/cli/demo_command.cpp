// `kgai demo`: the main job. A simulated GPU pool, one router per routing policy, the same
// seeded workload through each from light load to past saturation, and a report that
// compares them (DIR/index.html, DIR/summary.json, a console table).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "common/log.h"
#include "demo/demo_report.h"
#include "demo/demo_runner.h"

namespace kgai::cli {
namespace {

// The command line as typed (from /proc/self/cmdline), for the report.
std::string own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out;
  for (size_t start = 0; start < all.size();) {
    const size_t end = all.find('\0', start);
    std::string arg = all.substr(start, end - start);
    if (start == 0) arg = std::filesystem::path(arg).filename().string();
    out += (out.empty() ? "" : " ") + arg;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out.empty() ? "kgai demo" : out;
}

std::string own_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("kgai") : path.string();
}

int run_demo_command(demo::DemoOptions options, const std::string& policies_text) {
  if (!policies_text.empty()) {
    std::stringstream in(policies_text);
    for (std::string name; std::getline(in, name, ',');) {
      if (!name.empty()) options.policies.push_back(name);
    }
  }
  if (options.kgai_binary.empty()) options.kgai_binary = own_executable();

  // Ctrl-C and SIGTERM: a thread waits for them and asks the run to stop; the run then
  // stops every process it started (their destructors) and returns.
  const sigset_t signals = block_stop_signals();
  std::atomic<bool> stop{false};
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    const int signal = wait_for_stop_signal(signals);
    if (!finished) {
      log::warn("signal {}: stopping the demo and everything it started", signal);
      stop = true;
    }
  });
  auto result = demo::run_demo(
      options, [](const std::string& line) { log::info("demo: {}", line); }, stop);
  finished = true;
  ::pthread_kill(watcher.native_handle(), SIGTERM);  // wakes sigwait; `finished` says ignore
  watcher.join();

  if (!result) {
    log::error("demo: {}", result.error().message);
    return 1;
  }
  if (auto written = demo::write_demo_report(*result, options.out_dir); !written) {
    log::error("demo: {}", written.error().message);
    return 1;
  }
  fmt::print("\n{}\n", demo::format_demo_table(*result));
  const auto dir = std::filesystem::absolute(options.out_dir);
  fmt::print("report: {}\nsummary: {}\nlogs and perf reports: {}\n", (dir / "index.html").string(),
             (dir / "summary.json").string(), (dir / "runs").string());
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<demo::DemoOptions>();
  auto policies = std::make_shared<std::string>();
  auto* demo = app.add_subcommand(
      "demo",
      "The main job: a simulated GPU pool (kgai sim), one router per routing policy in front "
      "of it (kgai gateway's profiles, nginx, HAProxy), the same seeded workload through each "
      "at rising rates (kgai perf), and a report comparing them: DIR/index.html, "
      "DIR/summary.json.");
  demo->add_option("--out", options->out_dir, "Output folder")->capture_default_str();
  demo->add_flag("--quick", options->quick,
                 "Two short stages and the kgai gateway policies only (about a minute)");
  demo->add_option("--replicas", options->replicas, "Simulated replicas")->capture_default_str();
  demo->add_option("--model", options->model, "Model, by catalog name (kgai sim --list)")
      ->capture_default_str();
  demo->add_option("--accelerator", options->accelerator, "Accelerator, by catalog name")
      ->capture_default_str();
  demo->add_option("--workload", options->workload, "shared_prefix, sharegpt or mixed")
      ->capture_default_str();
  demo->add_option("--policies", *policies,
                   "Comma-separated: round-robin, least-request, kgai, nginx, haproxy (default: "
                   "all; nginx and HAProxy are skipped when not installed)");
  demo->add_option("--seed", options->seed, "Seed of the workload and the simulator")
      ->capture_default_str();
  demo->add_option(
          "--rates", options->rates,
          "Offered request rates of the stages, req/s, comma-separated (default 20,50,80,110; "
          "--quick 10,40)")
      ->delimiter(',');
  demo->add_option("--stage-seconds", options->stage_seconds,
                   "Seconds of each stage (default 5; --quick 3)");
  demo->add_option("--time-scale", options->time_scale,
                   "Simulated seconds per real second (default 1: real time)");
  demo->callback([&exit_code, options, policies] {
    options->command_line = own_command_line();
    exit_code = run_demo_command(*options, *policies);
  });
}

}  // namespace kgai::cli
