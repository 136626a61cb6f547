#include "quickstart/prices.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/config_reader.h"
#include "common/did_you_mean.h"
#include "common/yaml_text.h"
#include "quickstart/builtin_prices.h"

namespace kgai::quickstart {
namespace {

constexpr std::string_view kEntryKeys[] = {
    "accelerator", "cloud", "as_of", "source", "note", "usd_per_chip_hour", "instance_types"};

// "<source>: <path>: <message> (line L, column C)".
template <typename... Args>
std::unexpected<Error> error_at(std::string_view source, const YAML::Node& node,
                                std::string_view path, fmt::format_string<Args...> format,
                                Args&&... args) {
  std::string position = node.IsDefined() ? config::position(node.Mark()) : "";
  return fail("{}: {}: {}{}", source, path, fmt::format(format, std::forward<Args>(args)...),
              position);
}

// Checks that `node` is a map of string keys from `known`, each once.
Result<void> check_keys(std::string_view source, const YAML::Node& node, std::string_view path,
                        std::span<const std::string_view> known) {
  if (!node.IsMap()) {
    return error_at(source, node, path, "expected a map, got {}", yaml_text::describe(node));
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) {
      return error_at(source, item.first, path, "expected string keys, got {}",
                      yaml_text::describe(item.first));
    }
    const std::string key = item.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return error_at(source, item.first, path, "unknown key '{}'{}; known: {}", key,
                      did_you_mean(key, known, 3), fmt::join(known, ", "));
    }
    if (!seen.insert(key).second) {
      return error_at(source, item.first, path, "duplicate key '{}'", key);
    }
  }
  return {};
}

Result<std::string> read_string(std::string_view source, const YAML::Node& map,
                                std::string_view key, const std::string& path, bool required) {
  const YAML::Node node = map[std::string(key)];
  const std::string key_path = fmt::format("{}.{}", path, key);
  if (!node.IsDefined() || node.IsNull()) {
    if (required) return error_at(source, map, key_path, "missing (required)");
    return std::string();
  }
  if (!node.IsScalar() || node.Scalar().empty()) {
    return error_at(source, node, key_path, "expected a non-empty string, got {}",
                    yaml_text::describe(node));
  }
  return node.Scalar();
}

// YYYY-MM or YYYY-MM-DD: a price without a readable date cannot be judged stale.
bool is_date(std::string_view s) {
  auto digits = [&](size_t at, size_t n) {
    return std::all_of(s.begin() + at, s.begin() + at + n,
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (s.size() != 7 && s.size() != 10) return false;
  if (!digits(0, 4) || s[4] != '-' || !digits(5, 2)) return false;
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  if (month < 1 || month > 12) return false;
  if (s.size() == 7) return true;
  const int day = (s[8] - '0') * 10 + (s[9] - '0');
  return s[7] == '-' && digits(8, 2) && day >= 1 && day <= 31;
}

Result<double> read_price(std::string_view source, const YAML::Node& node,
                          const std::string& path) {
  double value = -1;
  bool ok = node.IsScalar();
  if (ok) {
    try {
      value = node.as<double>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  if (!ok || !std::isfinite(value) || value < 0) {
    return error_at(source, node, path, "expected a non-negative number, got {}",
                    yaml_text::describe(node));
  }
  return value;
}

}  // namespace

Result<std::string_view> check_pricing_model(std::string_view name) {
  for (std::string_view known : kPricingModels) {
    if (name == known) return known;
  }
  return fail("unknown pricing model '{}'{}; known: {}", name,
              did_you_mean(name, kPricingModels, 3), fmt::join(kPricingModels, ", "));
}

Result<PriceBook> PriceBook::builtin(const catalog::Catalog& catalog) {
  PriceBook book;
  for (const auto& file : internal::builtin_files()) {
    if (auto loaded = book.load_text(file.text, file.name, catalog); !loaded) {
      return fail(loaded.error());
    }
  }
  // After the dated table, so its clouds come first in listings. Pricing-model names outside
  // GIQ's four (the catalog allows any) are left out: quickstart could never ask for them.
  for (const auto& accelerator : catalog.accelerators()) {
    for (const auto& [model, usd] : accelerator.price_per_hour) {
      if (!check_pricing_model(model)) continue;
      book.put(Price{accelerator.name, std::string(kCatalogCloud), model, usd, "",
                     "kgai catalog price_per_hour (indicative, undated)", ""});
    }
  }
  return book;
}

Result<void> PriceBook::load_file(const std::filesystem::path& path,
                                  const catalog::Catalog& catalog) {
  auto text = config::read_config_file(path.string());
  if (!text) return fail(text.error());
  return load_text(*text, path.string(), catalog);
}

Result<void> PriceBook::load_text(std::string_view yaml, std::string_view source,
                                  const catalog::Catalog& catalog) {
  auto root = config::parse_yaml(yaml, source);
  if (!root) return fail(root.error());
  if (!root->IsMap()) {
    return fail("{}: expected a map with the key 'prices', got {}", source,
                yaml_text::describe(*root));
  }
  constexpr std::string_view kRootKeys[] = {"prices"};
  if (auto keys = check_keys(source, *root, "(top level)", kRootKeys); !keys) return keys;
  const YAML::Node list = (*root)["prices"];
  if (!list.IsSequence()) {
    return error_at(source, list, "prices", "expected a list of entries, got {}",
                    yaml_text::describe(list));
  }
  // Parse the whole file before changing the book: a bad file changes nothing.
  std::vector<Price> parsed;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    const std::string path = fmt::format("prices[{}]", i);
    if (auto keys = check_keys(source, entry, path, kEntryKeys); !keys) return fail(keys.error());
    auto accelerator = read_string(source, entry, "accelerator", path, true);
    if (!accelerator) return fail(accelerator.error());
    auto spec = catalog.accelerator(*accelerator);
    if (!spec) {
      return error_at(source, entry["accelerator"], path + ".accelerator", "{}",
                      spec.error().message);
    }
    auto cloud = read_string(source, entry, "cloud", path, true);
    if (!cloud) return fail(cloud.error());
    auto as_of = read_string(source, entry, "as_of", path, true);
    if (!as_of) return fail(as_of.error());
    if (!is_date(*as_of)) {
      return error_at(source, entry["as_of"], path + ".as_of",
                      "expected a date YYYY-MM or YYYY-MM-DD, got '{}'", *as_of);
    }
    auto from = read_string(source, entry, "source", path, true);
    if (!from) return fail(from.error());
    auto note = read_string(source, entry, "note", path, false);
    if (!note) return fail(note.error());

    // Optional: the machine type that carries N chips ({1: a3-highgpu-1g, ...}).
    std::map<int, std::string> instances;
    const YAML::Node types = entry["instance_types"];
    const std::string types_path = path + ".instance_types";
    if (types.IsDefined() && !types.IsNull()) {
      if (!types.IsMap()) {
        return error_at(source, types, types_path,
                        "expected a map of chip count to machine type, got {}",
                        yaml_text::describe(types));
      }
      for (const auto& item : types) {
        int count = 0;
        const std::string key = item.first.IsScalar() ? item.first.Scalar() : std::string();
        const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), count);
        if (ec != std::errc() || end != key.data() + key.size() || count < 1 || count > 64) {
          return error_at(source, item.first, types_path,
                          "expected chip counts 1 to 64 as keys, got '{}'", key);
        }
        if (!item.second.IsScalar() || item.second.Scalar().empty() ||
            item.second.Scalar().size() > 100) {
          return error_at(source, item.second, fmt::format("{}.{}", types_path, count),
                          "expected a machine type name, got {}", yaml_text::describe(item.second));
        }
        instances[count] = item.second.Scalar();
      }
    }

    const YAML::Node usd = entry["usd_per_chip_hour"];
    const std::string usd_path = path + ".usd_per_chip_hour";
    if (!usd.IsDefined() || usd.IsNull()) {
      return error_at(source, entry, usd_path, "missing (required)");
    }
    if (auto keys = check_keys(source, usd, usd_path, kPricingModels); !keys) {
      return fail(keys.error());
    }
    if (usd.size() == 0) return error_at(source, usd, usd_path, "no prices given");
    for (const auto& item : usd) {
      const std::string model = item.first.Scalar();
      auto value = read_price(source, item.second, usd_path + "." + model);
      if (!value) return fail(value.error());
      parsed.push_back(
          Price{(*spec)->name, *cloud, model, *value, *as_of, *from, *note, instances});
    }
  }
  for (auto& price : parsed) put(std::move(price));
  return {};
}

void PriceBook::put(Price price) {
  for (auto& existing : prices_) {
    if (existing.accelerator == price.accelerator && existing.cloud == price.cloud &&
        existing.pricing_model == price.pricing_model) {
      existing = std::move(price);
      return;
    }
  }
  prices_.push_back(std::move(price));
}

std::vector<const Price*> PriceBook::for_accelerator(std::string_view accelerator) const {
  std::vector<const Price*> out;
  for (const auto& price : prices_) {
    if (price.accelerator == accelerator) out.push_back(&price);
  }
  return out;
}

Result<const Price*> PriceBook::find(const catalog::Catalog& catalog, std::string_view accelerator,
                                     std::string_view pricing_model, std::string_view cloud) const {
  auto model = check_pricing_model(pricing_model);
  if (!model) return fail(model.error());
  auto spec = catalog.accelerator(accelerator);
  if (!spec) return fail(spec.error());
  const auto known = for_accelerator((*spec)->name);
  for (const Price* price : known) {
    if (price->cloud == cloud && price->pricing_model == *model) return price;
  }
  std::vector<std::string> have;
  for (const Price* price : known) have.push_back(price->cloud + " " + price->pricing_model);
  return fail("no {} price for {} on {} (prices known for it: {}); give one with --prices FILE",
              *model, (*spec)->name, cloud,
              have.empty() ? "none" : fmt::format("{}", fmt::join(have, ", ")));
}

}  // namespace kgai::quickstart
