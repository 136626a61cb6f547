#include "quickstart/listings.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "quickstart/use_cases.h"

namespace kgai::quickstart {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Catalog figures are stored in SI units; listings print them in the units the catalog files
// use, rounded to what the data sheets give (no spurious digits from unit conversion).
double rounded(double value, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

}  // namespace

nlohmann::ordered_json models_json(const catalog::Catalog& catalog) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& m : catalog.models()) {
    list.push_back({{"name", m.name},
                    {"aliases", m.aliases},
                    {"params_billion", rounded(m.num_params / 1e9, 2)},
                    {"active_params_billion", rounded(m.active_params / 1e9, 2)},
                    {"experts", m.num_experts},
                    {"layers", m.num_layers},
                    {"max_model_len", m.max_model_len},
                    {"weights_gib", rounded(m.weight_bytes() / kGiB, 1)},
                    {"kv_kib_per_token", rounded(m.kv_bytes_per_token() / 1024.0, 1)}});
  }
  return {{"models", list}};
}

nlohmann::ordered_json use_cases_json() {
  auto list = nlohmann::ordered_json::array();
  for (const auto& u : use_cases()) {
    list.push_back({{"name", u.name},
                    {"id", u.id},
                    {"input_tokens", u.input_tokens},
                    {"output_tokens", u.output_tokens}});
  }
  return {{"use_cases", list}};
}

nlohmann::ordered_json accelerators_json(const catalog::Catalog& catalog, const PriceBook& book) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& a : catalog.accelerators()) {
    auto prices = nlohmann::ordered_json::array();
    for (const Price* p : book.for_accelerator(a.name)) {
      nlohmann::ordered_json price = {
          {"cloud", p->cloud},
          {"pricing_model", p->pricing_model},
          {"usd_per_chip_hour", p->usd_per_chip_hour},
          {"as_of", p->as_of.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(p->as_of)},
          {"source", p->source}};
      if (!p->note.empty()) price["note"] = p->note;
      prices.push_back(std::move(price));
    }
    list.push_back({{"name", a.name},
                    {"aliases", a.aliases},
                    {"vendor", a.vendor},
                    {"memory_gib", rounded(a.memory_bytes / kGiB, 2)},
                    {"bandwidth_tb_s", rounded(a.memory_bandwidth / 1e12, 3)},
                    {"peak_tflops_bf16", rounded(a.peak_flops / 1e12, 1)},
                    {"interconnect_gb_s", rounded(a.interconnect_bandwidth / 1e9, 1)},
                    {"prices", prices}});
  }
  return {{"accelerators", list}};
}

Table accelerators_table(const nlohmann::ordered_json& accelerators) {
  Table table;
  table.columns = {"accelerator",    "vendor",           "memory_gib",
                   "bandwidth_tb_s", "peak_tflops_bf16", "cloud"};
  for (std::string_view model : kPricingModels) table.columns.push_back(std::string(model));
  table.columns.push_back("as_of");
  table.columns.push_back("source");
  for (const auto& a : accelerators) {
    std::vector<std::string> clouds;  // in the order first seen
    for (const auto& p : a["prices"]) {
      const auto cloud = p["cloud"].get<std::string>();
      if (std::find(clouds.begin(), clouds.end(), cloud) == clouds.end()) clouds.push_back(cloud);
    }
    if (clouds.empty()) clouds.push_back("");  // still one row: the accelerator exists
    for (const auto& cloud : clouds) {
      auto& row = table.rows.emplace_back();
      for (const char* key :
           {"name", "vendor", "memory_gib", "bandwidth_tb_s", "peak_tflops_bf16"}) {
        row.push_back(cell_text(a[key]));
      }
      row.push_back(cloud.empty() ? "-" : cloud);
      std::vector<std::string> dates, sources;  // distinct, in order
      auto add = [](std::vector<std::string>& to, const std::string& s) {
        if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
      };
      for (std::string_view model : kPricingModels) {
        std::string cell = "-";
        for (const auto& p : a["prices"]) {
          if (p["cloud"] != cloud || p["pricing_model"] != model) continue;
          cell = cell_text(p["usd_per_chip_hour"]);
          add(dates, cell_text(p["as_of"]));
          add(sources, p["source"].get<std::string>() +
                           (p.contains("note") ? " (" + p["note"].get<std::string>() + ")" : ""));
        }
        row.push_back(cell);
      }
      row.push_back(dates.empty() ? "-" : fmt::format("{}", fmt::join(dates, "; ")));
      row.push_back(sources.empty() ? "-" : fmt::format("{}", fmt::join(sources, "; ")));
    }
  }
  return table;
}

std::string render(const nlohmann::ordered_json& json, Format format, const Table* table) {
  switch (format) {
    case Format::kJson:
      return json.dump(2) + "\n";
    case Format::kYaml:
      return render_yaml(json);
    case Format::kTable:
    case Format::kCsv: {
      const Table flat = table ? *table : flat_table(json.begin().value());
      return format == Format::kTable ? render_table(flat) : render_csv(flat);
    }
  }
  return {};
}

}  // namespace kgai::quickstart
