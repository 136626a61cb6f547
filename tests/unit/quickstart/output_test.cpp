#include "quickstart/output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "quickstart/listings.h"

namespace kgai::quickstart {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::ordered_json;

struct Fixture {
  catalog::Catalog catalog = *catalog::Catalog::builtin();
  PriceBook book = *PriceBook::builtin(catalog);
};

// Splits RFC 4180 CSV (quoted cells may hold commas, quotes and newlines) into rows.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quote";
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

TEST(Output, FormatNames) {
  EXPECT_EQ(*parse_format("csv"), Format::kCsv);
  auto bad = parse_format("xml");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("table, csv, json, yaml"));
}

TEST(Output, CsvQuotesWhatNeedsIt) {
  Table table{{"a", "b"}, {{"x,y", "say \"hi\""}, {"plain", "two\nlines"}}};
  const auto rows = parse_csv(render_csv(table));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x,y", "say \"hi\""}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"plain", "two\nlines"}));
}

TEST(Output, AcceleratorsJsonIsValidAndCarriesPricesWithDates) {
  Fixture f;
  const std::string text = render(accelerators_json(f.catalog, f.book), Format::kJson);
  const json parsed = json::parse(text);  // throws if not valid JSON
  const auto& list = parsed.at("accelerators");
  ASSERT_EQ(list.size(), f.catalog.accelerators().size());
  const auto& h100 = list.at(0);
  EXPECT_EQ(h100.at("name"), "nvidia-h100-80gb");
  EXPECT_DOUBLE_EQ(h100.at("memory_gib").get<double>(), 79.2);
  EXPECT_DOUBLE_EQ(h100.at("bandwidth_tb_s").get<double>(), 3.35);
  EXPECT_DOUBLE_EQ(h100.at("peak_tflops_bf16").get<double>(), 989);
  const auto& first = h100.at("prices").at(0);
  EXPECT_EQ(first.at("cloud"), "gcp");
  EXPECT_EQ(first.at("pricing_model"), "on-demand");
  EXPECT_DOUBLE_EQ(first.at("usd_per_chip_hour").get<double>(), 11.06);
  EXPECT_EQ(first.at("as_of"), "2026-09");
  EXPECT_FALSE(first.at("source").get<std::string>().empty());
}

TEST(Output, AcceleratorsCsvHasAColumnPerPricingModel) {
  Fixture f;
  const auto json_value = accelerators_json(f.catalog, f.book);
  const auto table = accelerators_table(json_value["accelerators"]);
  const auto rows = parse_csv(render(json_value, Format::kCsv, &table));
  ASSERT_GT(rows.size(), 1u);
  const auto& header = rows[0];
  EXPECT_EQ(header,
            (std::vector<std::string>{"accelerator", "vendor", "memory_gib", "bandwidth_tb_s",
                                      "peak_tflops_bf16", "cloud", "on-demand", "spot",
                                      "1-year-cud", "3-years-cud", "as_of", "source"}));
  for (const auto& row : rows) EXPECT_EQ(row.size(), header.size());
  // The first row: H100 on GCP, no spot price given (a "-", not a number).
  EXPECT_EQ(rows[1][0], "nvidia-h100-80gb");
  EXPECT_EQ(rows[1][5], "gcp");
  EXPECT_EQ(rows[1][6], "11.06");
  EXPECT_EQ(rows[1][7], "-");
  EXPECT_EQ(rows[1][9], "4.86");
  EXPECT_EQ(rows[1][10], "2026-09");
}

TEST(Output, UseCasesInEveryFormat) {
  const auto value = use_cases_json();
  EXPECT_EQ(json::parse(render(value, Format::kJson)), value);
  const YAML::Node yaml = YAML::Load(render(value, Format::kYaml));
  ASSERT_EQ(yaml["use_cases"].size(), 7u);
  EXPECT_EQ(yaml["use_cases"][0]["name"].as<std::string>(), "Chatbot (ShareGPT)");
  EXPECT_EQ(yaml["use_cases"][5]["input_tokens"].as<int>(), 8912);
  const auto rows = parse_csv(render(value, Format::kCsv));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"name", "id", "input_tokens", "output_tokens"}));
  EXPECT_EQ(rows[4],
            (std::vector<std::string>{"Text Generation", "text-generation", "512", "2048"}));
  const std::string table = render(value, Format::kTable);
  EXPECT_THAT(table, HasSubstr("Deep Research"));
  EXPECT_THAT(table, HasSubstr("4096"));
}

TEST(Output, ModelsListTheCatalog) {
  Fixture f;
  const auto value = models_json(f.catalog);
  ASSERT_EQ(value["models"].size(), f.catalog.models().size());
  EXPECT_EQ(value["models"][0]["name"], f.catalog.models()[0].name);
  const auto rows = parse_csv(render(value, Format::kCsv));
  EXPECT_EQ(rows.size(), f.catalog.models().size() + 1);
}

}  // namespace
}  // namespace kgai::quickstart
