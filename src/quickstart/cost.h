// GIQ's cost per token, with the inputs behind it. GIQ shows only the result; users cannot
// recompute it for their own price, discount or ratio. kgai returns the inputs next to it.
//
//   $/s          = price per chip-hour x accelerator count / 3600
//   $/out token  = $/s / (input tokens/s / R + output tokens/s)
//   $/in token   = $/out token / R
//
// R is the output:input cost ratio (GIQ's default 4): an input token is charged a quarter of an
// output token, because prefill processes many prompt tokens per step.
#pragma once

#include "common/result.h"

namespace kgai::quickstart {

inline constexpr double kDefaultCostRatio = 4.0;

struct CostInputs {
  double price_per_hour = 0;  // $ per chip-hour
  int accelerator_count = 1;
  double input_tokens_per_second = 0;
  double output_tokens_per_second = 0;
  double cost_ratio = kDefaultCostRatio;  // R
};

struct TokenCost {
  CostInputs inputs;  // what the figures were computed from
  double dollars_per_second = 0;
  double per_million_input_tokens = 0;
  double per_million_output_tokens = 0;
};

// Errors on a negative or non-finite price or rate, a count below 1, R <= 0, or no tokens at
// all (a cost per token of a setup that produces none has no meaning).
Result<TokenCost> token_cost(const CostInputs& inputs);

}  // namespace kgai::quickstart
