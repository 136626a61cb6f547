// The output formats of the quickstart listings: an aligned table for people, CSV for
// spreadsheets, JSON and YAML for scripts. One JSON value is the truth; the table and CSV are
// flattened from it, so the formats cannot disagree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace kgai::quickstart {

enum class Format { kTable, kCsv, kJson, kYaml };

// "table", "csv", "json" or "yaml"; the error names them.
Result<Format> parse_format(std::string_view name);

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

std::string render_table(const Table& table);
std::string render_csv(const Table& table);  // RFC 4180: quotes cells with , " or newlines
std::string render_yaml(const nlohmann::ordered_json& value);

// A cell as people read it: numbers without trailing zeros, lists joined by spaces, null as "-".
std::string cell_text(const nlohmann::ordered_json& value);

// One row per object of `items`, one column per key of the first object.
Table flat_table(const nlohmann::ordered_json& items);

}  // namespace kgai::quickstart
