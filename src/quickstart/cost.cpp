#include "quickstart/cost.h"

#include <cmath>

namespace kgai::quickstart {
namespace {

bool non_negative(double x) { return std::isfinite(x) && x >= 0; }

}  // namespace

Result<TokenCost> token_cost(const CostInputs& in) {
  if (!non_negative(in.price_per_hour)) {
    return fail("price per hour must be a non-negative number, got {}", in.price_per_hour);
  }
  if (in.accelerator_count < 1) {
    return fail("accelerator count must be at least 1, got {}", in.accelerator_count);
  }
  if (!non_negative(in.input_tokens_per_second) || !non_negative(in.output_tokens_per_second)) {
    return fail("token rates must be non-negative numbers, got {} input and {} output tokens/s",
                in.input_tokens_per_second, in.output_tokens_per_second);
  }
  if (!(std::isfinite(in.cost_ratio) && in.cost_ratio > 0)) {
    return fail("cost ratio must be a positive number, got {}", in.cost_ratio);
  }
  // Output-token equivalents per second: R input tokens cost as much as one output token.
  const double weighted = in.input_tokens_per_second / in.cost_ratio + in.output_tokens_per_second;
  if (weighted <= 0) return fail("no tokens per second: a cost per token is undefined");

  TokenCost cost;
  cost.inputs = in;
  cost.dollars_per_second = in.price_per_hour * in.accelerator_count / 3600.0;
  const double per_output_token = cost.dollars_per_second / weighted;
  cost.per_million_output_tokens = per_output_token * 1e6;
  cost.per_million_input_tokens = per_output_token / in.cost_ratio * 1e6;
  return cost;
}

}  // namespace kgai::quickstart
