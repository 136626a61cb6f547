// Accelerator prices for cost figures: dated, with their source, per cloud and pricing model.
//
// Two kinds of entries meet here. The dated list prices of data/quickstart/prices.yaml (clouds
// gcp, aws, azure) and `--prices FILE` overrides in the same format; and the catalog's own
// `price_per_hour` (data/catalog/accelerators.yaml or `--catalog FILE`), which is undated and
// indicative, listed under the cloud "catalog" so it is never mistaken for a list price.
// A missing price is an error, never a guess.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"

namespace kgai::quickstart {

// GIQ's pricing models, in its order.
inline constexpr std::string_view kPricingModels[] = {"on-demand", "spot", "1-year-cud",
                                                      "3-years-cud"};
inline constexpr std::string_view kDefaultCloud = "gcp";
// The cloud name of the catalog's undated prices.
inline constexpr std::string_view kCatalogCloud = "catalog";

// The name as kgai spells it; an unknown one is an error listing the known ones.
Result<std::string_view> check_pricing_model(std::string_view name);

struct Price {
  std::string accelerator;  // the catalog's full name
  std::string cloud;        // "gcp", "aws", "azure", "catalog", or a user's own
  std::string pricing_model;
  double usd_per_chip_hour = 0;
  std::string as_of;  // "2026-09" or "2026-09-15"; empty for the catalog's undated prices
  std::string source;
  std::string note;  // optional caveat, e.g. "GPU only; the host VM is extra"
  // The cloud's machine type carrying N chips, where known (GIQ's "instance type").
  std::map<int, std::string> instance_types;

  // The machine type for `count` chips; empty when none is on record.
  std::string instance_type(int count) const {
    auto it = instance_types.find(count);
    return it == instance_types.end() ? std::string() : it->second;
  }
};

class PriceBook {
 public:
  // The built-in dated table plus the catalog's prices. `catalog` resolves accelerator names
  // and aliases; the book keeps the full names only.
  static Result<PriceBook> builtin(const catalog::Catalog& catalog);

  // Adds the entries of a prices file; one with the same accelerator, cloud and pricing model
  // as an existing entry replaces it. Errors name the file and the key:
  // "my.yaml: prices[1].usd_per_chip_hour.spot: expected a non-negative number, got 'x' (line 5)".
  Result<void> load_file(const std::filesystem::path& path, const catalog::Catalog& catalog);
  Result<void> load_text(std::string_view yaml, std::string_view source_name,
                         const catalog::Catalog& catalog);

  // The price of one chip of `accelerator` (name or alias) under `pricing_model` on `cloud`.
  // Errors say what is missing and which prices exist for that accelerator.
  Result<const Price*> find(const catalog::Catalog& catalog, std::string_view accelerator,
                            std::string_view pricing_model,
                            std::string_view cloud = kDefaultCloud) const;

  // The entries of one accelerator (full name), in the order clouds were first seen.
  std::vector<const Price*> for_accelerator(std::string_view accelerator) const;
  const std::vector<Price>& prices() const { return prices_; }

 private:
  void put(Price price);
  std::vector<Price> prices_;
};

}  // namespace kgai::quickstart
