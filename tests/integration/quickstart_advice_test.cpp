// `kgai quickstart profiles list`, `benchmarks list` and `manifests create` as users run them:
// every format parses, bad input exits 2 naming what is wrong, impossible targets exit 1 with
// the closest setups, and the manifests render with kubectl kustomize.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "integration/process.h"

namespace kgai::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// One model on one accelerator and count, few requests per run: about a second a search.
std::vector<std::string> advice(std::vector<std::string> command,
                                std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"quickstart"};
  args.insert(args.end(), command.begin(), command.end());
  for (const char* a : {"--model", "llama-3.1-8b", "--accelerator", "h100", "--tp", "1",
                        "--requests-per-run", "150", "--quiet"})
    args.emplace_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

fs::path temp_dir(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("kgai-qs-advice-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  return dir;
}

TEST(QuickstartAdviceCli, ProfilesListAsJson) {
  KgaiProcess p(advice({"profiles", "list"}, {"--format", "json", "--rate", "100"}));
  ASSERT_EQ(p.wait_exit(60s), 0) << p.output();
  const auto json = nlohmann::json::parse(p.output());
  ASSERT_EQ(json["profiles"].size(), 1u) << p.output();
  const auto& row = json["profiles"][0];
  EXPECT_EQ(row["model"], "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(row["model_server"], "vllm");
  EXPECT_EQ(row["accelerator"], "nvidia-h100-80gb");
  EXPECT_EQ(row["accelerator_count"], 1);
  EXPECT_EQ(row["instance_type"], "a3-highgpu-1g");
  EXPECT_EQ(row["pricing_model"], "on-demand");
  EXPECT_DOUBLE_EQ(row["price_per_hour"].get<double>(), 11.06);
  EXPECT_GT(row["output_tokens_per_second"].get<double>(), 0);
  EXPECT_GT(row["cost_per_million_output_tokens"].get<double>(), 0);
  EXPECT_EQ(row["percentile"], 50);
  EXPECT_GT(row["settings"]["max_num_seqs"].get<int>(), 0);
  const double rps = row["requests_per_second"].get<double>();
  EXPECT_GE(row["replicas"].get<int>() * rps, 100);
  EXPECT_LT((row["replicas"].get<int>() - 1) * rps, 100);
  EXPECT_TRUE(json["skipped"].is_array());
  EXPECT_GT(json["search"]["simulations"].get<int>(), 0);
}

TEST(QuickstartAdviceCli, ProfilesListAsCsvYamlAndTable) {
  KgaiProcess csv(advice({"profiles", "list"}, {"--format", "csv"}));
  ASSERT_EQ(csv.wait_exit(60s), 0) << csv.output();
  auto rows = lines(csv.output());
  ASSERT_EQ(rows.size(), 2u) << csv.output();
  EXPECT_EQ(rows[0].rfind("instance_type,accelerator,count,$/hour,cost/m_input,cost/m_output,", 0),
            0u)
      << rows[0];
  EXPECT_EQ(rows[1].rfind("a3-highgpu-1g,nvidia-h100-80gb,1,11.06,", 0), 0u) << rows[1];

  KgaiProcess yaml(advice({"profiles", "list"}, {"--format", "yaml"}));
  ASSERT_EQ(yaml.wait_exit(60s), 0) << yaml.output();
  const YAML::Node doc = YAML::Load(yaml.output());
  ASSERT_EQ(doc["profiles"].size(), 1u);
  EXPECT_EQ(doc["profiles"][0]["accelerator_count"].as<int>(), 1);

  KgaiProcess table(advice({"profiles", "list"}, {"--format", "table"}));
  ASSERT_EQ(table.wait_exit(60s), 0) << table.output();
  rows = lines(table.output());
  ASSERT_EQ(rows.size(), 2u) << table.output();
  EXPECT_EQ(rows[0].rfind("instance_type", 0), 0u);
  EXPECT_NE(rows[0].find("cost/m_output"), std::string::npos);
  EXPECT_NE(rows[1].find("a3-highgpu-1g"), std::string::npos);
}

TEST(QuickstartAdviceCli, BadInputExitsTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"quickstart", "profiles", "list", "--model", "llama-9", "--quiet"},
       "known models: meta-llama/Llama-3.1-8B-Instruct"},
      {advice({"profiles", "list"}, {"--percentile", "95"}), "--percentile must be 50, 90 or 99"},
      {advice({"profiles", "list"}, {"--format", "xml"}), "unknown format 'xml'"},
      {advice({"profiles", "list"}, {"--model-server", "sglang"}), "vLLM only"},
      {advice({"profiles", "list"}, {"--pricing-model", "spot"}), "no spot price"},
      {advice({"profiles", "list"}, {"--use-case", "chatbot", "--input-len", "100"}),
       "give one of"},
      {advice({"benchmarks", "list"}, {"--stages", "1"}), "--stages must be 2 to 50"},
      {{"quickstart", "manifests", "create", "--model", "llama-3.1-8b", "--quiet"},
       "exactly one --model and one --accelerator"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.says);
    KgaiProcess p(c.args);
    EXPECT_EQ(p.wait_exit(60s), 2) << p.output();
    EXPECT_NE(p.output().find(c.says), std::string::npos) << p.output();
  }
}

TEST(QuickstartAdviceCli, ImpossibleTargetsExitOneWithTheClosestSetups) {
  KgaiProcess p(advice({"profiles", "list"}, {"--target-ttft-ms", "0.001"}));
  EXPECT_EQ(p.wait_exit(60s), 1) << p.output();
  EXPECT_NE(p.output().find("left out meta-llama/Llama-3.1-8B-Instruct on 1 x nvidia-h100-80gb: "
                            "even at the lowest load: p50 TTFT"),
            std::string::npos)
      << p.output();
  EXPECT_NE(p.output().find("no setup meets the targets"), std::string::npos) << p.output();
  // JSON still prints the (empty) list and what was left out.
  KgaiProcess json(advice({"profiles", "list"}, {"--target-ttft-ms", "0.001", "--format", "json"}));
  EXPECT_EQ(json.wait_exit(60s), 1);
  const std::string out = json.output();
  const auto parsed = nlohmann::json::parse(
      out.substr(out.find("{\n"), out.rfind('}') + 1 - out.find("{\n")), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << out;
  EXPECT_TRUE(parsed["profiles"].empty());
  ASSERT_EQ(parsed["skipped"].size(), 1u);
  EXPECT_TRUE(parsed["skipped"][0]["best_achievable"]["ttft_ms"].is_number());
  // manifests create: nothing to write.
  KgaiProcess manifests(advice({"manifests", "create"}, {"--target-ttft-ms", "0.001"}));
  EXPECT_EQ(manifests.wait_exit(60s), 1) << manifests.output();
  EXPECT_NE(manifests.output().find("no manifests written"), std::string::npos);
}

TEST(QuickstartAdviceCli, BenchmarksListCsv) {
  KgaiProcess p(advice({"benchmarks", "list"}, {"--stages", "4", "--requests-per-run", "400"}));
  ASSERT_EQ(p.wait_exit(60s), 0) << p.output();
  const auto rows = lines(p.output());
  ASSERT_EQ(rows.size(), 5u) << p.output();
  EXPECT_EQ(rows[0],
            "model,accelerator,count,stage,requested_rate,kept_up,req/s,output_tok/s,input_tok/s,"
            "ttft_p50_ms,ttft_p90_ms,ntpot_p50_ms,ntpot_p90_ms,itl_p50_ms,itl_p90_ms,"
            "cost/m_input,cost/m_output");
  double rate = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(
        rows[i].rfind(
            "meta-llama/Llama-3.1-8B-Instruct,nvidia-h100-80gb,1," + std::to_string(i) + ",", 0),
        0u)
        << rows[i];
    std::vector<std::string> cells;
    std::istringstream in(rows[i]);
    for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
    ASSERT_EQ(cells.size(), 17u);
    EXPECT_GT(std::stod(cells[4]), rate);
    rate = std::stod(cells[4]);
  }
  KgaiProcess json(advice({"benchmarks", "list"}, {"--stages", "2", "--format", "json"}));
  ASSERT_EQ(json.wait_exit(60s), 0) << json.output();
  const auto parsed = nlohmann::json::parse(json.output());
  ASSERT_EQ(parsed["benchmarks"].size(), 1u);
  EXPECT_EQ(parsed["benchmarks"][0]["stages"].size(), 2u);
}

TEST(QuickstartAdviceCli, ManifestsCreateWritesFilesThatRender) {
  const auto dir = temp_dir("manifests");
  KgaiProcess p(
      advice({"manifests", "create"}, {"--target-ttft-ms", "200", "--output-path", dir.string()}));
  ASSERT_EQ(p.wait_exit(60s), 0) << p.output();
  for (const char* f : {"deployment.yaml", "service.yaml", "servicemonitor.yaml", "hpa.yaml",
                        "inferencepool.yaml", "perf-config.yaml", "kustomization.yaml"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  const YAML::Node deployment = YAML::LoadFile((dir / "deployment.yaml").string());
  EXPECT_EQ(deployment["kind"].as<std::string>(), "Deployment");
  const YAML::Node perf = YAML::LoadFile((dir / "perf-config.yaml").string());
  EXPECT_GT(perf["load"]["stages"][0]["rate"].as<double>(), 0);
  EXPECT_DOUBLE_EQ(perf["report"]["goodput"]["constraints"]["ttft"].as<double>(), 0.2);
  if (std::system("command -v kubectl >/dev/null 2>&1") == 0) {
    const std::string command =
        "kubectl kustomize " + dir.string() + " > " + (dir / "rendered.yaml").string() + " 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0);
    std::ifstream in(dir / "rendered.yaml");
    std::stringstream rendered;
    rendered << in.rdbuf();
    const auto docs = YAML::LoadAll(rendered.str());
    EXPECT_GE(docs.size(), 5u) << rendered.str();
    for (const char* kind : {"kind: Deployment", "kind: Service", "kind: HorizontalPodAutoscaler",
                             "kind: InferencePool"}) {
      EXPECT_NE(rendered.str().find(kind), std::string::npos) << kind;
    }
  }
  fs::remove_all(dir);

  // Without --output-path: the Kubernetes objects as YAML documents on stdout.
  KgaiProcess printed(advice({"manifests", "create"}, {"--target-ttft-ms", "200"}));
  ASSERT_EQ(printed.wait_exit(60s), 0) << printed.output();
  const auto docs = YAML::LoadAll(printed.output());
  ASSERT_GE(docs.size(), 5u);
  bool deployment_seen = false;
  for (const auto& d : docs) {
    ASSERT_TRUE(d["kind"]) << printed.output();
    EXPECT_NE(d["kind"].as<std::string>(), "PerfConfig");
    EXPECT_FALSE(d["load"]);  // the perf config is not a Kubernetes object
    deployment_seen |= d["kind"].as<std::string>() == "Deployment";
  }
  EXPECT_TRUE(deployment_seen);
}

}  // namespace
}  // namespace kgai::testing
