#include "quickstart/output.h"

#include <algorithm>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace kgai::quickstart {
namespace {

void emit(YAML::Emitter& out, const nlohmann::ordered_json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      emit(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : value) emit(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else if (value.is_null()) {
    out << YAML::Null;
  } else {
    out << cell_text(value);
  }
}

}  // namespace

Result<Format> parse_format(std::string_view name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  if (name == "yaml") return Format::kYaml;
  return fail("unknown format '{}'; known: table, csv, json, yaml", name);
}

std::string cell_text(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return fmt::format("{}", value.get<long long>());
  if (value.is_number()) return fmt::format("{}", value.get<double>());  // shortest round trip
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_array()) {
    std::vector<std::string> parts;
    for (const auto& item : value) parts.push_back(cell_text(item));
    return fmt::format("{}", fmt::join(parts, " "));
  }
  return value.dump();
}

Table flat_table(const nlohmann::ordered_json& items) {
  Table table;
  if (items.empty()) return table;
  for (const auto& [key, _] : items.front().items()) table.columns.push_back(key);
  for (const auto& item : items) {
    auto& row = table.rows.emplace_back();
    for (const auto& column : table.columns) {
      row.push_back(item.contains(column) ? cell_text(item[column]) : "-");
    }
  }
  return table;
}

std::string render_table(const Table& table) {
  std::vector<size_t> widths;
  for (const auto& column : table.columns) widths.push_back(column.size());
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i + 1 == cells.size()) {
        out += cells[i];  // no trailing spaces
      } else {
        out += fmt::format("{:<{}}  ", cells[i], widths[i]);
      }
    }
    return out + "\n";
  };
  std::string out = line(table.columns);
  for (const auto& row : table.rows) out += line(row);
  return out;
}

std::string render_csv(const Table& table) {
  auto quote = [](const std::string& cell) {
    if (cell.find_first_of(",\"\n\r") == std::string::npos) return cell;
    std::string out = "\"";
    for (char c : cell) {
      if (c == '"') out += '"';
      out += c;
    }
    return out + "\"";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    std::vector<std::string> quoted;
    for (const auto& cell : cells) quoted.push_back(quote(cell));
    return fmt::format("{}\n", fmt::join(quoted, ","));
  };
  std::string out = line(table.columns);
  for (const auto& row : table.rows) out += line(row);
  return out;
}

std::string render_yaml(const nlohmann::ordered_json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace kgai::quickstart
