#include "catalog/yaml_reader.h"

#include "common/did_you_mean.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace kgai::catalog::internal {
namespace {

// No catalog quantity comes near this (the largest are TFLOP/s, GiB and max_model_len), and
// capping it keeps products such as params * bytes finite.
constexpr double kMaxNumber = 1e9;
constexpr int64_t kMaxInt = std::numeric_limits<int>::max();

enum class ParseError { kSyntax, kRange };

// The whole text must be the number: "12abc" is not 12.
template <typename T>
std::expected<T, ParseError> parse_number(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) return std::unexpected(ParseError::kRange);
  if (ec != std::errc() || ptr != end) return std::unexpected(ParseError::kSyntax);
  return value;
}

Result<int> read_int(const YAML::Node& node, const NodePath& path, int64_t min,
                     std::string_view expected) {
  if (!node.IsScalar())
    return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  auto value = parse_number<int64_t>(node.Scalar());
  if (!value && value.error() == ParseError::kSyntax) {
    return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  }
  if (!value || *value > kMaxInt) {
    return fail(
        path.error(node, "expected {} of at most {}, got {}", expected, kMaxInt, describe(node)));
  }
  if (*value < min) return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  return static_cast<int>(*value);
}

// Reads a finite number in [min, max]; `min_open` excludes min itself.
Result<double> read_double(const YAML::Node& node, const NodePath& path, double min, bool min_open,
                           double max, std::string_view expected) {
  if (!node.IsScalar())
    return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  auto value = parse_number<double>(node.Scalar());
  if (!value && value.error() == ParseError::kSyntax) {
    return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  }
  if (value && !std::isfinite(*value)) {
    return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  }
  if (!value || *value > max) {
    // A bounded range already says its maximum.
    if (max < kMaxNumber)
      return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
    return fail(
        path.error(node, "expected {} of at most {}, got {}", expected, max, describe(node)));
  }
  if (*value < min || (min_open && *value == min)) {
    return fail(path.error(node, "expected {}, got {}", expected, describe(node)));
  }
  return *value;
}

std::string unknown_key_hint(std::string_view key, std::span<const std::string_view> known) {
  std::string hint = did_you_mean(key, known, 2);
  return hint.empty() ? fmt::format(" (known keys: {})", fmt::join(known, ", ")) : hint;
}

}  // namespace

NodePath NodePath::key(std::string_view key) const {
  return NodePath(source_, path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key));
}

NodePath NodePath::index(size_t i) const {
  return NodePath(source_, fmt::format("{}[{}]", path_, i));
}

Error NodePath::make_error(const YAML::Node& node, const std::string& message) const {
  std::string where = path_.empty() ? std::string(source_) : fmt::format("{}: {}", source_, path_);
  if (node.IsDefined() && !node.Mark().is_null()) {
    return Error{fmt::format("{}: {} (line {}, column {})", where, message, node.Mark().line + 1,
                             node.Mark().column + 1)};
  }
  return Error{fmt::format("{}: {}", where, message)};
}

Result<int> read_positive_int(const YAML::Node& node, const NodePath& path) {
  return read_int(node, path, 1, "a positive integer");
}

Result<int> read_non_negative_int(const YAML::Node& node, const NodePath& path) {
  return read_int(node, path, 0, "a non-negative integer");
}

Result<double> read_positive_number(const YAML::Node& node, const NodePath& path) {
  return read_double(node, path, 0.0, true, kMaxNumber, "a positive number");
}

Result<double> read_non_negative_number(const YAML::Node& node, const NodePath& path) {
  return read_double(node, path, 0.0, false, kMaxNumber, "a non-negative number");
}

Result<double> read_fraction(const YAML::Node& node, const NodePath& path) {
  return read_double(node, path, 0.0, true, 1.0, "a number in (0, 1]");
}

Result<double> read_non_negative_fraction(const YAML::Node& node, const NodePath& path) {
  return read_double(node, path, 0.0, false, 1.0, "a number in [0, 1]");
}

Result<std::string> read_string(const YAML::Node& node, const NodePath& path) {
  if (!node.IsScalar() || node.Scalar().empty()) {
    return fail(path.error(node, "expected a non-empty string, got {}", describe(node)));
  }
  return node.Scalar();
}

Result<std::vector<std::string>> read_string_list(const YAML::Node& node, const NodePath& path) {
  if (!node.IsSequence()) {
    return fail(path.error(node, "expected a list of strings, got {}", describe(node)));
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) {
    auto text = read_string(node[i], path.index(i));
    if (!text) return fail(text.error());
    out.push_back(std::move(*text));
  }
  return out;
}

Result<void> check_map_keys(const YAML::Node& node, const NodePath& path, std::string_view what,
                            std::span<const std::string_view> known) {
  if (!node.IsMap()) {
    return fail(path.error(node, "expected a map of {}, got {}", what, describe(node)));
  }
  std::set<std::string, std::less<>> seen;
  for (const auto& item : node) {
    const YAML::Node& key = item.first;
    if (!key.IsScalar()) {
      return fail(path.error(key, "expected string keys, got {} as a key", describe(key)));
    }
    const std::string& name = key.Scalar();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return fail(path.error(key, "unknown key '{}'{}", name, unknown_key_hint(name, known)));
    }
    if (!seen.insert(name).second) return fail(path.error(key, "duplicate key '{}'", name));
  }
  return {};
}

}  // namespace kgai::catalog::internal
