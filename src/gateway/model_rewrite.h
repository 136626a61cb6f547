// Which model a request is sent as: the x-gateway-model-name-rewrite header wins; else the
// first modelRewrites rule matching the requested model picks a target at random by weight
// (a traffic split across model versions or LoRA adapters); else the model as requested.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "gateway/config.h"

namespace kgai::gateway {

std::string rewrite_model(std::string_view requested, std::string_view header,
                          const std::vector<ModelRewriteConfig>& rules, std::mt19937_64& rng);

// `body` (a JSON object) with its top-level "model" set to `model`. Errors if it is no object.
Result<std::string> replace_model(std::string_view body, std::string_view model);

// Input and output token counts from the last "usage" object in `tail` (the end of a
// response body or stream): {prompt_tokens, completion_tokens}, -1 where absent.
std::pair<int64_t, int64_t> usage_from_tail(std::string_view tail);

}  // namespace kgai::gateway
