#include "common/config_reader.h"

#include "common/ascii.h"
#include "common/did_you_mean.h"
#include "common/yaml_load.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>

namespace kgai::config {
namespace {

std::string join_path(std::string_view base, std::string_view key) {
  return base.empty() ? std::string(key) : fmt::format("{}.{}", base, key);
}

std::string position(const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) return "";
  return fmt::format(" (line {})", node.Mark().line + 1);
}

// "; did you mean 'stages'?" when a known key is a likely typo of `key`, else "".
std::string suggestion(std::string_view key, std::span<const std::string_view> known) {
  // Two edits catch most typos in short keys; long keys tolerate a few more.
  return did_you_mean(key, known, std::max<size_t>(2, key.size() / 4));
}

// The whole text must be the number: "12abc" is not 12. YAML allows a leading '+'.
template <typename T>
std::optional<T> parse_number(std::string_view text, bool* out_of_range = nullptr) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-') text.remove_prefix(1);
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range && out_of_range) *out_of_range = true;
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

void ConfigReader::set_error(const YAML::Node& node, std::string_view path,
                             const std::string& message) {
  std::string where = path.empty() ? std::string(source_) : fmt::format("{}: {}", source_, path);
  error_ = Error{fmt::format("{}: {}{}", where, message, position(node))};
}

void ConfigReader::add_warning(const YAML::Node& node, std::string_view path,
                               const std::string& message) {
  warnings_.push_back(fmt::format("{}: {}{}", path, message, position(node)));
}

MapReader::MapReader(ConfigReader& reader, const YAML::Node& node, std::string path,
                     std::span<const std::string_view> known)
    : reader_(reader), path_(std::move(path)) {
  if (!reader_.ok() || !node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    reader_.fail(node, path_, "expected a map, got {}", describe(node));
    return;
  }
  for (const auto& item : node) {
    const YAML::Node& key = item.first;
    if (!key.IsScalar()) {
      reader_.fail(key, path_, "expected string keys, got {} as a key", describe(key));
      return;
    }
    const std::string& name = key.Scalar();
    std::string key_path = join_path(path_, name);
    auto same = [&](const auto& entry) { return entry.first == name; };
    if (std::any_of(entries_.begin(), entries_.end(), same)) {
      reader_.fail(key, key_path, "duplicate key");
      return;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      if (reader_.strict()) {
        reader_.fail(key, key_path, "unknown key{}", suggestion(name, known));
        return;
      }
      reader_.warn(key, key_path, "unknown key (ignored){}", suggestion(name, known));
      continue;
    }
    entries_.emplace_back(name, item.second);
  }
}

bool MapReader::has(std::string_view key) const {
  YAML::Node value = node(key);
  return value.IsDefined() && !value.IsNull();
}

YAML::Node MapReader::node(std::string_view key) const {
  for (const auto& [name, value] : entries_) {
    if (name == key) return value;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string MapReader::path(std::string_view key) const { return join_path(path_, key); }

void MapReader::read(std::string_view key, bool& out) const {
  if (!reader_.ok() || !has(key)) return;
  YAML::Node value = node(key);
  bool parsed = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, parsed)) {
    reader_.fail(value, path(key), "expected true or false, got {}", describe(value));
    return;
  }
  out = parsed;
}

void MapReader::read(std::string_view key, std::string& out) const {
  if (!reader_.ok() || !has(key)) return;
  YAML::Node value = node(key);
  if (!value.IsScalar()) {
    reader_.fail(value, path(key), "expected a string, got {}", describe(value));
    return;
  }
  out = value.Scalar();
}

void MapReader::read(std::string_view key, int64_t& out) const {
  if (!reader_.ok() || !has(key)) return;
  YAML::Node value = node(key);
  bool too_big = false;
  auto parsed = value.IsScalar() ? parse_number<int64_t>(value.Scalar(), &too_big) : std::nullopt;
  if (too_big) {
    reader_.fail(value, path(key), "integer out of range, got {}", describe(value));
  } else if (!parsed) {
    reader_.fail(value, path(key), "expected an integer, got {}", describe(value));
  } else if (*parsed < 0) {
    reader_.fail(value, path(key), "expected a non-negative integer, got {}", describe(value));
  } else {
    out = *parsed;
  }
}

void MapReader::read(std::string_view key, int& out) const {
  int64_t wide = out;
  read(key, wide);
  if (!reader_.ok() || !has(key)) return;
  if (wide > std::numeric_limits<int>::max()) {
    reader_.fail(node(key), path(key), "expected an integer of at most {}, got {}",
                 std::numeric_limits<int>::max(), describe(node(key)));
    return;
  }
  out = static_cast<int>(wide);
}

void MapReader::read(std::string_view key, uint64_t& out) const {
  if (!reader_.ok() || !has(key)) return;
  YAML::Node value = node(key);
  bool too_big = false;
  auto parsed = value.IsScalar() ? parse_number<uint64_t>(value.Scalar(), &too_big) : std::nullopt;
  if (too_big) {
    reader_.fail(value, path(key), "integer out of range, got {}", describe(value));
  } else if (!parsed) {
    reader_.fail(value, path(key), "expected a non-negative integer, got {}", describe(value));
  } else {
    out = *parsed;
  }
}

namespace {

// Reads one number in `range`; nullopt after recording the error.
std::optional<double> read_number(ConfigReader& reader, const YAML::Node& value,
                                  std::string_view path, Range range) {
  auto parsed = value.IsScalar() ? parse_number<double>(value.Scalar()) : std::nullopt;
  if (!parsed || !std::isfinite(*parsed)) {
    reader.fail(value, path, "expected a number, got {}", describe(value));
    return std::nullopt;
  }
  double x = *parsed;
  bool below = range.min_open ? x <= range.min : x < range.min;
  bool above = range.max_open ? x >= range.max : x > range.max;
  if (below || above) {
    reader.fail(value, path, "expected {}, got {}", range.expected, describe(value));
    return std::nullopt;
  }
  return x;
}

}  // namespace

void MapReader::read(std::string_view key, double& out, Range range) const {
  if (!reader_.ok() || !has(key)) return;
  if (auto x = read_number(reader_, node(key), path(key), range)) out = *x;
}

void MapReader::read(std::string_view key, std::optional<double>& out, Range range) const {
  if (!reader_.ok() || !has(key)) return;
  if (auto x = read_number(reader_, node(key), path(key), range)) out = *x;
}

void MapReader::read(std::string_view key, std::vector<double>& out, Range range) const {
  std::vector<double> values;
  for_each(key, [&](const YAML::Node& item, const std::string& item_path) {
    if (auto x = read_number(reader_, item, item_path, range)) values.push_back(*x);
  });
  // An empty list is a choice too ("no percentiles"), unlike a missing key.
  if (reader_.ok() && has(key)) out = std::move(values);
}

void MapReader::read(std::string_view key, std::vector<std::string>& out) const {
  std::vector<std::string> values;
  for_each(key, [&](const YAML::Node& item, const std::string& item_path) {
    if (!item.IsScalar()) {
      reader_.fail(item, item_path, "expected a string, got {}", describe(item));
      return;
    }
    values.push_back(item.Scalar());
  });
  if (reader_.ok() && has(key)) out = std::move(values);
}

void MapReader::read(std::string_view key, std::map<std::string, std::string>& out) const {
  if (!reader_.ok() || !has(key)) return;
  YAML::Node value = node(key);
  if (!value.IsMap()) {
    reader_.fail(value, path(key), "expected a map of strings, got {}", describe(value));
    return;
  }
  std::map<std::string, std::string> values;
  for (const auto& item : value) {
    if (!item.first.IsScalar()) {
      reader_.fail(item.first, path(key), "expected string keys, got {} as a key",
                   describe(item.first));
      return;
    }
    std::string item_path = join_path(path(key), item.first.Scalar());
    if (!item.second.IsScalar()) {
      reader_.fail(item.second, item_path, "expected a string, got {}", describe(item.second));
      return;
    }
    if (!values.emplace(item.first.Scalar(), item.second.Scalar()).second) {
      reader_.fail(item.first, item_path, "duplicate key");
      return;
    }
  }
  out = std::move(values);
}

void MapReader::read_choice(std::string_view key, std::string& out,
                            std::span<const std::string_view> supported) const {
  std::string text;
  read(key, text);
  if (!reader_.ok() || !has(key)) return;
  for (std::string_view option : supported) {
    if (ascii_iequals(text, option)) {
      out = option;
      return;
    }
  }
  reader_.fail(node(key), path(key), "'{}' is not supported by kgai perf (supported: {})", text,
               fmt::join(supported, ", "));
}

std::string position(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return fmt::format(" (line {}, column {})", mark.line + 1, mark.column + 1);
}

Result<YAML::Node> parse_yaml(std::string_view text, std::string_view source) {
  // load_yaml_documents, not YAML::Load: UTF-8 required and handed out as UTF-8 (yaml-cpp 0.7
  // writes "\N" as a lone byte that no JSON writer or model server accepts), and a second
  // document is an error rather than silently ignored.
  try {
    std::vector<YAML::Node> documents = load_yaml_documents(text);
    if (documents.size() > 1) {
      return fail("{}: expected one YAML document, found {}", source, documents.size());
    }
    return documents.empty() ? YAML::Node() : documents.front();
  } catch (const YAML::Exception& e) {
    return fail("{}: invalid YAML: {}{}", source, e.msg, position(e.mark));
  }
}

Result<std::string> read_config_file(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return fail("{}: is a directory, expected a config file", path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string text;
  char block[1 << 16];
  while (in.read(block, sizeof block) || in.gcount() > 0) {
    text.append(block, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) return fail("{}: larger than {} bytes", path, max_bytes);
  }
  if (in.bad()) return fail("{}: read error: {}", path, std::strerror(errno));
  return text;
}

}  // namespace kgai::config
