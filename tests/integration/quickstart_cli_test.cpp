// `kgai quickstart ... list` as users run them: the formats parse, --catalog and --prices
// overlays take effect, and bad input exits 2 with a message naming the file and key.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "integration/process.h"

namespace kgai::testing {
namespace {

using namespace std::chrono_literals;

std::filesystem::path temp_dir() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kgai-qs-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(QuickstartCliTest, UseCasesListAsJson) {
  KgaiProcess p({"quickstart", "use-cases", "list", "--format", "json"});
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  const auto json = nlohmann::json::parse(p.output());
  ASSERT_EQ(json["use_cases"].size(), 7u);
  EXPECT_EQ(json["use_cases"][3]["name"], "Text Generation");
  EXPECT_EQ(json["use_cases"][3]["output_tokens"], 2048);
}

TEST(QuickstartCliTest, ModelsListAsYamlTakesCatalogOverlays) {
  const auto file = temp_dir() / "catalog.yaml";
  std::ofstream(file) << "models:\n"
                         "  - name: tiny/Tiny-1B\n"
                         "    params_billion: 1.0\n"
                         "    num_layers: 16\n"
                         "    hidden_size: 2048\n"
                         "    num_heads: 32\n"
                         "    num_kv_heads: 8\n"
                         "    head_dim: 64\n"
                         "    intermediate_size: 8192\n"
                         "    vocab_size: 128256\n"
                         "    max_model_len: 8192\n";
  KgaiProcess p({"quickstart", "models", "list", "--format", "yaml", "--catalog", file.string()});
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  const YAML::Node yaml = YAML::Load(p.output());
  bool found = false;
  for (const auto& m : yaml["models"]) found |= m["name"].as<std::string>() == "tiny/Tiny-1B";
  EXPECT_TRUE(found) << p.output();
}

TEST(QuickstartCliTest, AcceleratorsListWithAPricesOverride) {
  const auto file = temp_dir() / "prices.yaml";
  std::ofstream(file) << "prices:\n"
                         "  - accelerator: h100\n"
                         "    cloud: gcp\n"
                         "    as_of: 2026-11-30\n"
                         "    source: my spot quote\n"
                         "    usd_per_chip_hour: {spot: 2.25}\n";
  KgaiProcess p(
      {"quickstart", "accelerators", "list", "--format", "csv", "--prices", file.string()});
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  EXPECT_NE(p.output().find("accelerator,vendor,memory_gib,bandwidth_tb_s,peak_tflops_bf16,cloud,"
                            "on-demand,spot,1-year-cud,3-years-cud,as_of,source\n"),
            std::string::npos)
      << p.output();
  EXPECT_NE(p.output().find("nvidia-h100-80gb,nvidia,79.2,3.35,989,gcp,11.06,2.25,7.67,4.86,"
                            "2026-09; 2026-11-30,"),
            std::string::npos)
      << p.output();
}

TEST(QuickstartCliTest, BadPricesFileExitsTwoNamingFileAndKey) {
  const auto file = temp_dir() / "bad-prices.yaml";
  std::ofstream(file) << "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                         "    source: s\n    usd_per_chip_hour: {on-demand: \"free\"}\n";
  KgaiProcess p({"quickstart", "accelerators", "list", "--prices", file.string()});
  ASSERT_EQ(p.wait_exit(30s), 2) << p.output();
  EXPECT_NE(p.output().find(file.string() + ": prices[0].usd_per_chip_hour.on-demand: expected a "
                                            "non-negative number, got 'free'"),
            std::string::npos)
      << p.output();
}

TEST(QuickstartCliTest, UnknownFormatExitsTwo) {
  KgaiProcess p({"quickstart", "use-cases", "list", "--format", "xml"});
  ASSERT_EQ(p.wait_exit(30s), 2) << p.output();
  EXPECT_NE(p.output().find("unknown format 'xml'"), std::string::npos) << p.output();
}

}  // namespace
}  // namespace kgai::testing
