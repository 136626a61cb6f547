// Strict readers for YAML scalars, lists and maps, with errors that name the file, the key
// path and the line: "my.yaml: models[2].num_layers: expected a positive integer, got 'abc'
// (line 14, column 17)". Private to the catalog module.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include "common/yaml_text.h"

#include "common/result.h"

namespace kgai::catalog::internal {

// Where a node sits in a file; builds error messages.
class NodePath {
 public:
  NodePath(std::string_view source, std::string path) : source_(source), path_(std::move(path)) {}

  NodePath key(std::string_view key) const;
  NodePath index(size_t i) const;
  const std::string& str() const { return path_; }

  // "<source>: <path>: <message> (line L, column C)"; the position is left out when the node
  // has none (e.g. it is missing).
  template <typename... Args>
  Error error(const YAML::Node& node, fmt::format_string<Args...> format, Args&&... args) const {
    return make_error(node, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  Error make_error(const YAML::Node& node, const std::string& message) const;

  std::string_view source_;
  std::string path_;
};

// "a map", "a list", "null" or the scalar in quotes: what the user wrote, for messages.
using yaml_text::describe;

Result<int> read_positive_int(const YAML::Node& node, const NodePath& path);
Result<int> read_non_negative_int(const YAML::Node& node, const NodePath& path);
Result<double> read_positive_number(const YAML::Node& node, const NodePath& path);
Result<double> read_non_negative_number(const YAML::Node& node, const NodePath& path);
// A share in (0, 1].
Result<double> read_fraction(const YAML::Node& node, const NodePath& path);
// A share in [0, 1].
Result<double> read_non_negative_fraction(const YAML::Node& node, const NodePath& path);
// A non-empty string scalar.
Result<std::string> read_string(const YAML::Node& node, const NodePath& path);
Result<std::vector<std::string>> read_string_list(const YAML::Node& node, const NodePath& path);

// Checks that `node` is a map whose keys are strings from `known`, each at most once. An
// unknown key is an error naming it (with the closest known key when one is near).
Result<void> check_map_keys(const YAML::Node& node, const NodePath& path, std::string_view what,
                            std::span<const std::string_view> known);

}  // namespace kgai::catalog::internal
