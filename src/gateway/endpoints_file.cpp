#include "gateway/endpoints_file.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include "common/did_you_mean.h"
#include "common/yaml_load.h"
#include "common/yaml_text.h"

namespace kgai::gateway {
namespace {

using yaml_text::describe;

// "<source>: <path>: <message> (line L)"; the line is left out for nodes without one.
template <typename... Args>
std::unexpected<Error> fail_at(std::string_view source, std::string_view path,
                               const YAML::Node& node, fmt::format_string<Args...> format,
                               Args&&... args) {
  std::string message = fmt::format(format, std::forward<Args>(args)...);
  std::string line;
  if (node.IsDefined() && !node.Mark().is_null()) {
    line = fmt::format(" (line {})", node.Mark().line + 1);
  }
  if (path.empty()) return fail("{}: {}{}", source, message, line);
  return fail("{}: {}: {}{}", source, path, message, line);
}

// Checks that `node` is a map with string keys from `known`, each at most once.
Result<void> check_keys(std::string_view source, const std::string& path, const YAML::Node& node,
                        std::span<const std::string_view> known) {
  if (!node.IsMap()) return fail_at(source, path, node, "expected a map, got {}", describe(node));
  std::set<std::string> seen;
  for (const auto& item : node) {
    const YAML::Node& key = item.first;
    if (!key.IsScalar()) {
      return fail_at(source, path, key, "expected string keys, got {} as a key", describe(key));
    }
    const std::string where =
        path.empty() ? key.Scalar() : fmt::format("{}.{}", path, key.Scalar());
    if (std::find(known.begin(), known.end(), key.Scalar()) == known.end()) {
      return fail_at(
          source, where, key, "unknown key{}",
          did_you_mean(key.Scalar(), known, std::max<size_t>(2, key.Scalar().size() / 4)));
    }
    if (!seen.insert(key.Scalar()).second) return fail_at(source, where, key, "duplicate key");
  }
  return {};
}

Result<Endpoint> read_endpoint(std::string_view source, const std::string& path,
                               const YAML::Node& node) {
  static constexpr std::array<std::string_view, 3> kKeys = {"address", "engine", "labels"};
  if (auto ok = check_keys(source, path, node, kKeys); !ok) return fail(ok.error());

  const YAML::Node address = node["address"];
  const std::string address_path = path + ".address";
  if (!address.IsDefined() || address.IsNull()) {
    return fail_at(source, path, node, "missing 'address' (HOST:PORT)");
  }
  if (!address.IsScalar()) {
    return fail_at(source, address_path, address,
                   "expected HOST:PORT, got {} (quote IPv6 addresses: \"[::1]:8000\")",
                   describe(address));
  }
  auto endpoint = parse_endpoint_address(address.Scalar());
  if (!endpoint) return fail_at(source, address_path, address, "{}", endpoint.error().message);

  if (const YAML::Node engine = node["engine"]; engine.IsDefined() && !engine.IsNull()) {
    auto type = engine.IsScalar() ? parse_engine(engine.Scalar()) : std::nullopt;
    if (!type) {
      return fail_at(source, path + ".engine", engine,
                     "expected vllm, sglang, trtllm or triton, got {}", describe(engine));
    }
    endpoint->engine = *type;
  }

  if (const YAML::Node labels = node["labels"]; labels.IsDefined() && !labels.IsNull()) {
    const std::string labels_path = path + ".labels";
    if (!labels.IsMap()) {
      return fail_at(source, labels_path, labels, "expected a map, got {}", describe(labels));
    }
    for (const auto& item : labels) {
      if (!item.first.IsScalar()) {
        return fail_at(source, labels_path, item.first, "expected string keys, got {} as a key",
                       describe(item.first));
      }
      const std::string label_path = fmt::format("{}.{}", labels_path, item.first.Scalar());
      if (!item.second.IsScalar()) {
        return fail_at(source, label_path, item.second, "expected a string, got {}",
                       describe(item.second));
      }
      if (!endpoint->labels.emplace(item.first.Scalar(), item.second.Scalar()).second) {
        return fail_at(source, label_path, item.first, "duplicate key");
      }
    }
  }
  return endpoint;
}

Result<std::vector<Endpoint>> read_document(const YAML::Node& root, std::string_view source) {
  static constexpr std::array<std::string_view, 1> kTopKeys = {"endpoints"};
  if (!root.IsDefined() || root.IsNull()) {
    return fail("{}: expected a map with 'endpoints', got an empty document", source);
  }
  if (auto ok = check_keys(source, "", root, kTopKeys); !ok) return fail(ok.error());
  const YAML::Node list = root["endpoints"];
  if (!list.IsDefined()) return fail_at(source, "", root, "missing 'endpoints'");
  if (list.IsNull()) return std::vector<Endpoint>{};
  if (!list.IsSequence()) {
    return fail_at(source, "endpoints", list, "expected a list, got {}", describe(list));
  }
  std::vector<Endpoint> endpoints;
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("endpoints[{}]", i);
    auto endpoint = read_endpoint(source, path, list[i]);
    if (!endpoint) return fail(endpoint.error());
    auto [it, added] = index_of.emplace(endpoint->address, i);
    if (!added) {
      return fail_at(source, path + ".address", list[i]["address"],
                     "duplicate address '{}' (also endpoints[{}])", endpoint->address, it->second);
    }
    endpoints.push_back(std::move(*endpoint));
  }
  return endpoints;
}

}  // namespace

Result<std::vector<Endpoint>> parse_endpoints_yaml(std::string_view text, std::string_view source) {
  try {
    std::vector<YAML::Node> docs = load_yaml_documents(text);
    if (docs.size() > 1) {
      return fail("{}: expected one YAML document, found {}", source, docs.size());
    }
    return read_document(docs.empty() ? YAML::Node() : docs.front(), source);
  } catch (const YAML::ParserException& e) {
    return fail("{}: YAML syntax error at line {}, column {}: {}", source, e.mark.line + 1,
                e.mark.column + 1, e.msg);
  } catch (const YAML::Exception& e) {
    // Not expected (every node's type is checked first), but never a crash.
    return fail("{}: {}", source, e.what());
  }
}

Result<std::vector<Endpoint>> load_endpoints_file(std::string_view path) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) return fail("{}: cannot open the endpoints file", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("{}: read error", path);
  return parse_endpoints_yaml(text.str(), path);
}

Result<std::vector<Endpoint>> parse_endpoint_list(std::string_view csv) {
  std::vector<Endpoint> endpoints;
  std::set<std::string> seen;
  size_t position = 0;
  while (true) {
    ++position;
    const size_t comma = csv.find(',');
    std::string_view item = csv.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      return fail("--endpoints: item {} is empty; expected HOST:PORT[,HOST:PORT...]", position);
    }
    auto endpoint = parse_endpoint_address(item);
    if (!endpoint) return fail("--endpoints: {}", endpoint.error().message);
    if (!seen.insert(endpoint->address).second) {
      return fail("--endpoints: duplicate address '{}'", endpoint->address);
    }
    endpoints.push_back(std::move(*endpoint));
    if (comma == std::string_view::npos) break;
    csv.remove_prefix(comma + 1);
  }
  return endpoints;
}

}  // namespace kgai::gateway
