#include "catalog/catalog.h"

#include <unistd.h>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::catalog {
namespace {

using ::testing::HasSubstr;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

Catalog builtin() {
  auto catalog = Catalog::builtin();
  EXPECT_TRUE(catalog.has_value()) << catalog.error().message;
  return catalog.value_or(Catalog{});
}

// A file under the test's temp directory, removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("kgai_catalog_test_" + std::to_string(::getpid()) + "_" + name)) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(CatalogBuiltin, LoadsEveryModelAndAccelerator) {
  Catalog catalog = builtin();
  EXPECT_EQ(catalog.models().size(), 7u);
  EXPECT_EQ(catalog.accelerators().size(), 8u);
  for (const auto& a : catalog.accelerators()) {
    EXPECT_GT(a.price_per_hour.count("on-demand"), 0u) << a.name;
    EXPECT_GT(a.efficiency.frontend_s, 0.0) << a.name;
    EXPECT_GT(a.interconnect_bandwidth, 0.0) << a.name;
  }
}

TEST(CatalogBuiltin, ModelNumbersMatchTheirConfigs) {
  Catalog catalog = builtin();
  const ModelSpec& llama = **catalog.model("llama-3.1-8b");
  EXPECT_EQ(llama.num_layers, 32);
  EXPECT_EQ(llama.hidden_size, 4096);
  EXPECT_EQ(llama.num_heads, 32);
  EXPECT_EQ(llama.num_kv_heads, 8);
  EXPECT_EQ(llama.intermediate_size, 14336);
  EXPECT_EQ(llama.vocab_size, 128256);
  EXPECT_EQ(llama.max_model_len, 131072);
  EXPECT_DOUBLE_EQ(llama.num_params, 8.03e9);
  EXPECT_DOUBLE_EQ(llama.active_params, llama.num_params);  // dense: defaults to all
  EXPECT_EQ(llama.bytes_per_param, 2);

  const ModelSpec& mixtral = **catalog.model("mixtral-8x7b");
  EXPECT_DOUBLE_EQ(mixtral.num_params, 46.7e9);
  EXPECT_DOUBLE_EQ(mixtral.active_params, 12.9e9);
  EXPECT_EQ(mixtral.num_experts, 8);
  EXPECT_EQ(mixtral.experts_per_token, 2);

  const ModelSpec& gemma = **catalog.model("gemma-2-9b");
  EXPECT_EQ(gemma.sliding_window, 4096);
  EXPECT_DOUBLE_EQ(gemma.sliding_window_layer_fraction, 0.5);
  EXPECT_EQ(gemma.max_model_len, 8192);
  EXPECT_EQ((**catalog.model("qwen2.5-7b")).max_model_len, 32768);
  EXPECT_EQ((**catalog.model("mistral-7b")).max_model_len, 32768);
  EXPECT_EQ(mixtral.max_model_len, 32768);
}

TEST(CatalogBuiltin, KvBytesPerTokenMatchPublishedFigures) {
  Catalog catalog = builtin();
  const std::pair<const char*, double> expected[] = {
      {"llama-3.1-8b", 128}, {"llama-3.1-70b", 320}, {"qwen2.5-7b", 56},   {"mistral-7b", 128},
      {"mixtral-8x7b", 128}, {"gemma-2-9b", 336},    {"gemma-2-27b", 368},
  };
  for (const auto& [name, kib] : expected) {
    EXPECT_DOUBLE_EQ((**catalog.model(name)).kv_bytes_per_token(), kib * 1024) << name;
  }
}

TEST(CatalogBuiltin, AcceleratorNumbers) {
  Catalog catalog = builtin();
  const AcceleratorSpec& h100 = **catalog.accelerator("h100");
  EXPECT_DOUBLE_EQ(h100.peak_flops, 989e12);
  EXPECT_DOUBLE_EQ(h100.memory_bandwidth, 3.35e12);
  EXPECT_DOUBLE_EQ(h100.memory_bytes, 79.2 * kGiB);
  EXPECT_DOUBLE_EQ(h100.interconnect_bandwidth, 450e9);
  EXPECT_EQ(h100.default_max_num_batched_tokens, 8192);
  EXPECT_EQ(h100.default_max_num_seqs, 1024);
  EXPECT_DOUBLE_EQ(h100.efficiency.step_fixed_s, 130e-6);

  const std::tuple<const char*, int, int> budgets[] = {
      {"h200", 8192, 1024}, {"a100", 8192, 1024},   {"mi300x", 8192, 1024}, {"l4", 2048, 256},
      {"a10g", 2048, 256},  {"tpu-v6e", 1024, 256}, {"tpu-v5e", 512, 256},
  };
  for (const auto& [name, tokens, seqs] : budgets) {
    const AcceleratorSpec& a = **catalog.accelerator(name);
    EXPECT_EQ(a.default_max_num_batched_tokens, tokens) << name;
    EXPECT_EQ(a.default_max_num_seqs, seqs) << name;
  }
}

TEST(CatalogLookup, AliasesResolveToFullNames) {
  Catalog catalog = builtin();
  const std::pair<const char*, const char*> models[] = {
      {"llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct"},
      {"llama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct"},
      {"qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct"},
      {"mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3"},
      {"mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1"},
      {"gemma-2-9b", "google/gemma-2-9b-it"},
      {"gemma-2-27b", "google/gemma-2-27b-it"},
  };
  for (const auto& [alias, name] : models) {
    auto model = catalog.model(alias);
    ASSERT_TRUE(model.has_value()) << model.error().message;
    EXPECT_EQ((*model)->name, name);
  }
  const std::pair<const char*, const char*> accelerators[] = {
      {"h100", "nvidia-h100-80gb"}, {"h200", "nvidia-h200-141gb"}, {"a100", "nvidia-a100-80gb"},
      {"l4", "nvidia-l4"},          {"a10g", "nvidia-a10g"},       {"mi300x", "amd-mi300x"},
      {"tpu-v5e", "tpu-v5e"},       {"tpu-v6e", "tpu-v6e"},        {"trillium", "tpu-v6e"},
  };
  for (const auto& [alias, name] : accelerators) {
    auto accelerator = catalog.accelerator(alias);
    ASSERT_TRUE(accelerator.has_value()) << accelerator.error().message;
    EXPECT_EQ((*accelerator)->name, name);
  }
}

TEST(CatalogLookup, IgnoresCase) {
  Catalog catalog = builtin();
  EXPECT_EQ((**catalog.model("LLAMA-3.1-8B")).name, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ((**catalog.model("META-LLAMA/llama-3.1-8b-instruct")).name,
            "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ((**catalog.accelerator("H100")).name, "nvidia-h100-80gb");
  EXPECT_EQ((**catalog.accelerator("NVIDIA-L4")).name, "nvidia-l4");
  EXPECT_EQ((**catalog.accelerator("TPU-V6E")).name, "tpu-v6e");
}

TEST(CatalogLookup, UnknownNameListsKnownNamesAndAliases) {
  Catalog catalog = builtin();
  auto model = catalog.model("gpt-5");
  ASSERT_FALSE(model.has_value());
  EXPECT_THAT(model.error().message, HasSubstr("unknown model 'gpt-5'; known models: "));
  EXPECT_THAT(model.error().message, HasSubstr("meta-llama/Llama-3.1-8B-Instruct (llama-3.1-8b"));
  EXPECT_THAT(model.error().message, HasSubstr("gemma-2-27b"));

  auto accelerator = catalog.accelerator("b200");
  ASSERT_FALSE(accelerator.has_value());
  EXPECT_THAT(accelerator.error().message,
              HasSubstr("unknown accelerator 'b200'; known accelerators: "));
  EXPECT_THAT(accelerator.error().message, HasSubstr("nvidia-h100-80gb (h100"));
  EXPECT_THAT(accelerator.error().message, HasSubstr("tpu-v5e"));
}

TEST(CatalogLookup, EmptyCatalogSaysSo) {
  Catalog catalog;
  EXPECT_THAT(catalog.model("x").error().message, HasSubstr("known models: none"));
}

TEST(CatalogUserFile, OverridesPriceAndEfficiencyKeyByKey) {
  Catalog catalog = builtin();
  TempFile file("prices.yaml",
                "accelerators:\n"
                "  - name: H100\n"
                "    price_per_hour: {on-demand: 2.99}\n"
                "    efficiency: {memory: 0.8}\n");
  auto loaded = catalog.load_file(file.path());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(catalog.accelerators().size(), 8u);
  const AcceleratorSpec& h100 = **catalog.accelerator("nvidia-h100-80gb");
  EXPECT_EQ(h100.name, "nvidia-h100-80gb");  // keeps its canonical name and aliases
  EXPECT_EQ((**catalog.accelerator("h100")).name, "nvidia-h100-80gb");
  EXPECT_DOUBLE_EQ(h100.price_per_hour.at("on-demand"), 2.99);
  EXPECT_DOUBLE_EQ(h100.price_per_hour.at("spot"), 1.6);
  EXPECT_DOUBLE_EQ(h100.efficiency.memory, 0.8);
  EXPECT_DOUBLE_EQ(h100.efficiency.compute_prefill, 0.45);
  EXPECT_DOUBLE_EQ(h100.peak_flops, 989e12);
}

TEST(CatalogUserFile, AddsAModelWithDefaults) {
  Catalog catalog = builtin();
  TempFile file("model.yaml",
                "# only models\n"
                "models:\n"
                "  - name: acme/Tiny-1B\n"
                "    aliases: [tiny]\n"
                "    num_layers: 16\n"
                "    hidden_size: 2048\n"
                "    num_heads: 32\n"
                "    num_kv_heads: 8\n"
                "    head_dim: 64\n"
                "    intermediate_size: 8192\n"
                "    vocab_size: 128256\n"
                "    max_model_len: 131072\n"
                "    params_billion: 1.24\n");
  auto loaded = catalog.load_file(file.path());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(catalog.models().size(), 8u);
  const ModelSpec& tiny = **catalog.model("TINY");
  EXPECT_EQ(tiny.name, "acme/Tiny-1B");
  EXPECT_DOUBLE_EQ(tiny.active_params, 1.24e9);
  EXPECT_EQ(tiny.bytes_per_param, 2);
  EXPECT_EQ(tiny.kv_bytes_per_element, 2);
  EXPECT_EQ(tiny.num_experts, 0);
  EXPECT_EQ(tiny.sliding_window, 0);
}

TEST(CatalogUserFile, AddsAnAcceleratorWithVllmBudgets) {
  Catalog catalog;
  auto loaded = catalog.load_text(
      "accelerators:\n"
      "  - {name: big, peak_tflops_bf16: 1000, memory_gib: 96, bandwidth_tb_s: 4,"
      " interconnect_gb_s: 450}\n"
      "  - {name: small, peak_tflops_bf16: 100, memory_gib: 24, bandwidth_tb_s: 1,"
      " interconnect_gb_s: 32}\n",
      "user.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ((**catalog.accelerator("big")).default_max_num_batched_tokens, 8192);
  EXPECT_EQ((**catalog.accelerator("big")).default_max_num_seqs, 1024);
  EXPECT_EQ((**catalog.accelerator("small")).default_max_num_batched_tokens, 2048);
  EXPECT_EQ((**catalog.accelerator("small")).default_max_num_seqs, 256);
  EXPECT_TRUE((**catalog.accelerator("small")).price_per_hour.empty());
}

TEST(CatalogUserFile, OverridingParamsOfADenseModelMovesActiveParams) {
  Catalog catalog = builtin();
  ASSERT_TRUE(
      catalog.load_text("models:\n  - {name: mistral-7b, params_billion: 7.5}\n", "u.yaml"));
  EXPECT_DOUBLE_EQ((**catalog.model("mistral-7b")).active_params, 7.5e9);
  // An MoE model keeps its own active count.
  ASSERT_TRUE(
      catalog.load_text("models:\n  - {name: mixtral-8x7b, bytes_per_param: 1}\n", "u.yaml"));
  EXPECT_DOUBLE_EQ((**catalog.model("mixtral-8x7b")).active_params, 12.9e9);
  EXPECT_EQ((**catalog.model("mixtral-8x7b")).bytes_per_param, 1);
}

// Found by tests/fuzz: a stray token after a value made yaml-cpp's LoadAll loop forever.
TEST(CatalogUserFile, StrayTokenIsASyntaxErrorNotAHang) {
  Catalog catalog;
  auto loaded = catalog.load_text("models: []\n---\n,\n", "user.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("user.yaml: YAML syntax error at line 3"),
            std::string::npos)
      << loaded.error().message;
}

TEST(CatalogUserFile, LoadIsAllOrNothing) {
  Catalog catalog = builtin();
  auto loaded = catalog.load_text(
      "accelerators:\n"
      "  - {name: h100, price_per_hour: {on-demand: 1.0}}\n"
      "  - {name: l4, memory_gib: -1}\n",
      "u.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_DOUBLE_EQ((**catalog.accelerator("h100")).price_per_hour.at("on-demand"), 4.0);
}

TEST(CatalogUserFile, AliasMayNotNameAnotherEntry) {
  Catalog catalog = builtin();
  auto loaded = catalog.load_text(
      "models:\n"
      "  - name: acme/Copy\n"
      "    aliases: [Llama-3.1-8B]\n"
      "    num_layers: 1\n    hidden_size: 1\n    num_heads: 1\n    num_kv_heads: 1\n"
      "    head_dim: 1\n    intermediate_size: 1\n    vocab_size: 1\n    max_model_len: 1\n"
      "    params_billion: 1\n",
      "u.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_THAT(loaded.error().message,
              HasSubstr("u.yaml: models[0]: 'Llama-3.1-8B' already names model "
                        "'meta-llama/Llama-3.1-8B-Instruct'"));
}

TEST(CatalogUserFile, NonexistentPath) {
  Catalog catalog;
  auto loaded = catalog.load_file("/nonexistent/kgai/catalog.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().message,
            "/nonexistent/kgai/catalog.yaml: cannot read catalog: no such file");

  auto directory = catalog.load_file(std::filesystem::temp_directory_path());
  ASSERT_FALSE(directory.has_value());
  EXPECT_THAT(directory.error().message, HasSubstr("not a regular file"));
}

TEST(CatalogUserFile, ErrorsNameTheFilePath) {
  Catalog catalog;
  TempFile file("bad.yaml", "models:\n  - name: x\n    num_layers: abc\n");
  auto loaded = catalog.load_file(file.path());
  ASSERT_FALSE(loaded.has_value());
  EXPECT_THAT(loaded.error().message,
              HasSubstr(file.path().string() + ": models[0].num_layers: expected a positive "
                                               "integer, got 'abc' (line 3, column 17)"));
}

// ---- Bad input: each case with the exact message it must produce. ----

struct BadCase {
  const char* name;
  const char* yaml;
  const char* error;
};

// A complete model entry that the cases below break one key at a time.
#define KGAI_MODEL_KEYS                                                                 \
  "    num_layers: 32\n    hidden_size: 4096\n    num_heads: 32\n    num_kv_heads: 8\n" \
  "    head_dim: 128\n    intermediate_size: 14336\n    vocab_size: 32000\n"            \
  "    max_model_len: 8192\n"

const BadCase kBadCases[] = {
    {"syntax_error_has_line_and_column", "models:\n  - name: x\n    num_layers: [1, 2\n",
     "my.yaml: YAML syntax error at line 4, column 1: end of sequence flow not found"},
    {"bad_indentation", "models:\n  - name: x\n   num_layers: 3\n",
     "my.yaml: YAML syntax error at line 3, column 4: end of sequence not found"},
    {"unknown_key_with_suggestion", "models:\n  - name: x\n    num_layer: 3\n",
     "my.yaml: models[0]: unknown key 'num_layer'; did you mean 'num_layers'? (line 3, column 5)"},
    {"unknown_key_lists_known_keys", "accelerators:\n  - name: h100\n    colour: green\n",
     "my.yaml: accelerators[0]: unknown key 'colour' (known keys: name, aliases, vendor, "
     "peak_tflops_bf16, memory_gib, bandwidth_tb_s, interconnect_gb_s, price_per_hour, "
     "default_max_num_batched_tokens, default_max_num_seqs, efficiency)"},
    {"unknown_top_level_key", "model:\n  - name: x\n",
     "my.yaml: unknown key 'model'; did you mean 'models'? (line 1, column 1)"},
    {"unknown_efficiency_key", "accelerators:\n  - name: h100\n    efficiency: {memroy: 0.5}\n",
     "my.yaml: accelerators[0].efficiency: unknown key 'memroy'; did you mean 'memory'?"},
    {"wrong_type_at_index_2",
     "models:\n  - {name: llama-3.1-8b}\n  - {name: qwen2.5-7b}\n  - name: x\n"
     "    num_layers: abc\n",
     "my.yaml: models[2].num_layers: expected a positive integer, got 'abc' (line 5, column 17)"},
    {"list_for_a_number", "models:\n  - name: llama-3.1-8b\n    num_layers: [32]\n",
     "my.yaml: models[0].num_layers: expected a positive integer, got a list"},
    {"fraction_for_an_integer", "models:\n  - name: llama-3.1-8b\n    num_layers: 32.5\n",
     "my.yaml: models[0].num_layers: expected a positive integer, got '32.5'"},
    {"null_value", "models:\n  - name: llama-3.1-8b\n    head_dim:\n",
     "my.yaml: models[0].head_dim: expected a positive integer, got null"},
    {"negative_integer", "models:\n  - name: llama-3.1-8b\n    num_kv_heads: -8\n",
     "my.yaml: models[0].num_kv_heads: expected a positive integer, got '-8'"},
    {"negative_number", "accelerators:\n  - name: h100\n    memory_gib: -80\n",
     "my.yaml: accelerators[0].memory_gib: expected a positive number, got '-80'"},
    {"zero_is_not_positive", "accelerators:\n  - name: h100\n    bandwidth_tb_s: 0\n",
     "my.yaml: accelerators[0].bandwidth_tb_s: expected a positive number, got '0'"},
    {"negative_price", "accelerators:\n  - name: h100\n    price_per_hour: {spot: -1}\n",
     "my.yaml: accelerators[0].price_per_hour.spot: expected a non-negative number, got '-1'"},
    {"infinity", "accelerators:\n  - name: h100\n    peak_tflops_bf16: .inf\n",
     "my.yaml: accelerators[0].peak_tflops_bf16: expected a positive number, got '.inf'"},
    {"efficiency_above_one", "accelerators:\n  - name: h100\n    efficiency: {memory: 1.5}\n",
     "my.yaml: accelerators[0].efficiency.memory: expected a number in (0, 1], got '1.5'"},
    {"huge_integer", "models:\n  - name: llama-3.1-8b\n    num_layers: 99999999999999999999\n",
     "my.yaml: models[0].num_layers: expected a positive integer of at most 2147483647, got "
     "'99999999999999999999'"},
    {"integer_above_int_range", "models:\n  - name: llama-3.1-8b\n    vocab_size: 3000000000\n",
     "my.yaml: models[0].vocab_size: expected a positive integer of at most 2147483647, got "
     "'3000000000'"},
    {"huge_number", "models:\n  - name: llama-3.1-8b\n    params_billion: 1e400\n",
     "my.yaml: models[0].params_billion: expected a positive number of at most 1000000000, got "
     "'1e400'"},
    {"missing_required_key", "models:\n  - name: acme/New\n" KGAI_MODEL_KEYS,
     "my.yaml: models[0]: missing required key 'params_billion' (line 2, column 5)"},
    {"missing_several_keys", "models:\n  - name: acme/New\n    num_layers: 2\n",
     "my.yaml: models[0]: missing required keys 'hidden_size', 'num_heads', 'num_kv_heads'"},
    {"missing_name", "accelerators:\n  - memory_gib: 80\n",
     "my.yaml: accelerators[0]: missing required key 'name'"},
    {"empty_name", "accelerators:\n  - name: ''\n",
     "my.yaml: accelerators[0].name: expected a non-empty string, got ''"},
    {"empty_file", "",
     "my.yaml: the file is empty; expected a map with 'models' and/or "
     "'accelerators'"},
    {"only_comments", "# nothing here\n", "my.yaml: the file is empty"},
    {"empty_map", "{}\n", "my.yaml: expected 'models' and/or 'accelerators', got an empty map"},
    {"list_at_top_level", "- name: x\n",
     "my.yaml: expected a map with 'models' and/or 'accelerators', got a list (line 1, column 1)"},
    {"scalar_at_top_level", "hello\n",
     "my.yaml: expected a map with 'models' and/or 'accelerators', got 'hello'"},
    {"map_where_list_expected", "models:\n  name: x\n",
     "my.yaml: models: expected a list of models, got a map (line 2, column 3)"},
    {"list_where_map_expected", "models:\n  - [1, 2]\n",
     "my.yaml: models[0]: expected a map of model fields, got a list"},
    {"list_for_efficiency", "accelerators:\n  - name: h100\n    efficiency: [0.5]\n",
     "my.yaml: accelerators[0].efficiency: expected a map of efficiency factors, got a list"},
    {"scalar_for_aliases", "models:\n  - name: llama-3.1-8b\n    aliases: llama\n",
     "my.yaml: models[0].aliases: expected a list of strings, got 'llama'"},
    {"duplicate_key", "models:\n  - name: llama-3.1-8b\n    num_layers: 3\n    num_layers: 4\n",
     "my.yaml: models[0]: duplicate key 'num_layers' (line 4, column 5)"},
    {"two_documents", "models: []\n---\naccelerators: []\n",
     "my.yaml: expected one YAML document, found 2"},
    {"heads_not_divisible", "models:\n  - {name: llama-3.1-8b, num_heads: 30}\n",
     "my.yaml: models[0]: num_heads (30) must be a multiple of num_kv_heads (8)"},
    {"active_above_total", "models:\n  - {name: llama-3.1-8b, active_params_billion: 9}\n",
     "my.yaml: models[0]: active_params_billion (9) exceeds params_billion (8.03)"},
    {"too_many_active_experts", "models:\n  - {name: mixtral-8x7b, experts_per_token: 9}\n",
     "my.yaml: models[0]: experts_per_token must be between 1 and num_experts (8), got 9"},
    {"experts_on_a_dense_model", "models:\n  - {name: llama-3.1-8b, experts_per_token: 2}\n",
     "my.yaml: models[0]: experts_per_token is 2 but num_experts is 0 (a dense model)"},
    {"window_share_without_window",
     "models:\n  - {name: llama-3.1-8b, sliding_window_layer_fraction: 0.5}\n",
     "my.yaml: models[0]: sliding_window_layer_fraction is set but sliding_window is 0"},
};

class CatalogBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(CatalogBadInput, GivesTheExpectedError) {
  Catalog catalog = builtin();
  auto loaded = catalog.load_text(GetParam().yaml, "my.yaml");
  ASSERT_FALSE(loaded.has_value()) << "accepted:\n" << GetParam().yaml;
  EXPECT_THAT(loaded.error().message, HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(Cases, CatalogBadInput, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CatalogBadInput, FailedLoadLeavesCatalogUnchanged) {
  Catalog catalog = builtin();
  for (const BadCase& bad : kBadCases) {
    ASSERT_FALSE(catalog.load_text(bad.yaml, "my.yaml").has_value()) << bad.name;
  }
  EXPECT_EQ(catalog.models().size(), 7u);
  EXPECT_EQ((**catalog.model("llama-3.1-8b")).num_layers, 32);
  EXPECT_EQ((**catalog.accelerator("h100")).memory_bytes, 79.2 * kGiB);
}

// Random edits of the real catalog files: every outcome is a load or an error, never a crash
// (run under the asan preset to make that meaningful).
TEST(CatalogBadInput, MutatedCatalogsNeverCrash) {
  constexpr std::string_view kAlphabet = " \n\t:-[]{},'\"#&*!|>%@`0123456789.e-x";
  std::mt19937 rng(7);
  for (const char* file : {"models.yaml", "accelerators.yaml"}) {
    std::ifstream in(std::filesystem::path(KGAI_SOURCE_DIR) / "data/catalog" / file);
    std::stringstream original;
    original << in.rdbuf();
    ASSERT_FALSE(original.str().empty()) << file;
    for (int trial = 0; trial < 300; ++trial) {
      std::string text = original.str();
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        size_t at = rng() % text.size();
        char c = kAlphabet[rng() % kAlphabet.size()];
        switch (rng() % 3) {
          case 0:
            text[at] = c;
            break;
          case 1:
            text.insert(at, 1, c);
            break;
          default:
            text.erase(at, 1 + rng() % 8);
            break;
        }
      }
      Catalog catalog;
      auto loaded = catalog.load_text(text, file);
      if (!loaded) {
        EXPECT_THAT(loaded.error().message, HasSubstr(file));
      }
    }
  }
}

}  // namespace
}  // namespace kgai::catalog
