#include "catalog/latency_model.h"

#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::catalog {
namespace {

using ::testing::AllOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;

const Catalog& catalog() {
  static const Catalog kCatalog = [] {
    auto loaded = Catalog::builtin();
    EXPECT_TRUE(loaded.has_value()) << loaded.error().message;
    return loaded.value_or(Catalog{});
  }();
  return kCatalog;
}

LatencyModel model_on(std::string_view model, std::string_view accelerator, int tp = 1) {
  auto created =
      LatencyModel::create(**catalog().model(model), **catalog().accelerator(accelerator), tp);
  EXPECT_TRUE(created.has_value()) << created.error().message;
  return *created;
}

StepShape decode_batch(int batch, int64_t context) {
  StepShape shape;
  for (int i = 0; i < batch; ++i) shape.add(1, context, /*prefill=*/false);
  return shape;
}

StepShape prefill(int64_t tokens, int64_t cached = 0) {
  StepShape shape;
  shape.add(tokens, cached, /*prefill=*/true);
  return shape;
}

double ms(double seconds) { return seconds * 1e3; }

// ---- Calibration: Llama-3.1-8B BF16 on one H100 against published figures. ----

TEST(LatencyCalibration, BatchOneDecodeAtShortContext) {
  LatencyModel h100 = model_on("llama-3.1-8b", "h100");
  EXPECT_THAT(ms(h100.step_seconds(decode_batch(1, 128))), AllOf(Ge(6.0), Le(8.0)));
}

TEST(LatencyCalibration, IdleTimeToFirstTokenFor300TokenPrompt) {
  LatencyModel h100 = model_on("llama-3.1-8b", "h100");
  // An idle API server: its fixed delay, its CPU for the request and its 300 prompt tokens,
  // the prefill step, then its CPU for the one output token (sim/frontend.h).
  const auto& e = h100.accelerator().efficiency;
  double ttft = h100.frontend_seconds() + e.frontend_cpu_s +
                300 * e.frontend_cpu_per_prompt_token_s + h100.step_seconds(prefill(300)) +
                e.frontend_cpu_per_output_token_s;
  // Published single requests: 20-40 ms; kept near the middle.
  EXPECT_THAT(ms(ttft), AllOf(Ge(25.0), Le(35.0)));
}

TEST(LatencyCalibration, Prefill1024Tokens) {
  LatencyModel h100 = model_on("llama-3.1-8b", "h100");
  StepShape shape = prefill(1024);
  EXPECT_THAT(ms(h100.step_seconds(shape)), AllOf(Ge(35.0), Le(41.0)));  // "about 38 ms"
  EXPECT_FALSE(h100.breakdown(shape).memory_bound());
}

TEST(LatencyCalibration, Batch256DecodeAt1kContextIsMemoryBound) {
  LatencyModel h100 = model_on("llama-3.1-8b", "h100");
  StepShape shape = decode_batch(256, 1024);
  EXPECT_THAT(ms(h100.step_seconds(shape)), AllOf(Ge(15.0), Le(19.0)));
  EXPECT_TRUE(h100.breakdown(shape).memory_bound());
}

TEST(LatencySanity, A100DecodesAbout1Point6TimesSlowerThanH100) {
  StepShape shape = decode_batch(1, 128);
  double ratio = model_on("llama-3.1-8b", "a100").step_seconds(shape) /
                 model_on("llama-3.1-8b", "h100").step_seconds(shape);
  EXPECT_THAT(ratio, AllOf(Ge(1.45), Le(1.8)));
}

TEST(LatencySanity, L4IsMuchSlower) {
  StepShape shape = decode_batch(1, 128);
  double l4 = model_on("llama-3.1-8b", "l4").step_seconds(shape);
  EXPECT_GT(l4, 5 * model_on("llama-3.1-8b", "h100").step_seconds(shape));
  EXPECT_GT(l4, model_on("llama-3.1-8b", "a10g").step_seconds(shape));
}

TEST(LatencySanity, Llama70BOnFourH100sDecodes15To25MsPerToken) {
  EXPECT_THAT(ms(model_on("llama-3.1-70b", "h100", 4).step_seconds(decode_batch(1, 128))),
              AllOf(Ge(15.0), Le(25.0)));
}

TEST(LatencySanity, H200BeatsH100InDecode) {
  StepShape shape = decode_batch(64, 2048);
  EXPECT_LT(model_on("llama-3.1-8b", "h200").step_seconds(shape),
            model_on("llama-3.1-8b", "h100").step_seconds(shape));
}

TEST(LatencySanity, FrontendComesFromTheCatalog) {
  EXPECT_DOUBLE_EQ(model_on("llama-3.1-8b", "h100").frontend_seconds(),
                   (**catalog().accelerator("h100")).efficiency.frontend_s);
}

// ---- Shape of the model. ----

TEST(LatencyModel, EmptyStepCostsNothing) {
  EXPECT_EQ(model_on("llama-3.1-8b", "h100").step_seconds(StepShape{}), 0.0);
}

TEST(LatencyModel, MoreTokensAreNeverFaster) {
  const std::pair<const char*, const char*> pairs[] = {
      {"llama-3.1-8b", "h100"},  {"mixtral-8x7b", "h200"},  {"gemma-2-9b", "l4"},
      {"qwen2.5-7b", "tpu-v6e"}, {"gemma-2-27b", "mi300x"},
  };
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> context(0, 8192);
  std::uniform_int_distribution<int> chunk(1, 2048);
  std::bernoulli_distribution is_prefill(0.3);
  for (const auto& [model, accelerator] : pairs) {
    LatencyModel latency = model_on(model, accelerator);
    for (int trial = 0; trial < 200; ++trial) {
      StepShape shape;
      double before = 0;
      for (int request = 0; request < 40; ++request) {
        bool prefill = is_prefill(rng);
        shape.add(prefill ? chunk(rng) : 1, context(rng), prefill);
        double after = latency.step_seconds(shape);
        ASSERT_GE(after, before) << model << " on " << accelerator << ", request " << request;
        before = after;
      }
    }
  }
}

TEST(LatencyModel, LongerContextIsNeverFaster) {
  for (const char* model : {"llama-3.1-8b", "gemma-2-9b", "mixtral-8x7b"}) {
    LatencyModel latency = model_on(model, "h200");
    double decode_before = 0;
    double prefill_before = 0;
    for (int64_t context = 0; context <= 32768; context += 512) {
      double decode = latency.step_seconds(decode_batch(32, context));
      double chunk = latency.step_seconds(prefill(512, context));
      EXPECT_GE(decode, decode_before) << model << " at " << context;
      EXPECT_GE(chunk, prefill_before) << model << " at " << context;
      decode_before = decode;
      prefill_before = chunk;
    }
  }
}

TEST(LatencyModel, PrefillGrowsWithChunkSize) {
  LatencyModel latency = model_on("llama-3.1-8b", "h100");
  double before = 0;
  for (int64_t tokens = 1; tokens <= 16384; tokens *= 2) {
    double now = latency.step_seconds(prefill(tokens));
    EXPECT_GT(now, before) << tokens;
    before = now;
  }
}

TEST(LatencyModel, TensorParallelismSpeedsUpLargeBatches) {
  LatencyModel tp1 = model_on("llama-3.1-8b", "h100", 1);
  LatencyModel tp2 = model_on("llama-3.1-8b", "h100", 2);
  LatencyModel tp4 = model_on("llama-3.1-8b", "h100", 4);
  for (const StepShape& shape : {decode_batch(256, 1024), prefill(8192)}) {
    EXPECT_LT(tp2.step_seconds(shape), tp1.step_seconds(shape));
    EXPECT_LT(tp4.step_seconds(shape), tp2.step_seconds(shape));
    EXPECT_GT(tp2.breakdown(shape).allreduce_s, 0.0);
    EXPECT_EQ(tp1.breakdown(shape).allreduce_s, 0.0);
  }
  StepShape big = decode_batch(256, 2048);
  EXPECT_LT(model_on("llama-3.1-70b", "h100", 8).step_seconds(big),
            model_on("llama-3.1-70b", "h100", 4).step_seconds(big));
}

TEST(LatencyModel, TensorParallelMustSplitTheHeads) {
  const ModelSpec& llama = **catalog().model("llama-3.1-8b");
  const AcceleratorSpec& h100 = **catalog().accelerator("h100");
  auto three = LatencyModel::create(llama, h100, 3);
  ASSERT_FALSE(three.has_value());
  EXPECT_THAT(three.error().message, HasSubstr("tensor parallel size 3 does not divide the 32"));
  EXPECT_FALSE(LatencyModel::create(llama, h100, 0).has_value());
  EXPECT_TRUE(LatencyModel::create(llama, h100, 16).has_value());  // 8 KV heads replicated
  EXPECT_EQ(LatencyModel(llama, h100, -2).tensor_parallel(), 1);
}

TEST(LatencyModel, MoeReadsMoreExpertsAsTheBatchGrows) {
  LatencyModel mixtral = model_on("mixtral-8x7b", "h200");
  double one = mixtral.breakdown(decode_batch(1, 128)).memory_s;
  double many = mixtral.breakdown(decode_batch(64, 128)).memory_s;
  // Batch 1 streams the shared weights and 2 of 8 experts (~13 GB); batch 64 nearly all 93 GB.
  const ModelSpec& spec = mixtral.model();
  const AcceleratorSpec& h200 = mixtral.accelerator();
  double bytes_per_s = h200.memory_bandwidth * h200.efficiency.memory;
  EXPECT_NEAR(one * bytes_per_s, spec.active_params * 2, 0.02 * spec.active_params * 2);
  EXPECT_NEAR(many * bytes_per_s, spec.weight_bytes(), 0.03 * spec.weight_bytes());
}

TEST(LatencyModel, SlidingWindowOnlyHelpsBeyondTheWindow) {
  ModelSpec gemma = **catalog().model("gemma-2-9b");
  ModelSpec global = gemma;
  global.sliding_window = 0;
  global.sliding_window_layer_fraction = 0;
  const AcceleratorSpec& h100 = **catalog().accelerator("h100");
  LatencyModel windowed(gemma, h100, 1);
  LatencyModel full(global, h100, 1);
  EXPECT_DOUBLE_EQ(windowed.step_seconds(decode_batch(64, 2000)),
                   full.step_seconds(decode_batch(64, 2000)));
  EXPECT_LT(windowed.step_seconds(decode_batch(64, 8000)),
            full.step_seconds(decode_batch(64, 8000)));
}

// ---- KV cache capacity. ----

TEST(KvCacheBlocks, Llama8BOnH100MatchesVllm) {
  // vLLM reports ~420k-470k tokens of KV cache at gpu_memory_utilization 0.9.
  int64_t blocks = model_on("llama-3.1-8b", "h100").kv_cache_blocks(0.9, 16);
  EXPECT_THAT(blocks, AllOf(Ge(26000), Le(29000)));
}

TEST(KvCacheBlocks, ZeroWhenTheWeightsDoNotFit) {
  EXPECT_EQ(model_on("llama-3.1-70b", "l4").kv_cache_blocks(0.9, 16), 0);
  EXPECT_EQ(model_on("llama-3.1-70b", "h100").kv_cache_blocks(0.9, 16), 0);
  EXPECT_EQ(model_on("mixtral-8x7b", "h100").kv_cache_blocks(0.9, 16), 0);
  EXPECT_EQ(model_on("llama-3.1-8b", "tpu-v5e").kv_cache_blocks(0.9, 16), 0);
}

TEST(KvCacheBlocks, SeveralPairs) {
  struct Case {
    const char* model;
    const char* accelerator;
    int tp;
    int64_t low, high;  // blocks of 16 at utilization 0.9
  };
  // Expected ranges: (memory * 0.9 - weights / tp - ~1-3.5 GiB reserve) / KV per block.
  const Case cases[] = {
      {"llama-3.1-70b", "h100", 4, 28000, 32000},  // ~470k tokens
      {"llama-3.1-70b", "h100", 8, 82000, 92000},  // 1/8 of the KV heads each
      {"llama-3.1-8b", "l4", 1, 1500, 2600},       // ~30k tokens
      {"mixtral-8x7b", "h200", 1, 17000, 20500},  {"gemma-2-27b", "h100", 1, 2500, 3500},
      {"qwen2.5-7b", "a10g", 1, 4500, 6500},
  };
  for (const Case& c : cases) {
    int64_t blocks = model_on(c.model, c.accelerator, c.tp).kv_cache_blocks(0.9, 16);
    EXPECT_THAT(blocks, AllOf(Ge(c.low), Le(c.high)))
        << c.model << " on " << c.tp << "x " << c.accelerator;
  }
}

TEST(KvCacheBlocks, ScaleWithUtilizationBlockSizeAndBudget) {
  LatencyModel h100 = model_on("llama-3.1-8b", "h100");
  EXPECT_LT(h100.kv_cache_blocks(0.8, 16), h100.kv_cache_blocks(0.9, 16));
  EXPECT_NEAR(h100.kv_cache_blocks(0.9, 32), h100.kv_cache_blocks(0.9, 16) / 2, 1);
  EXPECT_GT(h100.kv_cache_blocks(0.9, 16, 2048, 256), h100.kv_cache_blocks(0.9, 16, 8192, 1024));
  EXPECT_EQ(h100.kv_cache_blocks(0.0, 16), 0);
  EXPECT_EQ(h100.kv_cache_blocks(0.9, 0), 0);
  EXPECT_EQ(h100.kv_cache_blocks(0.9, 16), h100.kv_cache_blocks(0.9, 16, 8192, 1024));
}

}  // namespace
}  // namespace kgai::catalog
