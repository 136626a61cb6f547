#include "gateway/model_rewrite.h"

#include <charconv>

#include <nlohmann/json.hpp>

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

Result<std::string> replace_model(std::string_view body, std::string_view model) {
  // Rare (only rewritten requests), so a DOM is fine here; the hot path never builds one.
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("request body is not a JSON object");
  j["model"] = model;
  // The name comes from a client's x-gateway-model-name-rewrite header or the config, and
  // dump() throws on a string that is not UTF-8 (found by tests/fuzz/model_rewrite_fuzz.cpp).
  try {
    return j.dump();
  } catch (const nlohmann::json::exception&) {
    return fail("the model name to send is not valid UTF-8");
  }
}

std::pair<int64_t, int64_t> usage_from_tail(std::string_view tail) {
  const size_t usage = tail.rfind("\"usage\"");
  if (usage == std::string_view::npos) return {-1, -1};
  const std::string_view rest = tail.substr(usage);
  auto number_after = [&](std::string_view key) -> int64_t {
    size_t at = rest.find(key);
    if (at == std::string_view::npos) return -1;
    at = rest.find(':', at + key.size());
    if (at == std::string_view::npos) return -1;
    ++at;
    while (at < rest.size() && (rest[at] == ' ' || rest[at] == '\t')) ++at;
    int64_t value = -1;
    auto [end, ec] = std::from_chars(rest.data() + at, rest.data() + rest.size(), value);
    return ec == std::errc{} && value >= 0 ? value : -1;
  };
  return {number_after("\"prompt_tokens\""), number_after("\"completion_tokens\"")};
}

}  // namespace kgai::gateway
