// search_profiles over the built-in catalog and prices: names and prices checked before any
// simulation, rows sorted by cost, targets met at the chosen point, cost and replicas
// recomputable from each row, setups left out with their reason.
#include "quickstart/search.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "quickstart/cost.h"

namespace kgai::quickstart {
namespace {

class Search : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = catalog::Catalog::builtin();
    ASSERT_TRUE(c) << c.error().message;
    catalog_ = new catalog::Catalog(std::move(*c));
    auto p = PriceBook::builtin(*catalog_);
    ASSERT_TRUE(p) << p.error().message;
    prices_ = new PriceBook(std::move(*p));
  }
  static void TearDownTestSuite() {
    delete prices_;
    delete catalog_;
  }

  // Chatbot lengths (128 in, 128 out), few requests per run: fast, and enough to rank setups.
  static SearchRequest request(std::vector<std::string> models,
                               std::vector<std::string> accelerators) {
    SearchRequest r;
    r.models = std::move(models);
    r.accelerators = std::move(accelerators);
    r.workload.input = sim::LengthDistribution::fixed(128);
    r.workload.output = sim::LengthDistribution::fixed(128);
    r.workload.seed = 1;
    r.shape.name = "chatbot";
    r.shape.input_length = "128";
    r.shape.output_length = "128";
    r.shape.mean_input_tokens = 128;
    r.shape.mean_output_tokens = 128;
    r.shape.max_input_tokens = 128;
    r.shape.max_output_tokens = 128;
    r.requests_per_run = 200;
    return r;
  }

  static Result<SearchResult> search(const SearchRequest& r) {
    return search_profiles(*catalog_, *prices_, r);
  }

  static catalog::Catalog* catalog_;
  static PriceBook* prices_;
};

catalog::Catalog* Search::catalog_ = nullptr;
PriceBook* Search::prices_ = nullptr;

TEST_F(Search, UnknownNamesAreErrorsListingWhatExists) {
  auto model = search(request({"llama-9"}, {"h100"}));
  ASSERT_FALSE(model);
  EXPECT_NE(model.error().message.find("llama-9"), std::string::npos);
  EXPECT_NE(model.error().message.find("meta-llama/Llama-3.1-8B-Instruct"), std::string::npos)
      << model.error().message;
  auto accelerator = search(request({"llama-3.1-8b"}, {"h900"}));
  ASSERT_FALSE(accelerator);
  EXPECT_NE(accelerator.error().message.find("h900"), std::string::npos);
  EXPECT_NE(accelerator.error().message.find("nvidia-h100-80gb"), std::string::npos)
      << accelerator.error().message;
}

TEST_F(Search, NamedAcceleratorWithoutAPriceOnTheCloudIsAnError) {
  // The A10G has only the catalog's indicative prices, none on GCP.
  auto r = search(request({"llama-3.1-8b"}, {"a10g"}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no on-demand price for nvidia-a10g on gcp"), std::string::npos)
      << r.error().message;
  // Nor a spot price for the H100 on GCP.
  auto spot = request({"llama-3.1-8b"}, {"h100"});
  spot.pricing_model = "spot";
  r = search(spot);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("spot"), std::string::npos) << r.error().message;
  auto bad_pricing = request({"llama-3.1-8b"}, {"h100"});
  bad_pricing.pricing_model = "reserved";
  EXPECT_FALSE(search(bad_pricing));
}

TEST_F(Search, BadTargetsAndFlagsAreErrors) {
  for (int percentile : {0, 75, 95, 100}) {
    auto r = request({"llama-3.1-8b"}, {"h100"});
    r.targets.percentile = percentile;
    auto found = search(r);
    ASSERT_FALSE(found) << percentile;
    EXPECT_NE(found.error().message.find("--percentile must be 50, 90 or 99"), std::string::npos);
  }
  const auto bad = [&](auto change) {
    auto r = request({"llama-3.1-8b"}, {"h100"});
    change(r);
    return !search(r).has_value();
  };
  EXPECT_TRUE(bad([](SearchRequest& r) { r.targets.ttft_ms = 0; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.targets.ntpot_ms = -1; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.targets.itl_ms = std::nan(""); }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.rate = 0; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.max_cost_per_million_output = -1; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.cost_ratio = 0; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.tensor_parallel = {}; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.tensor_parallel = {0}; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.max_num_seqs = {0}; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.max_num_batched_tokens = {-5}; }));
  EXPECT_TRUE(bad([](SearchRequest& r) { r.requests_per_run = -1; }));
}

TEST_F(Search, WholeCatalogSortedByCostPerMillionOutputTokens) {
  auto r = request({}, {});
  r.cloud = "catalog";  // every accelerator has a catalog price
  r.requests_per_run = 60;
  r.tensor_parallel = {1, 2};
  r.max_num_seqs = {64};
  r.max_num_batched_tokens = {2048};
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  const size_t pairs = catalog_->models().size() * catalog_->accelerators().size();
  EXPECT_EQ(found->setups, static_cast<int>(pairs * 2));
  ASSERT_GE(found->profiles.size(), 10u);
  EXPECT_GT(found->simulations, static_cast<int>(found->profiles.size()));
  // Every setup is either a row or left out with a reason.
  EXPECT_EQ(found->profiles.size() + found->skipped.size(), pairs * 2);
  for (size_t i = 1; i < found->profiles.size(); ++i) {
    EXPECT_LE(found->profiles[i - 1].cost.per_million_output_tokens,
              found->profiles[i].cost.per_million_output_tokens);
  }
  std::set<std::string> models, accelerators;
  for (const auto& p : found->profiles) {
    models.insert(p.model);
    accelerators.insert(p.accelerator);
    EXPECT_EQ(p.cloud, "catalog");
    EXPECT_EQ(p.model_server, "vllm");
    EXPECT_TRUE(p.at_saturation);
    EXPECT_GT(p.point.output_tokens_per_second, 0);
    EXPECT_EQ(p.settings.max_num_seqs, 64);
    EXPECT_EQ(p.settings.max_num_batched_tokens, 2048);
    EXPECT_EQ(p.settings.tensor_parallel_size, p.accelerator_count);
  }
  EXPECT_EQ(models.size(), catalog_->models().size());
  EXPECT_GE(accelerators.size(), 6u);
  for (const auto& s : found->skipped) EXPECT_FALSE(s.why.empty()) << s.model << s.accelerator;
}

TEST_F(Search, ImpossibleTargetsLeaveNoProfileAndSayWhatIsAchievable) {
  auto r = request({"llama-3.1-8b"}, {"h100", "l4"});
  r.targets.ttft_ms = 0.001;
  r.tensor_parallel = {1, 2};
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->profiles.empty());
  ASSERT_EQ(found->skipped.size(), 4u);
  for (const auto& s : found->skipped) {
    ASSERT_TRUE(s.best) << s.accelerator << " " << s.why;
    EXPECT_GT(s.best->ttft_ms, 0.001);
    EXPECT_NE(s.why.find("even at the lowest load: p50 TTFT"), std::string::npos) << s.why;
    EXPECT_NE(s.why.find("> 0.001 ms target"), std::string::npos) << s.why;
  }
}

TEST_F(Search, TargetsAreMetAtTheChosenPoint) {
  auto r = request({"llama-3.1-8b"}, {"h100", "a100"});
  r.tensor_parallel = {1};
  r.targets.percentile = 90;
  r.targets.ttft_ms = 120;
  r.targets.ntpot_ms = 20;
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->profiles.size(), 2u);
  for (const auto& p : found->profiles) {
    SCOPED_TRACE(p.accelerator);
    EXPECT_FALSE(p.at_saturation);
    EXPECT_EQ(p.targets.percentile, 90);
    EXPECT_LE(p.point.ttft_ms, 120);
    EXPECT_LE(p.point.ntpot_ms, 20);
    EXPECT_DOUBLE_EQ(p.point.ttft_ms, p.point.ttft.p90);
    // Stable: the chosen rate is below the saturation throughput (kept_up itself is a noisy
    // count over a short window near capacity, so it is not checked here).
    EXPECT_GT(p.point.offered_rate, 0);
    EXPECT_LE(p.point.goodput_rps, p.point.requests_per_second);
  }
  // Looser targets allow at least as much load.
  auto loose = r;
  loose.targets.ttft_ms = 1000;
  loose.targets.ntpot_ms = 60;
  auto more = search(loose);
  ASSERT_TRUE(more) << more.error().message;
  ASSERT_EQ(more->profiles.size(), 2u);
  for (const auto& p : found->profiles) {
    for (const auto& q : more->profiles) {
      if (q.accelerator == p.accelerator) {
        EXPECT_GE(q.point.requests_per_second, 0.9 * p.point.requests_per_second) << p.accelerator;
      }
    }
  }
}

TEST_F(Search, CostTargetsLeaveOutDearerRowsAndListThem) {
  auto r = request({"llama-3.1-8b"}, {"h100", "l4", "a100"});
  r.tensor_parallel = {1};
  auto all = search(r);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->profiles.size(), 3u);
  // A limit between the cheapest and the dearest row.
  const double limit = (all->profiles.front().cost.per_million_output_tokens +
                        all->profiles.back().cost.per_million_output_tokens) /
                       2;
  r.max_cost_per_million_output = limit;
  auto cut = search(r);
  ASSERT_TRUE(cut) << cut.error().message;
  ASSERT_FALSE(cut->profiles.empty());
  ASSERT_LT(cut->profiles.size(), 3u);
  for (const auto& p : cut->profiles) EXPECT_LE(p.cost.per_million_output_tokens, limit);
  size_t over = 0;
  for (const auto& s : cut->skipped) {
    if (s.why.find("per million output tokens >") == std::string::npos) continue;
    ++over;
    EXPECT_TRUE(s.best);
  }
  EXPECT_EQ(cut->profiles.size() + over, 3u);

  // The input-token limit works the same way.
  r.max_cost_per_million_output.reset();
  r.max_cost_per_million_input = all->profiles.front().cost.per_million_input_tokens * 1.0001;
  cut = search(r);
  ASSERT_TRUE(cut);
  ASSERT_GE(cut->profiles.size(), 1u);
  for (const auto& p : cut->profiles)
    EXPECT_LE(p.cost.per_million_input_tokens, *r.max_cost_per_million_input);
  EXPECT_FALSE(cut->skipped.empty());
}

TEST_F(Search, RateGivesReplicasAndTheirMonthlyCost) {
  auto r = request({"llama-3.1-8b"}, {"h100"});
  r.tensor_parallel = {1, 2};
  r.rate = 500;
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->profiles.size(), 2u);
  for (const auto& p : found->profiles) {
    ASSERT_TRUE(p.replicas);
    ASSERT_TRUE(p.monthly_cost);
    EXPECT_EQ(*p.replicas, static_cast<int>(std::ceil(500 / p.point.requests_per_second)));
    EXPECT_GE(*p.replicas * p.point.requests_per_second, 500);
    EXPECT_NEAR(*p.monthly_cost, *p.replicas * 11.06 * p.accelerator_count * 730, 1e-6);
  }
  // Without a rate there are none.
  r.rate.reset();
  found = search(r);
  ASSERT_TRUE(found);
  for (const auto& p : found->profiles) EXPECT_FALSE(p.replicas || p.monthly_cost);
}

TEST_F(Search, CostFiguresRecomputeFromTheRowsOwnThroughputAndPrice) {
  auto r = request({"llama-3.1-8b", "qwen2.5-7b"}, {"h100", "l4"});
  r.tensor_parallel = {1, 2};
  r.cost_ratio = 3;
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_GE(found->profiles.size(), 6u);
  for (const auto& p : found->profiles) {
    SCOPED_TRACE(p.model + " on " + std::to_string(p.accelerator_count) + " x " + p.accelerator);
    const double chip_price = p.accelerator == "nvidia-h100-80gb" ? 11.06 : 0.56;
    EXPECT_DOUBLE_EQ(p.cost.inputs.price_per_hour, chip_price);
    EXPECT_EQ(p.cost.inputs.accelerator_count, p.accelerator_count);
    EXPECT_DOUBLE_EQ(p.cost.inputs.cost_ratio, 3);
    auto again = token_cost({chip_price, p.accelerator_count, p.point.input_tokens_per_second,
                             p.point.output_tokens_per_second, 3});
    ASSERT_TRUE(again);
    EXPECT_DOUBLE_EQ(p.cost.per_million_output_tokens, again->per_million_output_tokens);
    EXPECT_DOUBLE_EQ(p.cost.per_million_input_tokens, again->per_million_input_tokens);
    // And by hand: $/s over weighted tokens/s.
    const double dollars_per_second = chip_price * p.accelerator_count / 3600;
    const double weighted = p.point.input_tokens_per_second / 3 + p.point.output_tokens_per_second;
    EXPECT_NEAR(p.cost.per_million_output_tokens, dollars_per_second / weighted * 1e6,
                1e-9 * p.cost.per_million_output_tokens);
    // The instance type is GCP's machine for that many chips.
    if (p.accelerator == "nvidia-h100-80gb")
      EXPECT_EQ(p.instance_type, "a3-highgpu-" + std::to_string(p.accelerator_count) + "g");
    else
      EXPECT_EQ(p.instance_type, p.accelerator_count == 1 ? "g2-standard-8" : "g2-standard-24");
  }
}

TEST_F(Search, AllSettingsGivesARowPerCombination) {
  auto r = request({"llama-3.1-8b"}, {"h100"});
  r.tensor_parallel = {1};
  auto cheapest = search(r);
  ASSERT_TRUE(cheapest) << cheapest.error().message;
  ASSERT_EQ(cheapest->profiles.size(), 1u);
  EXPECT_EQ(cheapest->setups, 4);  // vLLM's defaults and a quarter of each
  r.all_settings = true;
  auto every = search(r);
  ASSERT_TRUE(every) << every.error().message;
  ASSERT_EQ(every->profiles.size(), 4u);
  std::set<std::pair<int, int>> settings;
  for (const auto& p : every->profiles)
    settings.insert({p.settings.max_num_seqs, p.settings.max_num_batched_tokens});
  EXPECT_EQ(settings.size(), 4u);
  // The one row of the default search is the cheapest of them.
  EXPECT_NEAR(cheapest->profiles[0].cost.per_million_output_tokens,
              every->profiles.front().cost.per_million_output_tokens,
              1e-9 * every->profiles.front().cost.per_million_output_tokens);
  // Settings asked for are the only ones tried.
  r.max_num_seqs = {32, 48, 96};
  r.max_num_batched_tokens = {1024};
  every = search(r);
  ASSERT_TRUE(every);
  ASSERT_EQ(every->profiles.size(), 3u);
  for (const auto& p : every->profiles) EXPECT_EQ(p.settings.max_num_batched_tokens, 1024);
}

TEST_F(Search, AModelThatDoesNotFitIsSkippedWithAMemoryReason) {
  auto r = request({"llama-3.1-70b"}, {"l4", "h100"});
  r.tensor_parallel = {1, 2};
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  bool l4_tp1 = false;
  for (const auto& s : found->skipped) {
    if (s.accelerator == "nvidia-l4" && s.accelerator_count == 1) {
      l4_tp1 = true;
      EXPECT_NE(s.why.find("does not fit"), std::string::npos) << s.why;
      EXPECT_NE(s.why.find("weights"), std::string::npos) << s.why;
      EXPECT_FALSE(s.best);
    }
  }
  EXPECT_TRUE(l4_tp1);
  // 70B fits two H100s (not one), and never one L4.
  for (const auto& p : found->profiles) {
    EXPECT_FALSE(p.accelerator == "nvidia-l4" && p.accelerator_count == 1);
    EXPECT_FALSE(p.accelerator == "nvidia-h100-80gb" && p.accelerator_count == 1);
  }
  EXPECT_TRUE(std::any_of(found->profiles.begin(), found->profiles.end(), [](const Profile& p) {
    return p.accelerator == "nvidia-h100-80gb" && p.accelerator_count == 2;
  }));
}

TEST_F(Search, RequestsLongerThanTheContextWindowAreSkipped) {
  auto r = request({"gemma-2-9b"}, {"h100"});  // 8,192 tokens of context
  r.workload.input = sim::LengthDistribution::fixed(9000);
  r.shape.mean_input_tokens = 9000;
  r.tensor_parallel = {1};
  auto found = search(r);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->profiles.empty());
  ASSERT_EQ(found->skipped.size(), 1u);
  EXPECT_NE(found->skipped[0].why.find("exceed the context window"), std::string::npos)
      << found->skipped[0].why;
}

TEST_F(Search, DefaultRequestsPerRunFollowsTheOutputLength) {
  EXPECT_EQ(default_requests_per_run(128), 469);  // 60,000 output tokens
  EXPECT_EQ(default_requests_per_run(4096), 200);
  EXPECT_EQ(default_requests_per_run(1), 2000);
  EXPECT_EQ(default_requests_per_run(0), 2000);
}

}  // namespace
}  // namespace kgai::quickstart
