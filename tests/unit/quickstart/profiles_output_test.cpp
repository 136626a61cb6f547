// `profiles list` and `benchmarks list` output: the JSON carries the fields issue 13 names (GIQ's
// concepts plus what GIQ hides), the table its columns, and a benchmark curve rises with the
// rate up to the capacity and falls behind only past it.
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "quickstart/benchmark_curve.h"
#include "quickstart/profiles_output.h"

namespace kgai::quickstart {
namespace {

Profile handmade() {
  Profile p;
  p.model = "meta-llama/Llama-3.1-8B-Instruct";
  p.accelerator = "nvidia-h100-80gb";
  p.accelerator_count = 2;
  p.instance_type = "a3-highgpu-2g";
  p.cloud = "gcp";
  p.pricing_model = "on-demand";
  p.settings.tensor_parallel_size = 2;
  p.settings.max_num_seqs = 256;
  p.settings.max_num_batched_tokens = 8192;
  p.settings.max_model_len = 4096;
  p.workload = {"chatbot", "128", "128", 128, 128, 128, 128};
  p.targets.ttft_ms = 200;
  p.targets.percentile = 90;
  p.at_saturation = false;
  p.point.offered_rate = 30.5;
  p.point.requests_per_second = 30;
  p.point.input_tokens_per_second = 3840;
  p.point.output_tokens_per_second = 3840;
  p.point.ttft_ms = 150.24;
  p.point.ntpot_ms = 9.5;
  p.point.itl_ms = 8.75;
  p.point.e2e_ms = 1300;
  p.point.goodput_rps = 29;
  auto cost = token_cost({11.06, 2, 3840, 3840, 4});
  EXPECT_TRUE(cost);
  p.cost = *cost;
  p.replicas = 4;
  p.monthly_cost = 4 * cost->dollars_per_second * 3600 * 730;
  return p;
}

TEST(ProfilesOutput, JsonHasTheFieldsTheIssueNames) {
  const Profile p = handmade();
  const auto j = profile_json(p);
  for (const char* key : {"model",
                          "model_server",
                          "accelerator",
                          "accelerator_count",
                          "instance_type",
                          "pricing_model",
                          "price_per_hour",
                          "cost_per_million_input_tokens",
                          "cost_per_million_output_tokens",
                          "requests_per_second",
                          "output_tokens_per_second",
                          "input_tokens_per_second",
                          "ttft_ms",
                          "ntpot_ms",
                          "itl_ms",
                          "percentile",
                          "settings",
                          "replicas",
                          "monthly_cost",
                          "goodput_requests_per_second",
                          "cloud",
                          "targets",
                          "workload"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* key : {"tensor_parallel_size", "max_num_seqs", "max_num_batched_tokens",
                          "max_model_len", "gpu_memory_utilization", "block_size",
                          "enable_prefix_caching", "enable_chunked_prefill"}) {
    EXPECT_TRUE(j["settings"].contains(key)) << key;
  }
  EXPECT_EQ(j["model"], p.model);
  EXPECT_EQ(j["model_server"], "vllm");
  EXPECT_EQ(j["accelerator_count"], 2);
  EXPECT_EQ(j["instance_type"], "a3-highgpu-2g");
  EXPECT_EQ(j["pricing_model"], "on-demand");
  // The price of the whole setup: chips x price per chip.
  EXPECT_DOUBLE_EQ(j["price_per_hour"].get<double>(), 22.12);
  EXPECT_DOUBLE_EQ(j["price_per_chip_hour"].get<double>(), 11.06);
  EXPECT_EQ(j["percentile"], 90);
  EXPECT_EQ(j["settings"]["tensor_parallel_size"], 2);
  EXPECT_EQ(j["settings"]["max_num_seqs"], 256);
  EXPECT_EQ(j["replicas"], 4);
  EXPECT_DOUBLE_EQ(j["targets"]["ttft_ms"].get<double>(), 200);
  EXPECT_EQ(j["operating_point"], "highest load meeting the targets");
  // Rounded to 4 significant digits, close enough to recompute the cost.
  EXPECT_NEAR(j["cost_per_million_output_tokens"].get<double>(), p.cost.per_million_output_tokens,
              1e-3 * p.cost.per_million_output_tokens);
  EXPECT_DOUBLE_EQ(j["ttft_ms"].get<double>(), 150.2);  // 150.24 to 4 digits
  EXPECT_DOUBLE_EQ(j["output_tokens_per_second"].get<double>(), 3840);

  // No instance type on record: null, not an empty string; no rate: no replicas.
  Profile bare = handmade();
  bare.instance_type.clear();
  bare.replicas.reset();
  bare.monthly_cost.reset();
  bare.targets = {};
  bare.at_saturation = true;
  const auto b = profile_json(bare);
  EXPECT_TRUE(b["instance_type"].is_null());
  EXPECT_FALSE(b.contains("replicas"));
  EXPECT_FALSE(b.contains("monthly_cost"));
  EXPECT_TRUE(b["targets"].empty());
  EXPECT_EQ(b["operating_point"], "saturation");
}

TEST(ProfilesOutput, ListJsonAndTable) {
  SearchResult result;
  result.profiles = {handmade(), handmade()};
  result.profiles[1].accelerator_count = 1;
  result.profiles[1].instance_type.clear();
  OperatingPoint best;
  best.ttft_ms = 40;
  result.skipped.push_back({"m", "nvidia-l4", 1, "even at the lowest load: p50 TTFT ...", best});
  result.skipped.push_back({"m", "tpu-v5e", 1, "does not fit", {}});
  result.setups = 12;
  result.simulations = 80;
  const auto j = profiles_json(result);
  ASSERT_EQ(j["profiles"].size(), 2u);
  ASSERT_EQ(j["skipped"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["skipped"][0]["best_achievable"]["ttft_ms"].get<double>(), 40);
  EXPECT_FALSE(j["skipped"][1].contains("best_achievable"));
  EXPECT_EQ(j["skipped"][1]["why"], "does not fit");
  EXPECT_EQ(j["search"]["setups"], 12);
  EXPECT_EQ(j["search"]["simulations"], 80);

  const Table plain = profiles_table(j["profiles"], false);
  ASSERT_EQ(plain.rows.size(), 2u);
  // GIQ's columns first.
  ASSERT_GE(plain.columns.size(), 11u);
  EXPECT_EQ(plain.columns[0], "instance_type");
  EXPECT_EQ(plain.columns[1], "accelerator");
  EXPECT_EQ(plain.columns.back(), "max_batched_tokens");
  EXPECT_EQ(plain.rows[0][0], "a3-highgpu-2g");
  EXPECT_EQ(plain.rows[1][0], "-");
  for (const auto& row : plain.rows) EXPECT_EQ(row.size(), plain.columns.size());
  const Table with = profiles_table(j["profiles"], true);
  ASSERT_EQ(with.columns.size(), plain.columns.size() + 2);
  EXPECT_EQ(with.columns[with.columns.size() - 2], "replicas");
  EXPECT_EQ(with.rows[0][with.columns.size() - 2], "4");
  const std::string csv = render_csv(with);
  EXPECT_EQ(csv.substr(0, csv.find('\n')).find("instance_type,accelerator,count,$/hour"), 0u)
      << csv;
}

class Curves : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = catalog::Catalog::builtin();
    ASSERT_TRUE(c);
    catalog_ = new catalog::Catalog(std::move(*c));
    auto p = PriceBook::builtin(*catalog_);
    ASSERT_TRUE(p);
    prices_ = new PriceBook(std::move(*p));
  }
  static void TearDownTestSuite() {
    delete prices_;
    delete catalog_;
  }
  static SearchRequest request() {
    SearchRequest r;
    r.models = {"llama-3.1-8b"};
    r.accelerators = {"h100"};
    r.tensor_parallel = {1};
    r.workload.input = sim::LengthDistribution::fixed(256);
    r.workload.output = sim::LengthDistribution::fixed(128);
    r.shape = {"lengths", "256", "128", 256, 128, 256, 128};
    r.requests_per_run = 600;
    return r;
  }
  static catalog::Catalog* catalog_;
  static PriceBook* prices_;
};

catalog::Catalog* Curves::catalog_ = nullptr;
PriceBook* Curves::prices_ = nullptr;

TEST_F(Curves, StagesRiseWithTheRateAndFallBehindOnlyNearCapacity) {
  auto result = benchmark_curves(*catalog_, *prices_, request(), 8);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->curves.size(), 1u);
  EXPECT_EQ(result->simulations, 9);
  const BenchmarkCurve& curve = result->curves[0];
  const double capacity = curve.saturation.point.requests_per_second;
  ASSERT_GT(capacity, 0);
  EXPECT_GT(curve.saturation.point.concurrency, 0);
  ASSERT_EQ(curve.stages.size(), 8u);
  double previous_rate = 0, previous_output = 0;
  for (size_t i = 0; i < curve.stages.size(); ++i) {
    const OperatingPoint& p = curve.stages[i].point;
    SCOPED_TRACE(fmt::format("stage {}: rate {:.2f} of capacity {:.2f}, kept up {:.3f}", i + 1,
                             p.offered_rate, capacity, p.kept_up));
    EXPECT_EQ(p.concurrency, 0);
    EXPECT_GT(p.offered_rate, previous_rate);
    // Within a Poisson sample's noise of (i + 1) / 8 of the capacity.
    EXPECT_NEAR(p.offered_rate, capacity * (i + 1) / 8, 0.15 * capacity * (i + 1) / 8);
    // Throughput follows the rate until the engine falls behind at its capacity.
    if (p.offered_rate < 0.9 * capacity) {
      EXPECT_GE(p.output_tokens_per_second, 0.95 * previous_output);
    }
    EXPECT_LE(p.requests_per_second, 1.1 * capacity);
    // Falling behind only near or above the capacity.
    if (p.offered_rate < 0.8 * capacity) {
      EXPECT_GE(p.kept_up, 0.95);
    }
    EXPECT_FALSE(curve.stages[i].at_saturation);
    previous_rate = p.offered_rate;
    previous_output = p.output_tokens_per_second;
  }
  // Latency grows with load: the last stage's p90 TTFT above the first's.
  EXPECT_GT(curve.stages.back().point.ttft.p90, curve.stages.front().point.ttft.p90);

  const auto j = curves_json(*result);
  ASSERT_EQ(j["benchmarks"].size(), 1u);
  const auto& b = j["benchmarks"][0];
  for (const char* key :
       {"model", "model_server", "accelerator", "accelerator_count", "instance_type",
        "pricing_model", "price_per_hour", "settings", "workload", "saturation", "stages"}) {
    EXPECT_TRUE(b.contains(key)) << key;
  }
  EXPECT_EQ(b["instance_type"], "a3-highgpu-1g");
  ASSERT_EQ(b["stages"].size(), 8u);
  EXPECT_TRUE(b["saturation"]["requested_rate"].is_null());
  EXPECT_TRUE(b["saturation"]["concurrency"].is_number());
  double rate = 0;
  for (const auto& s : b["stages"]) {
    EXPECT_GT(s["requested_rate"].get<double>(), rate);
    rate = s["requested_rate"].get<double>();
    EXPECT_TRUE(s["concurrency"].is_null());
    for (const char* d : {"ttft_ms", "ntpot_ms", "itl_ms", "e2e_ms"}) {
      EXPECT_LE(s[d]["p50"].get<double>(), s[d]["p90"].get<double>()) << d;
      EXPECT_LE(s[d]["p90"].get<double>(), s[d]["p99"].get<double>()) << d;
    }
    for (const char* key : {"kept_up", "requests_per_second", "output_tokens_per_second",
                            "input_tokens_per_second", "cost_per_million_output_tokens"}) {
      EXPECT_TRUE(s[key].is_number()) << key;
    }
  }
  const Table t = curves_table(j["benchmarks"]);
  ASSERT_EQ(t.rows.size(), 8u);
  EXPECT_EQ(t.columns[3], "stage");
  EXPECT_EQ(t.rows[0][3], "1");
  EXPECT_EQ(t.rows[7][3], "8");
}

TEST_F(Curves, BadStagesAndSetupsThatDoNotFit) {
  EXPECT_FALSE(benchmark_curves(*catalog_, *prices_, request(), 1));
  EXPECT_FALSE(benchmark_curves(*catalog_, *prices_, request(), 51));
  auto r = request();
  r.models = {"llama-3.1-70b"};
  r.requests_per_run = 100;
  auto result = benchmark_curves(*catalog_, *prices_, r, 2);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->curves.empty());
  ASSERT_EQ(result->skipped.size(), 1u);
  EXPECT_NE(result->skipped[0].why.find("does not fit"), std::string::npos);
  const auto j = curves_json(*result);
  EXPECT_TRUE(j["benchmarks"].empty());
  EXPECT_EQ(j["skipped"].size(), 1u);
}

}  // namespace
}  // namespace kgai::quickstart
