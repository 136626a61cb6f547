#include "gateway/model_rewrite.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/json_string.h"
#include "common/utf8.h"

namespace kgai::gateway {

std::string rewrite_model(std::string_view requested, std::string_view header,
                          const std::vector<ModelRewriteConfig>& rules, std::mt19937_64& rng) {
  if (!header.empty()) return std::string(header);
  for (const auto& rule : rules) {
    bool matches = false;
    for (const auto& m : rule.match) matches = matches || m == requested;
    if (!matches) continue;
    double total = 0;
    for (const auto& t : rule.targets) total += t.weight;
    double u = std::uniform_real_distribution<double>(0.0, total)(rng);
    for (const auto& t : rule.targets) {
      if (u < t.weight) return t.model;
      u -= t.weight;
    }
    return rule.targets.back().model;
  }
  return std::string(requested);
}

std::string splice_model(std::string_view body, const RequestInfo& info, std::string_view model) {
  std::string out;
  out.reserve(body.size() + model.size() + 2);
  out.append(body.substr(0, info.model_offset));
  append_json_string(out, model);
  out.append(body.substr(info.model_offset + info.model_length));
  return out;
}

std::optional<std::string> invalid_model_name(std::string_view model) {
  if (model.empty()) return "must not be empty";
  if (model.size() > kMaxModelNameBytes) {
    return fmt::format("is {} bytes long, over the limit of {}", model.size(), kMaxModelNameBytes);
  }
  if (!is_valid_utf8(model)) return "is not valid UTF-8";
  for (char c : model) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "holds control characters";
  }
  return std::nullopt;
}

}  // namespace kgai::gateway
