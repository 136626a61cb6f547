#include "quickstart/cost.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace kgai::quickstart {
namespace {

TEST(TokenCost, GiqExampleRowAtTheGcpOnDemandPrice) {
  // H100 at $11.06 per chip-hour, 1 chip, 13,335 input and 13,335 output tokens/s, R = 4:
  //   $/s         = 11.06 / 3600                = 0.003072222...
  //   weighted    = 13,335 / 4 + 13,335         = 16,668.75 output-token equivalents/s
  //   $/M output  = 0.003072222 / 16,668.75 x 1e6 = 0.1843103
  //   $/M input   = 0.1843103 / 4                 = 0.0460776
  auto cost = token_cost({.price_per_hour = 11.06,
                          .accelerator_count = 1,
                          .input_tokens_per_second = 13335,
                          .output_tokens_per_second = 13335});
  ASSERT_TRUE(cost) << cost.error().message;
  EXPECT_NEAR(cost->dollars_per_second, 0.0030722222, 1e-10);
  EXPECT_NEAR(cost->per_million_output_tokens, 0.1843103, 1e-7);
  EXPECT_NEAR(cost->per_million_input_tokens, 0.0460776, 1e-7);
  // The inputs come back so the figures can be recomputed.
  EXPECT_DOUBLE_EQ(cost->inputs.price_per_hour, 11.06);
  EXPECT_EQ(cost->inputs.accelerator_count, 1);
  EXPECT_DOUBLE_EQ(cost->inputs.cost_ratio, 4.0);
}

TEST(TokenCost, CountAndRatioEnterAsTheFormulaSays) {
  // 8 chips at $2/h = $16/h = $0.0044444/s; 1,000 input tokens/s / R 2 + 500 output = 1,000
  // weighted tokens/s: $4.4444 per M output, $2.2222 per M input.
  auto cost = token_cost({.price_per_hour = 2.0,
                          .accelerator_count = 8,
                          .input_tokens_per_second = 1000,
                          .output_tokens_per_second = 500,
                          .cost_ratio = 2});
  ASSERT_TRUE(cost) << cost.error().message;
  EXPECT_NEAR(cost->per_million_output_tokens, 4.444444, 1e-6);
  EXPECT_NEAR(cost->per_million_input_tokens, 2.222222, 1e-6);
}

TEST(TokenCost, OnlyInputTokensStillHaveACost) {
  // A prefill-only setup: 4,000 input tokens/s / 4 = 1,000 weighted; $3.6/h = $0.001/s:
  // $1 per M output-equivalent, $0.25 per M input.
  auto cost = token_cost({.price_per_hour = 3.6, .input_tokens_per_second = 4000});
  ASSERT_TRUE(cost) << cost.error().message;
  EXPECT_NEAR(cost->per_million_output_tokens, 1.0, 1e-12);
  EXPECT_NEAR(cost->per_million_input_tokens, 0.25, 1e-12);
}

TEST(TokenCost, AFreeAcceleratorCostsNothing) {
  auto cost = token_cost({.price_per_hour = 0, .output_tokens_per_second = 100});
  ASSERT_TRUE(cost);
  EXPECT_EQ(cost->per_million_output_tokens, 0);
}

TEST(TokenCost, BadInputsAreErrors) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const CostInputs ok{.price_per_hour = 1, .output_tokens_per_second = 1};
  auto with = [&](auto change) {
    CostInputs in = ok;
    change(in);
    return token_cost(in);
  };
  EXPECT_FALSE(with([](CostInputs& in) { in.price_per_hour = -1; }));
  EXPECT_FALSE(with([&](CostInputs& in) { in.price_per_hour = nan; }));
  EXPECT_FALSE(with([](CostInputs& in) { in.accelerator_count = 0; }));
  EXPECT_FALSE(with([](CostInputs& in) { in.input_tokens_per_second = -5; }));
  EXPECT_FALSE(with([](CostInputs& in) { in.cost_ratio = 0; }));
  auto none = with([](CostInputs& in) { in.output_tokens_per_second = 0; });
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no tokens"), std::string::npos);
}

}  // namespace
}  // namespace kgai::quickstart
