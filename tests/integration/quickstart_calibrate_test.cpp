// The calibration loop with real processes: a `kgai sim` whose accelerator is slower than the
// catalog says (the "real server"), a `kgai perf` run against it, then `kgai quickstart
// calibrate` from the built-in catalog. The fit must move toward the server's factors and
// predict its figures better than the catalog did; the overlay must load in `kgai sim`.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/process.h"

namespace kgai::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

double factor_after(const nlohmann::json& out, const std::string& key) {
  for (const auto& f : out["factors"]) {
    if (f["key"] == key) return f["after"].get<double>();
  }
  ADD_FAILURE() << "no factor " << key;
  return 0;
}

TEST(QuickstartCalibrateCli, FitsAMeasuredSimTowardItsRealFactors) {
  const fs::path dir =
      fs::temp_directory_path() / ("kgai-qs-calibrate-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // The catalog says memory 0.88 and an API server with a 10 ms delay (and 7 ms of CPU per
  // request, which the server keeps) on an H100.
  std::ofstream(dir / "altered.yaml") << "accelerators:\n"
                                         "  - name: h100\n"
                                         "    efficiency: {memory: 0.55, frontend_ms: 25}\n";
  // Twice as fast as the wall clock, so the run takes a few seconds; calibrate is told.
  KgaiProcess sim({"sim", "--host", "127.0.0.1", "--port", "0", "--seed", "2", "--time-scale", "2",
                   "--catalog", (dir / "altered.yaml").string()});
  auto ports = sim.wait_for_ports(1);
  ASSERT_EQ(ports.size(), 1u) << sim.output();

  std::ofstream(dir / "perf.yaml")
      << "api: {type: completion, streaming: true}\n"
         "data:\n"
         "  type: synthetic\n"
         "  input_distribution: {mean: 512, std_dev: 100, min: 200, max: 900}\n"
         "  output_distribution: {mean: 32, std_dev: 0, min: 32, max: 32}\n"
         "load:\n"
         "  type: concurrent\n"
         "  interval: 0.1\n"
         "  stages: [{num_requests: 8, concurrency_level: 1}, "
         "{num_requests: 64, concurrency_level: 32}]\n"
         "server: {type: vllm, ignore_eos: true, base_url: http://127.0.0.1:"
      << ports[0] << "}\n"
      << "storage: {local_storage: {path: " << (dir / "report").string() << "}}\n";
  KgaiProcess perf({"perf", "--config", (dir / "perf.yaml").string(), "--quiet"});
  ASSERT_EQ(perf.wait_exit(60s), 0) << perf.output();

  const fs::path overlay = dir / "overlay.yaml";
  KgaiProcess calibrate({"quickstart", "calibrate", "--perf-report", (dir / "report").string(),
                         "--accelerator", "h100", "--time-scale", "2", "--format", "json", "--out",
                         overlay.string(), "--quiet"});
  ASSERT_EQ(calibrate.wait_exit(60s), 0) << calibrate.output();
  const auto out = nlohmann::json::parse(calibrate.output());
  EXPECT_EQ(out["model"], "meta-llama/Llama-3.1-8B-Instruct");  // from the report
  EXPECT_EQ(out["stages"].size(), 2u);
  const double memory = factor_after(out, "memory");
  const double frontend = factor_after(out, "frontend_ms");
  EXPECT_LT(memory, 0.75) << out.dump(2);  // from 0.88 toward 0.55
  EXPECT_GT(memory, 0.45) << out.dump(2);
  // From 10 toward 25. Two short stages pin the API server's delay down loosely: idle TTFT
  // sees it plus its CPU per request, the burst at concurrency 32 mostly the CPU.
  EXPECT_GT(frontend, 12) << out.dump(2);
  EXPECT_LT(frontend, 35) << out.dump(2);
  EXPECT_LT(factor_after(out, "frontend_cpu_ms"), 12) << out.dump(2);  // 7 on the server
  EXPECT_GT(out["error"]["before"].get<double>(), 0.15) << out.dump(2);
  EXPECT_LT(out["error"]["after"].get<double>(), out["error"]["before"].get<double>() / 2)
      << out.dump(2);

  // The overlay is a catalog file the simulator takes.
  ASSERT_TRUE(fs::exists(overlay));
  KgaiProcess offline({"sim", "offline", "--catalog", overlay.string(), "--concurrency", "1",
                       "--num-requests", "5", "--quiet"});
  EXPECT_EQ(offline.wait_exit(30s), 0) << offline.output();

  // Bad input exits 2 and says why.
  KgaiProcess missing({"quickstart", "calibrate", "--perf-report", (dir / "nope").string(),
                       "--accelerator", "h100"});
  EXPECT_EQ(missing.wait_exit(30s), 2);
  EXPECT_NE(missing.output().find("no such folder"), std::string::npos) << missing.output();
  KgaiProcess unknown({"quickstart", "calibrate", "--perf-report", (dir / "report").string(),
                       "--accelerator", "b300", "--quiet"});
  EXPECT_EQ(unknown.wait_exit(30s), 2);
  EXPECT_NE(unknown.output().find("unknown accelerator 'b300'"), std::string::npos)
      << unknown.output();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kgai::testing
