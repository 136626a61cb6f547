#include "common/yaml_text.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace kgai::yaml_text {

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined()) return "nothing";
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      break;
  }
  constexpr size_t kMaxShown = 40;
  const std::string& text = node.Scalar();
  if (text.size() > kMaxShown) return fmt::format("'{}...'", text.substr(0, kMaxShown));
  return fmt::format("'{}'", text);
}

}  // namespace kgai::yaml_text
