#include "dra/node_selector.h"

#include <algorithm>
#include <charconv>

namespace kgai::dra {
namespace {

bool to_int(std::string_view text, int64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

bool requirement_holds(const NodeSelectorRequirement& r, const std::string* value) {
  const auto in = [&] {
    return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
  };
  if (r.op == "In") return in();
  if (r.op == "NotIn") return !in();
  if (r.op == "Exists") return value != nullptr;
  if (r.op == "DoesNotExist") return value == nullptr;
  if ((r.op == "Gt" || r.op == "Lt") && value && r.values.size() == 1) {
    int64_t have = 0, bound = 0;
    if (!to_int(*value, have) || !to_int(r.values[0], bound)) return false;
    return r.op == "Gt" ? have > bound : have < bound;
  }
  return false;
}

nlohmann::ordered_json requirements_json(const std::vector<NodeSelectorRequirement>& list) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : list) {
    nlohmann::ordered_json j = {{"key", r.key}, {"operator", r.op}};
    if (!r.values.empty()) j["values"] = r.values;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

bool matches(const NodeSelector& selector, const Node& node) {
  for (const auto& term : selector.terms) {
    if (term.match_expressions.empty() && term.match_fields.empty()) continue;  // matches nothing
    bool all = true;
    for (const auto& r : term.match_expressions) {
      auto it = node.labels.find(r.key);
      if (!requirement_holds(r, it == node.labels.end() ? nullptr : &it->second)) {
        all = false;
        break;
      }
    }
    for (const auto& r : term.match_fields) {
      if (!all) break;
      if (!requirement_holds(r, &node.name)) all = false;
    }
    if (all) return true;
  }
  return false;
}

nlohmann::ordered_json node_selector_json(const NodeSelector& selector) {
  nlohmann::ordered_json terms = nlohmann::ordered_json::array();
  for (const auto& t : selector.terms) {
    nlohmann::ordered_json term = nlohmann::ordered_json::object();
    if (!t.match_expressions.empty())
      term["matchExpressions"] = requirements_json(t.match_expressions);
    if (!t.match_fields.empty()) term["matchFields"] = requirements_json(t.match_fields);
    terms.push_back(std::move(term));
  }
  return {{"nodeSelectorTerms", std::move(terms)}};
}

}  // namespace kgai::dra
