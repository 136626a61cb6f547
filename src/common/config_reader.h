// Typed, path-aware reading of a YAML config (perf, gateway). Errors name the
// file, the key path and the line: "perf.yaml: load.stages[1].rate: expected a number, got
// 'fast' (line 7)"; unknown keys become warnings with the closest known key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include "common/yaml_text.h"

#include "common/result.h"

namespace kgai::config {

// " (line L, column C)" for a node's position, "" when it has none.
std::string position(const YAML::Mark& mark);

// Parses YAML text into a node; syntax errors name the source, line and column.
Result<YAML::Node> parse_yaml(std::string_view text, std::string_view source);

// Reads a whole config file (refusing directories and files over `max_bytes`).
Result<std::string> read_config_file(const std::string& path, size_t max_bytes = 16u << 20);

// The accepted interval of a number and how messages name it.
struct Range {
  double min;
  bool min_open;
  double max;
  bool max_open;
  std::string_view expected;  // "a non-negative number"
};

inline constexpr Range kNonNegative{0, false, 1e300, false, "a non-negative number"};
inline constexpr Range kPositive{0, true, 1e300, false, "a positive number"};
inline constexpr Range kPercentile{0, true, 100, true, "a number in (0, 100)"};
inline constexpr Range kFraction{0, false, 1, false, "a number in [0, 1]"};

// "a map", "a list", "null" or the scalar in quotes: what the user wrote, for messages.
using yaml_text::describe;

// Shared state of one parse: the source name, the warnings, and the first error. The first
// error sticks and later reads do nothing, so section readers stay straight-line code and the
// caller checks once at the end (the alternative, a Result check after every key, would bury
// the schema under plumbing).
class ConfigReader {
 public:
  ConfigReader(std::string_view source, std::vector<std::string>& warnings)
      : source_(source), warnings_(warnings) {}

  bool ok() const { return !error_.has_value(); }
  // Strict readers treat unknown keys as errors instead of warnings (the gateway: a typo in a
  // routing config must not silently fall back to a default).
  void set_strict(bool strict) { strict_ = strict; }
  bool strict() const { return strict_; }
  const Error& error() const { return *error_; }

  // Keeps only the first error: later ones are often consequences of it.
  template <typename... Args>
  void fail(const YAML::Node& node, std::string_view path, fmt::format_string<Args...> format,
            Args&&... args) {
    if (ok()) set_error(node, path, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warn(const YAML::Node& node, std::string_view path, fmt::format_string<Args...> format,
            Args&&... args) {
    add_warning(node, path, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void set_error(const YAML::Node& node, std::string_view path, const std::string& message);
  void add_warning(const YAML::Node& node, std::string_view path, const std::string& message);

  std::string_view source_;
  std::vector<std::string>& warnings_;
  std::optional<Error> error_;
  bool strict_ = false;
};

// One map of the config with its path. Construction checks the shape (a map, or null for an
// empty section such as "api:" with nothing under it), rejects duplicate and non-string keys
// and warns about unknown ones. The readers leave `out` untouched when the key is missing or
// null, so struct defaults stay the defaults.
class MapReader {
 public:
  MapReader(ConfigReader& reader, const YAML::Node& node, std::string path,
            std::span<const std::string_view> known);

  // Present and not null.
  bool has(std::string_view key) const;
  YAML::Node node(std::string_view key) const;
  std::string path(std::string_view key) const;
  const std::string& path() const { return path_; }
  ConfigReader& reader() const { return reader_; }

  void read(std::string_view key, bool& out) const;
  void read(std::string_view key, std::string& out) const;
  void read(std::string_view key, int& out) const;      // non-negative
  void read(std::string_view key, int64_t& out) const;  // non-negative
  void read(std::string_view key, uint64_t& out) const;
  void read(std::string_view key, double& out, Range range = kNonNegative) const;
  void read(std::string_view key, std::optional<double>& out, Range range) const;
  void read(std::string_view key, std::vector<double>& out, Range range) const;
  void read(std::string_view key, std::vector<std::string>& out) const;
  void read(std::string_view key, std::map<std::string, std::string>& out) const;
  // One of `supported`, matched case-insensitively and stored in its canonical spelling.
  void read_choice(std::string_view key, std::string& out,
                   std::span<const std::string_view> supported) const;

  // Calls `item(node, path)` for each element of the list at `key`; errors if it is no list.
  template <typename F>
  void for_each(std::string_view key, F&& item) const {
    if (!reader_.ok() || !has(key)) return;
    YAML::Node list = node(key);
    if (!list.IsSequence()) {
      reader_.fail(list, path(key), "expected a list, got {}", describe(list));
      return;
    }
    for (size_t i = 0; i < list.size() && reader_.ok(); ++i) {
      item(list[i], fmt::format("{}[{}]", path(key), i));
    }
  }

 private:
  ConfigReader& reader_;
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

}  // namespace kgai::config
