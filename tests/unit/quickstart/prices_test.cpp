#include "quickstart/prices.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::quickstart {
namespace {

using ::testing::HasSubstr;

class PricesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto builtin = catalog::Catalog::builtin();
    ASSERT_TRUE(builtin) << builtin.error().message;
    catalog_ = *builtin;
    auto book = PriceBook::builtin(catalog_);
    ASSERT_TRUE(book) << book.error().message;
    book_ = *book;
  }
  // The error of loading `yaml` as "my.yaml", "" when it loads.
  std::string load_error(const std::string& yaml) {
    auto loaded = book_.load_text(yaml, "my.yaml", catalog_);
    return loaded ? "" : loaded.error().message;
  }
  catalog::Catalog catalog_;
  PriceBook book_;
};

TEST_F(PricesTest, BuiltinGcpPricesAreDatedAndSourced) {
  auto price = book_.find(catalog_, "h100", "on-demand");
  ASSERT_TRUE(price) << price.error().message;
  EXPECT_EQ((*price)->accelerator, "nvidia-h100-80gb");
  EXPECT_DOUBLE_EQ((*price)->usd_per_chip_hour, 11.06);
  EXPECT_EQ((*price)->as_of, "2026-09");
  EXPECT_THAT((*price)->source, HasSubstr("a3-highgpu-8g"));
  auto cud = book_.find(catalog_, "H100", "3-years-cud", "gcp");
  ASSERT_TRUE(cud);
  EXPECT_DOUBLE_EQ((*cud)->usd_per_chip_hour, 4.86);
  auto aws = book_.find(catalog_, "a100", "on-demand", "aws");
  ASSERT_TRUE(aws);
  EXPECT_DOUBLE_EQ((*aws)->usd_per_chip_hour, 3.43);
}

TEST_F(PricesTest, CatalogPricesAreListedUndatedUnderTheirOwnCloud) {
  auto price = book_.find(catalog_, "h100", "spot", "catalog");
  ASSERT_TRUE(price) << price.error().message;
  EXPECT_DOUBLE_EQ((*price)->usd_per_chip_hour, 1.6);
  EXPECT_TRUE((*price)->as_of.empty());
  EXPECT_THAT((*price)->source, HasSubstr("undated"));
}

TEST_F(PricesTest, MissingPriceSaysSoAndWhatExists) {
  // GIQ's default pricing model has no built-in GCP figure: say so, never guess.
  auto spot = book_.find(catalog_, "h100", "spot", "gcp");
  ASSERT_FALSE(spot);
  EXPECT_THAT(spot.error().message, HasSubstr("no spot price for nvidia-h100-80gb on gcp"));
  EXPECT_THAT(spot.error().message, HasSubstr("gcp on-demand"));
  EXPECT_THAT(spot.error().message, HasSubstr("--prices"));
  auto mi300x = book_.find(catalog_, "mi300x", "on-demand", "aws");
  ASSERT_FALSE(mi300x);
  EXPECT_THAT(mi300x.error().message, HasSubstr("catalog on-demand"));
}

TEST_F(PricesTest, UnknownPricingModelNamesTheKnownOnes) {
  auto price = book_.find(catalog_, "h100", "reserved");
  ASSERT_FALSE(price);
  EXPECT_THAT(price.error().message,
              HasSubstr("unknown pricing model 'reserved'; known: on-demand, spot, 1-year-cud, "
                        "3-years-cud"));
  auto typo = check_pricing_model("1-year-cut");
  ASSERT_FALSE(typo);
  EXPECT_THAT(typo.error().message, HasSubstr("did you mean '1-year-cud'"));
}

TEST_F(PricesTest, UnknownAcceleratorListsTheCatalog) {
  auto price = book_.find(catalog_, "b300", "on-demand");
  ASSERT_FALSE(price);
  EXPECT_THAT(price.error().message, HasSubstr("nvidia-h100-80gb"));
}

TEST_F(PricesTest, OverrideReplacesOneEntryAndAddsClouds) {
  ASSERT_EQ(load_error("prices:\n"
                       "  - accelerator: h100\n"
                       "    cloud: gcp\n"
                       "    as_of: 2026-11-02\n"
                       "    source: my quote\n"
                       "    usd_per_chip_hour: {spot: 2.25}\n"
                       "  - accelerator: h100\n"
                       "    cloud: neocloud\n"
                       "    as_of: 2026-11\n"
                       "    source: their page\n"
                       "    usd_per_chip_hour: {on-demand: 2.5}\n"),
            "");
  auto spot = book_.find(catalog_, "h100", "spot", "gcp");
  ASSERT_TRUE(spot) << spot.error().message;
  EXPECT_DOUBLE_EQ((*spot)->usd_per_chip_hour, 2.25);
  EXPECT_EQ((*spot)->source, "my quote");
  // The other GCP prices stay.
  EXPECT_DOUBLE_EQ((**book_.find(catalog_, "h100", "on-demand", "gcp")).usd_per_chip_hour, 11.06);
  EXPECT_DOUBLE_EQ((**book_.find(catalog_, "h100", "on-demand", "neocloud")).usd_per_chip_hour,
                   2.5);
}

struct BadFile {
  const char* name;
  const char* yaml;
  const char* error;
};

class BadPricesFile : public PricesTest, public ::testing::WithParamInterface<BadFile> {};

TEST_P(BadPricesFile, IsAClearError) {
  const std::string before = std::to_string(book_.prices().size());
  EXPECT_THAT(load_error(GetParam().yaml), HasSubstr(GetParam().error));
  // A bad file changes nothing.
  EXPECT_EQ(std::to_string(book_.prices().size()), before);
}

INSTANTIATE_TEST_SUITE_P(
    All, BadPricesFile,
    ::testing::Values(
        BadFile{"malformed", "prices: [\n  {accelerator: h100,\n", "my.yaml: invalid YAML"},
        BadFile{"truncated", "prices:\n  - accelerator: h100\n    cloud: gcp\n",
                "my.yaml: prices[0].as_of: missing (required)"},
        BadFile{"not_a_map", "- 1\n", "my.yaml: expected a map with the key 'prices'"},
        BadFile{"unknown_top_key", "price: []\n",
                "my.yaml: (top level): unknown key 'price'; did you mean 'prices'?"},
        BadFile{"prices_not_list", "prices: {a: 1}\n", "my.yaml: prices: expected a list"},
        BadFile{"unknown_entry_key", "prices:\n  - accelerator: h100\n    clod: gcp\n",
                "my.yaml: prices[0]: unknown key 'clod'; did you mean 'cloud'?"},
        BadFile{"unknown_pricing_model",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {reserved: 1}\n",
                "my.yaml: prices[0].usd_per_chip_hour: unknown key 'reserved'"},
        BadFile{"price_not_number",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {spot: cheap}\n",
                "my.yaml: prices[0].usd_per_chip_hour.spot: expected a non-negative number, "
                "got 'cheap' (line 6"},
        BadFile{"negative_price",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {spot: -2}\n",
                "prices[0].usd_per_chip_hour.spot: expected a non-negative number, got '-2'"},
        BadFile{"price_is_list",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: [1, 2]\n",
                "prices[0].usd_per_chip_hour: expected a map, got a list"},
        BadFile{"no_prices",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {}\n",
                "prices[0].usd_per_chip_hour: no prices given"},
        BadFile{"bad_date",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: September\n"
                "    source: s\n    usd_per_chip_hour: {spot: 1}\n",
                "prices[0].as_of: expected a date YYYY-MM or YYYY-MM-DD, got 'September'"},
        BadFile{"cloud_is_list", "prices:\n  - accelerator: h100\n    cloud: [gcp]\n",
                "prices[0].cloud: expected a non-empty string, got a list"},
        BadFile{"unknown_accelerator", "prices:\n  - accelerator: b300\n    cloud: gcp\n",
                "my.yaml: prices[0].accelerator: unknown accelerator 'b300'"},
        BadFile{
            "instance_types_not_map",
            "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
            "    source: s\n    usd_per_chip_hour: {spot: 1}\n    instance_types: [a, b]\n",
            "prices[0].instance_types: expected a map of chip count to machine type, got a list"},
        BadFile{"instance_types_bad_count",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {spot: 1}\n    instance_types: {0x8: m}\n",
                "prices[0].instance_types: expected chip counts 1 to 64 as keys, got '0x8'"},
        BadFile{"instance_types_empty_name",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {spot: 1}\n    instance_types: {8: [x]}\n",
                "prices[0].instance_types.8: expected a machine type name, got a list"},
        BadFile{"second_entry_bad_after_good_first",
                "prices:\n  - accelerator: h100\n    cloud: gcp\n    as_of: 2026-09\n"
                "    source: s\n    usd_per_chip_hour: {spot: 1}\n  - 7\n",
                "my.yaml: prices[1]: expected a map, got '7'"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(PricesTest, MissingFileNamesIt) {
  auto loaded = book_.load_file("/nonexistent/prices.yaml", catalog_);
  ASSERT_FALSE(loaded);
  EXPECT_THAT(loaded.error().message, HasSubstr("/nonexistent/prices.yaml"));
}

TEST(PriceBookInstances, MachineTypesPerChipCount) {
  auto catalog = catalog::Catalog::builtin();
  ASSERT_TRUE(catalog);
  auto book = PriceBook::builtin(*catalog);
  ASSERT_TRUE(book);
  auto h100 = book->find(*catalog, "h100", "on-demand", "gcp");
  ASSERT_TRUE(h100) << h100.error().message;
  EXPECT_EQ((*h100)->instance_type(1), "a3-highgpu-1g");
  EXPECT_EQ((*h100)->instance_type(8), "a3-highgpu-8g");
  EXPECT_EQ((*h100)->instance_type(3), "");  // no such machine
  ASSERT_TRUE(
      book->load_text("prices:\n  - accelerator: l4\n    cloud: neo\n    as_of: 2026-10\n"
                      "    source: s\n    usd_per_chip_hour: {on-demand: 0.5}\n"
                      "    instance_types: {1: \"neo.l4:1\"}\n",
                      "mine.yaml", *catalog));
  auto mine = book->find(*catalog, "l4", "on-demand", "neo");
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_EQ((*mine)->instance_type(1), "neo.l4:1");
}

}  // namespace
}  // namespace kgai::quickstart
