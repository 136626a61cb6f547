#include "dra/output.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace kgai::dra {
namespace {

nlohmann::ordered_json opaque_json(const OpaqueConfig& c) {
  return {{"driver", c.driver}, {"parameters", c.parameters}};
}

void emit(YAML::Emitter& out, const nlohmann::ordered_json& v) {
  switch (v.type()) {
    case nlohmann::ordered_json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        out << YAML::Key << k << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::ordered_json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : v) emit(out, item);
      out << YAML::EndSeq;
      break;
    case nlohmann::ordered_json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      // A string YAML would read back as something else (a number, bool, null, a flow
      // collection, a comment) keeps its quotes.
      static const char* const kWords[] = {
          "true", "false", "null", "yes", "no",   "on",    "off",  "~",   "True", "False", "Null",
          "Yes",  "No",    "On",   "Off", "TRUE", "FALSE", "NULL", "YES", "NO",   "ON",    "OFF"};
      bool ambiguous = s.empty() || s.front() == ' ' || s.back() == ' ' ||
                       s.find_first_of(":#{}[],&*!|>'\"%@`\n\t\\") != std::string::npos ||
                       s.front() == '-' || s.front() == '?' ||
                       s.find_first_not_of("+-.0123456789eE_xXoabcdefABCDEF") == std::string::npos;
      for (const char* w : kWords) ambiguous = ambiguous || s == w;
      if (ambiguous) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case nlohmann::ordered_json::value_t::boolean:
      out << v.get<bool>();
      break;
    case nlohmann::ordered_json::value_t::number_integer:
      out << v.get<int64_t>();
      break;
    case nlohmann::ordered_json::value_t::number_unsigned:
      out << v.get<uint64_t>();
      break;
    case nlohmann::ordered_json::value_t::number_float:
      out << v.get<double>();
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

nlohmann::ordered_json allocated_list(const Inputs& inputs, const Allocation& allocation) {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (size_t c = 0; c < inputs.claims.size(); ++c) {
    nlohmann::ordered_json object = inputs.claims[c].object;
    for (const auto& a : allocation.claims) {
      if (a.claim != c) continue;
      nlohmann::ordered_json results = nlohmann::ordered_json::array();
      for (const auto& r : a.results) {
        nlohmann::ordered_json j = {
            {"request", r.request}, {"driver", r.driver}, {"pool", r.pool}, {"device", r.device}};
        if (r.admin_access) j["adminAccess"] = true;
        results.push_back(std::move(j));
      }
      nlohmann::ordered_json devices = {{"results", std::move(results)}};
      if (!a.config.empty()) {
        nlohmann::ordered_json config = nlohmann::ordered_json::array();
        for (const auto& cfg : a.config) {
          nlohmann::ordered_json j = {{"source", cfg.source}};
          if (!cfg.requests.empty()) j["requests"] = cfg.requests;
          j["opaque"] = opaque_json(cfg.opaque);
          config.push_back(std::move(j));
        }
        devices["config"] = std::move(config);
      }
      nlohmann::ordered_json alloc = {{"devices", std::move(devices)}};
      if (!a.node_selector.is_null()) alloc["nodeSelector"] = a.node_selector;
      object["status"]["allocation"] = std::move(alloc);
    }
    items.push_back(std::move(object));
  }
  return {{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(items)}};
}

nlohmann::ordered_json explanation(const Allocation& allocation) {
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const auto& n : allocation.not_fitting)
    nodes.push_back({{"node", n.node}, {"reasons", n.reasons}});
  return {{"allocated", false}, {"nodes", std::move(nodes)}};
}

std::string explanation_text(const Allocation& allocation) {
  std::string out =
      fmt::format("no node fits the claims ({} tried):\n", allocation.not_fitting.size());
  for (const auto& n : allocation.not_fitting) {
    out += fmt::format("node {}:\n", n.node);
    for (const auto& r : n.reasons) out += fmt::format("  - {}\n", r);
  }
  return out;
}

std::string to_yaml(const nlohmann::ordered_json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace kgai::dra
