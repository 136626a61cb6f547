// What `kgai quickstart models|accelerators|use-cases list` print, as JSON values
// ({"models": [...]}, ...) and as tables. Kept out of the CLI so tests can check them.
#pragma once

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "quickstart/output.h"
#include "quickstart/prices.h"

namespace kgai::quickstart {

nlohmann::ordered_json models_json(const catalog::Catalog& catalog);
nlohmann::ordered_json use_cases_json();
// Each accelerator with its prices: [{cloud, pricing_model, usd_per_chip_hour, as_of, source,
// note}], every entry the book has.
nlohmann::ordered_json accelerators_json(const catalog::Catalog& catalog, const PriceBook& prices);

// One row per accelerator and cloud, a column per pricing model ("-" where there is no price),
// then the date and source of that cloud's prices.
Table accelerators_table(const nlohmann::ordered_json& accelerators);

// The listing in `format`: JSON and YAML print `json` whole; table and CSV print its one list
// (via `table` when given, else flat_table).
std::string render(const nlohmann::ordered_json& json, Format format, const Table* table = nullptr);

}  // namespace kgai::quickstart
