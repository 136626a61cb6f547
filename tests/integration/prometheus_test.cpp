// Server-side metrics from a real `kgai sim`: scraped directly, and through a real Prometheus
// server (skipped when the prometheus binary is not installed; scripts/deps.sh installs it).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "integration/process.h"
#include "perf/server_metrics.h"

namespace kgai {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";

// `name` found on PATH, or "".
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// A loopback port that was free a moment ago (bound to port 0, then closed).
uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// A child process with its output in `log`, stopped (SIGTERM, then SIGKILL) on destruction.
class ChildProcess {
 public:
  ChildProcess(std::string binary, std::vector<std::string> args, const fs::path& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
      std::vector<char*> argv;
      argv.push_back(binary.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }
  ~ChildProcess() { stop(); }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string log_tail() const {
    std::ifstream in(log_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "kgai-prom-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class Sim {
 public:
  Sim()
      : process_(
            {"sim", "--host", "127.0.0.1", "--port", "0", "--seed", "7", "--time-scale", "20"}) {
    auto ports = process_.wait_for_ports(1);
    if (!ports.empty()) port_ = ports[0];
  }
  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  std::string output() const { return process_.output(); }

  // `n` completions sharing one long prompt, so that the prefix cache is hit after the first.
  void load(int n) const {
    http::Client client("127.0.0.1", port_);
    const std::string prompt(800, 'p');  // 200 tokens: several full KV blocks
    for (int i = 0; i < n; ++i) {
      http::Request r;
      r.method = "POST";
      r.target = "/v1/completions";
      r.headers.push_back({"Content-Type", "application/json"});
      r.body = json{{"model", kModel}, {"prompt", prompt}, {"max_tokens", 8}, {"ignore_eos", true}}
                   .dump();
      auto response = client.send(r);
      ASSERT_TRUE(response) << response.error().message;
      ASSERT_EQ(response->status, 200) << response->body;
    }
  }

 private:
  testing::KgaiProcess process_;
  uint16_t port_ = 0;
};

TEST(PrometheusDirectScrape, StageAgainstKgaiSim) {
  Sim sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  perf::ServerMetricsOptions options;
  options.base_url = sim.url();
  options.scrape_interval = 50ms;
  auto collector = perf::ServerMetricsCollector::create(options);
  ASSERT_TRUE(collector) << collector.error().message;
  (*collector)->start_stage(0);
  sim.load(5);
  json j = (*collector)->end_stage(0);
  EXPECT_EQ(j["scrape_errors"], 0) << j.dump(2);
  EXPECT_GE(j["scrapes"].get<int>(), 2);
  ASSERT_TRUE(j["kv_cache_usage"]["mean"].is_number()) << j.dump(2);
  EXPECT_GE(j["kv_cache_usage"]["mean"].get<double>(), 0);
  EXPECT_LE(j["kv_cache_usage"]["max"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(j["num_requests"].get<double>(), 5);
  EXPECT_DOUBLE_EQ(j["prompt_tokens"].get<double>(), 5 * 200);
  EXPECT_DOUBLE_EQ(j["generation_tokens"].get<double>(), 5 * 8);
  EXPECT_DOUBLE_EQ(j["prefix_cache_queries"].get<double>(), 5 * 200);
  EXPECT_GT(j["prefix_cache_hit_rate"].get<double>(), 0.5);  // 4 of 5 prompts cached
  EXPECT_GT(j["request_latency"]["mean"].get<double>(), 0);
  EXPECT_GT(j["time_to_first_token"]["mean"].get<double>(), 0);
  EXPECT_TRUE(j["num_preemptions"].is_number());
}

TEST(PrometheusIntegration, StageThroughRealPrometheus) {
  const std::string binary = find_in_path("prometheus");
  if (binary.empty()) {
    GTEST_SKIP() << "the prometheus binary is not on PATH; scripts/deps.sh installs it "
                    "(Debian package 'prometheus')";
  }
  Sim sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  {
    std::ofstream config(dir.path() / "prometheus.yml");
    config << fmt::format(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: kgai-sim\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:{}']\n",
        sim.port());
  }
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  ChildProcess prometheus(binary,
                          {"--config.file=" + (dir.path() / "prometheus.yml").string(),
                           "--storage.tsdb.path=" + (dir.path() / "data").string(),
                           fmt::format("--web.listen-address=127.0.0.1:{}", port)},
                          dir.path() / "prometheus.log");
  const std::string url = fmt::format("http://127.0.0.1:{}", port);

  // Up once Prometheus answers and has scraped the sim successfully.
  bool up = false;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!up && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    auto r = http::get(url + "/api/v1/targets");
    if (!r || r->status != 200) continue;
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) continue;
    for (const auto& t : j["data"]["activeTargets"]) up = up || t.value("health", "") == "up";
  }
  ASSERT_TRUE(up) << prometheus.log_tail();

  perf::ServerMetricsOptions options;
  options.source = perf::MetricsSource::kPrometheus;
  options.prometheus_url = url;
  options.filters = {"job=\"kgai-sim\""};
  options.prometheus_scrape_interval = 1;
  auto collector = perf::ServerMetricsCollector::create(options);
  ASSERT_TRUE(collector) << collector.error().message;
  (*collector)->start_stage(0);
  // A scrape inside the stage's window before the load, so increase() sees the counters
  // move; then about three scrapes after it.
  std::this_thread::sleep_for(1500ms);
  sim.load(6);
  std::this_thread::sleep_for(3200ms);
  json j = (*collector)->end_stage(0);
  RecordProperty("stage_metrics", j.dump());  // in --gtest_output=json, for a look at real values

  EXPECT_EQ(j["source"], "prometheus");
  EXPECT_EQ(j["scrape_errors"], 0) << j.dump(2);
  EXPECT_EQ(j["scrapes"], 16);
  ASSERT_TRUE(j["kv_cache_usage"]["mean"].is_number()) << j.dump(2);
  EXPECT_GE(j["kv_cache_usage"]["mean"].get<double>(), 0);
  EXPECT_LE(j["kv_cache_usage"]["max"].get<double>(), 1);
  ASSERT_TRUE(j["num_requests_waiting"]["mean"].is_number()) << j.dump(2);
  ASSERT_TRUE(j["num_requests_running"]["max"].is_number()) << j.dump(2);
  // increase() extrapolates to the window's edges, so the counts are approximate.
  ASSERT_TRUE(j["prefix_cache_queries"].is_number()) << j.dump(2);
  EXPECT_GT(j["prefix_cache_queries"].get<double>(), 0);
  ASSERT_TRUE(j["num_requests"].is_number()) << j.dump(2);
  EXPECT_GT(j["num_requests"].get<double>(), 0);
  ASSERT_TRUE(j["prefix_cache_hit_rate"].is_number()) << j.dump(2);
  EXPECT_GT(j["prefix_cache_hit_rate"].get<double>(), 0.3);
  EXPECT_LE(j["prefix_cache_hit_rate"].get<double>(), 1.0);
  ASSERT_TRUE(j["request_latency"]["mean"].is_number()) << j.dump(2);
  EXPECT_GT(j["request_latency"]["mean"].get<double>(), 0);

  json summary = (*collector)->summary();
  EXPECT_EQ(summary["stages"], 1);
  prometheus.stop();
}

}  // namespace
}  // namespace kgai
