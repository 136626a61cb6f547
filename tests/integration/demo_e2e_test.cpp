// `kgai demo --quick` end to end: a simulated pool, three gateway policies, two short stages
// each; the report files exist and summary.json has the documented schema.
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/process.h"

namespace kgai::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

bool is_number_or_null(const nlohmann::json& j) { return j.is_number() || j.is_null(); }

TEST(DemoE2eTest, QuickRunWritesTheReport) {
  const fs::path out = fresh_dir("kgai-demo-e2e");
  KgaiProcess demo(
      {"demo", "--quick", "--replicas", "2", "--stage-seconds", "2", "--out", out.string()});
  const int code = demo.wait_exit(300s);
  ASSERT_EQ(code, 0) << demo.output();
  EXPECT_NE(demo.output().find("kgai vs round-robin"), std::string::npos) << demo.output();
  EXPECT_NE(demo.output().find(out.string() + "/index.html"), std::string::npos);

  std::ifstream in(out / "summary.json");
  ASSERT_TRUE(in) << "no summary.json";
  const auto summary = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(summary.is_discarded());
  ASSERT_TRUE(summary["pool"].is_object());
  EXPECT_EQ(summary["pool"]["replicas"], 2);
  EXPECT_EQ(summary["pool"]["model"], "llama-3.1-8b");
  EXPECT_EQ(summary["workload"]["kind"], "shared_prefix");
  EXPECT_EQ(summary["workload"]["rates"], (nlohmann::json{10, 40}));
  ASSERT_TRUE(summary["host_check"]["ok"].is_boolean());
  ASSERT_TRUE(summary["policies"].is_array());
  std::set<std::string> names;
  for (const auto& p : summary["policies"]) {
    names.insert(p["name"].get<std::string>());
    EXPECT_FALSE(p["skipped"].get<bool>());
    ASSERT_EQ(p["stages"].size(), 2u) << p.dump();
    for (const auto& s : p["stages"]) {
      for (const char* key : {"rate", "ttft_p50", "ttft_p90", "ntpot_p50", "output_tokens_per_sec",
                              "goodput", "errors"}) {
        ASSERT_TRUE(s.contains(key)) << key << " in " << s.dump();
        EXPECT_TRUE(is_number_or_null(s[key])) << key << " in " << s.dump();
      }
      EXPECT_EQ(s["errors"], 0) << p["name"] << " " << s.dump();
      // Times are seconds: a simulated TTFT is well under a minute and above a microsecond.
      EXPECT_GT(s["ttft_p50"].get<double>(), 1e-6);
      EXPECT_LT(s["ttft_p90"].get<double>(), 60);
      EXPECT_GT(s["output_tokens_per_sec"].get<double>(), 0);
    }
    EXPECT_EQ(p["requests_per_replica"].size(), 2u);
  }
  EXPECT_EQ(names, (std::set<std::string>{"round-robin", "least-request", "kgai"}));
  EXPECT_TRUE(summary["headline"].is_object()) << summary["headline"].dump();

  std::ifstream html_in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(html_in)), {});
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("least-request"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "runs" / "kgai" / "stage_1_lifecycle_metrics.json"));
  fs::remove_all(out);
}

TEST(DemoE2eTest, BadFlagsAreClearErrors) {
  KgaiProcess unknown(
      {"demo", "--policies", "kgai,envoy", "--out", fresh_dir("kgai-demo-bad").string()});
  EXPECT_EQ(unknown.wait_exit(30s), 1);
  EXPECT_NE(unknown.output().find("unknown policy 'envoy'"), std::string::npos) << unknown.output();
}

// Ctrl-C stops the demo and every process it started.
TEST(DemoE2eTest, InterruptStopsEverything) {
  const fs::path out = fresh_dir("kgai-demo-interrupt");
  KgaiProcess demo(
      {"demo", "--quick", "--replicas", "2", "--seed", "424242", "--out", out.string()});
  // Wait until the first policy's gateway runs, then interrupt.
  for (int i = 0; i < 300 && !fs::exists(out / "runs" / "round-robin" / "router.log"); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(fs::exists(out / "runs" / "round-robin" / "router.log")) << demo.output();
  demo.signal(SIGINT);
  EXPECT_EQ(demo.wait_exit(60s), 1) << demo.output();
  EXPECT_NE(demo.output().find("interrupted"), std::string::npos) << demo.output();
  // No child survives: the simulator and perf carry the seed in their command lines, the
  // gateway its config file in the output folder.
  std::this_thread::sleep_for(500ms);
  for (const std::string& pattern : {std::string("seed 424242"), out.string()}) {
    // "[s]eed" matches "seed" but not the shell running pgrep, whose command line holds it.
    const std::string regex = "[" + pattern.substr(0, 1) + "]" + pattern.substr(1);
    const std::string check = "pgrep -f '" + regex + "' > /dev/null";
    EXPECT_NE(std::system(check.c_str()), 0) << "a process matching " << pattern << " still runs";
  }
  fs::remove_all(out);
}

}  // namespace
}  // namespace kgai::testing
