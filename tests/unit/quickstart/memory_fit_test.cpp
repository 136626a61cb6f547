#include "quickstart/memory_fit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::quickstart {
namespace {

using ::testing::HasSubstr;

struct Lookup {
  Lookup() : catalog(*catalog::Catalog::builtin()) {}
  const catalog::ModelSpec& model(std::string_view name) { return **catalog.model(name); }
  const catalog::AcceleratorSpec& accelerator(std::string_view name) {
    return **catalog.accelerator(name);
  }
  catalog::Catalog catalog;
};

TEST(MemoryFit, ASmallModelFitsOneChipWithRoomForManyRequests) {
  Lookup c;
  auto fits = fit_memory(c.catalog, c.model("llama-3.1-8b"), c.accelerator("h100"),
                         {.input_tokens = 128, .output_tokens = 128, .tensor_parallel = {1}});
  ASSERT_EQ(fits.size(), 1u);
  ASSERT_TRUE(fits[0].fits) << fits[0].why;
  EXPECT_GT(fits[0].kv_tokens, 100'000);
  EXPECT_EQ(fits[0].concurrent_requests, fits[0].kv_tokens / 256);
  EXPECT_GT(fits[0].max_num_seqs, 0);
}

TEST(MemoryFit, A70BModelNeedsMoreThanOneH100) {
  Lookup c;
  auto fits = fit_memory(c.catalog, c.model("llama-3.1-70b"), c.accelerator("h100"),
                         {.input_tokens = 1024, .output_tokens = 128});
  ASSERT_EQ(fits.size(), 4u);
  EXPECT_FALSE(fits[0].fits);
  EXPECT_THAT(fits[0].why, HasSubstr("does not fit"));
  // More chips: more KV room per request, never less.
  int64_t previous = 0;
  for (size_t i = 1; i < fits.size(); ++i) {
    if (!fits[i].fits) continue;
    EXPECT_GE(fits[i].kv_tokens, previous) << "tp " << fits[i].tensor_parallel;
    previous = fits[i].kv_tokens;
  }
  EXPECT_TRUE(fits[2].fits) << fits[2].why;  // TP 4
}

// At the boundary: a request exactly as long as the KV cache fits (one at a time); one token
// more does not, and the answer says why.
TEST(MemoryFit, TheLongestRequestMustFitTheKvCache) {
  Lookup c;
  const auto& model = c.model("llama-3.1-70b");
  const auto& h100 = c.accelerator("h100");
  auto probe = fit_memory(c.catalog, model, h100,
                          {.input_tokens = 1, .output_tokens = 1, .tensor_parallel = {2}});
  ASSERT_TRUE(probe[0].fits) << probe[0].why;
  const int64_t capacity = probe[0].kv_tokens;
  ASSERT_LT(capacity, model.max_model_len) << "the boundary needs a KV cache below the context";
  auto exact = fit_memory(
      c.catalog, model, h100,
      {.input_tokens = static_cast<int>(capacity - 1), .output_tokens = 1, .tensor_parallel = {2}});
  ASSERT_TRUE(exact[0].fits) << exact[0].why;
  EXPECT_EQ(exact[0].concurrent_requests, 1);
  auto over = fit_memory(
      c.catalog, model, h100,
      {.input_tokens = static_cast<int>(capacity), .output_tokens = 1, .tensor_parallel = {2}});
  EXPECT_FALSE(over[0].fits);
  EXPECT_THAT(over[0].why, HasSubstr("KV cache"));
}

TEST(MemoryFit, BadShapesSayWhy) {
  Lookup c;
  const auto& model = c.model("llama-3.1-8b");
  auto too_long = fit_memory(c.catalog, model, c.accelerator("h100"),
                             {.input_tokens = model.max_model_len, .output_tokens = 1});
  EXPECT_FALSE(too_long[0].fits);
  EXPECT_THAT(too_long[0].why, HasSubstr("context window"));
  auto odd_tp = fit_memory(c.catalog, model, c.accelerator("h100"),
                           {.input_tokens = 10, .output_tokens = 10, .tensor_parallel = {3}});
  EXPECT_FALSE(odd_tp[0].fits);
  EXPECT_THAT(odd_tp[0].why, HasSubstr("does not divide"));
  auto no_output =
      fit_memory(c.catalog, model, c.accelerator("h100"), {.input_tokens = 10, .output_tokens = 0});
  EXPECT_FALSE(no_output[0].fits);
}

}  // namespace
}  // namespace kgai::quickstart
