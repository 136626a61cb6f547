// Which model a request is sent as: the x-gateway-model-name-rewrite header wins; else the
// first modelRewrites rule matching the requested model picks a target at random by weight
// (a traffic split across model versions or LoRA adapters); else the model as requested.
#pragma once

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "gateway/config.h"
#include "gateway/request_info.h"

namespace kgai::gateway {

std::string rewrite_model(std::string_view requested, std::string_view header,
                          const std::vector<ModelRewriteConfig>& rules, std::mt19937_64& rng);

// `body` with its top-level "model" value replaced by `model`, spliced in at the span that
// parse_request_body found (`info` must come from parsing this very body): the rest of the
// body is copied byte for byte, key order and all, and nothing is parsed or re-serialized
// (no DOM of a 200 KB prompt, no recursion over a deeply nested body). `model` is escaped.
std::string splice_model(std::string_view body, const RequestInfo& info, std::string_view model);

// Why `model` cannot be a model name sent upstream (empty, over kMaxModelNameBytes, not
// UTF-8, or holding control characters), or nullopt when it can. For names that come from a
// header, which no JSON parser has checked.
inline constexpr size_t kMaxModelNameBytes = 1024;
std::optional<std::string> invalid_model_name(std::string_view model);

}  // namespace kgai::gateway
