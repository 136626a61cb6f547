#include "quickstart/calibrate.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "quickstart/measured_run.h"
#include "sim/offline_runner.h"
#include "sim/setup.h"

namespace kgai::quickstart {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

// The "real server": an H100 whose efficiency differs from the catalog's (memory 0.88,
// compute_prefill 0.45, frontend 14 ms) the way older kernels and a slower host would.
constexpr const char* kAltered = R"(
accelerators:
  - name: h100
    efficiency:
      memory: 0.6
      compute_prefill: 0.35
      frontend_ms: 25
)";

struct StageSpec {
  double rate = 0;
  int concurrency = 0;
  int requests = 0;
  std::string input;
  std::string output;
};

// Stages a careful user would run: idle requests with short and long prompts (frontend vs
// prefill compute), and two loads with large batches (memory vs step overhead).
std::vector<StageSpec> default_stages() {
  return {
      {.concurrency = 1, .requests = 40, .input = "normal:256,40", .output = "normal:64,8"},
      {.concurrency = 1, .requests = 30, .input = "normal:2048,200", .output = "16"},
      {.rate = 20, .requests = 300, .input = "normal:512,100", .output = "normal:128,30"},
      {.concurrency = 128, .requests = 384, .input = "normal:512,100", .output = "normal:256,50"}};
}

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() /
              ("kgai-calibrate-" + std::to_string(::getpid()) + "-" + name)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

// Simulates each stage on the altered accelerator and writes the results as kgai perf would:
// stage_N_lifecycle_metrics.json, summary_lifecycle_metrics.json and kgai_run.json (unless
// `inference_perf`, whose folders have no kgai_run.json).
void write_report(const fs::path& dir, const std::vector<StageSpec>& stages,
                  bool inference_perf = false) {
  auto catalog = *catalog::Catalog::builtin();
  ASSERT_TRUE(catalog.load_text(kAltered, "altered.yaml"));
  auto setup = sim::make_setup(catalog, {.model = "llama-3.1-8b", .accelerator = "h100"});
  ASSERT_TRUE(setup) << setup.error().message;
  json plans = json::array();
  for (size_t i = 0; i < stages.size(); ++i) {
    const StageSpec& s = stages[i];
    sim::OfflineOptions o;
    o.engine = setup->engine;
    o.workload.rate = s.rate;
    o.workload.concurrency = s.concurrency;
    o.workload.num_requests = s.requests;
    o.workload.input = *sim::LengthDistribution::parse(s.input);
    o.workload.output = *sim::LengthDistribution::parse(s.output);
    o.workload.seed = 100 + i;
    auto run = sim::simulate(o, *setup->latency);
    ASSERT_TRUE(run) << run.error().message;
    json j = sim::summarize(*run, o);
    j.erase("engine");
    j.erase("runtime");
    j.erase("config");
    if (inference_perf) j["load_summary"].erase("concurrency");
    write(dir / fmt::format("stage_{}_lifecycle_metrics.json", i), j.dump(2));
    if (i == 0) write(dir / "summary_lifecycle_metrics.json", j.dump(2));
    plans.push_back({{"index", i},
                     {"rate", s.rate},
                     {"duration", 0},
                     {"concurrency", s.concurrency},
                     {"num_requests", s.requests}});
  }
  if (!inference_perf) {
    write(dir / "kgai_run.json", json{{"tool", "kgai perf"},
                                      {"model", "meta-llama/Llama-3.1-8B-Instruct"},
                                      {"stage_plans", plans}}
                                     .dump(2));
  }
}

const FactorResult& factor(const Calibration& c, const std::string& key) {
  for (const auto& f : c.factors) {
    if (f.key == key) return f;
  }
  ADD_FAILURE() << "no factor " << key;
  return c.factors.front();
}

Result<Calibration> calibrate_dir(const std::string& dir, CalibrateOptions options = {}) {
  auto run = read_measured_run(dir);
  if (!run) return fail(run.error());
  auto catalog = catalog::Catalog::builtin();
  if (options.setup.model.empty()) options.setup.model = "llama-3.1-8b";
  if (options.setup.accelerator.empty()) options.setup.accelerator = "h100";
  return calibrate(*catalog, *run, options);
}

TEST(Calibrate, RecoversKnownFactorsFromASyntheticRun) {
  TempDir dir("recover");
  write_report(dir.path(), default_stages());
  auto c = calibrate_dir(dir.str());
  ASSERT_TRUE(c) << c.error().message;

  const auto& memory = factor(*c, "memory");
  const auto& prefill = factor(*c, "compute_prefill");
  const auto& frontend = factor(*c, "frontend_ms");
  EXPECT_TRUE(memory.fitted) << memory.why;
  EXPECT_TRUE(prefill.fitted) << prefill.why;
  EXPECT_TRUE(frontend.fitted) << frontend.why;
  EXPECT_NEAR(memory.after, 0.6, 0.03);     // 5%
  EXPECT_NEAR(prefill.after, 0.35, 0.035);  // 10%
  EXPECT_NEAR(frontend.after, 25, 1.25);    // 5%
  // Factors the altered server did not change stay near the catalog's values (or are kept).
  EXPECT_NEAR(factor(*c, "compute_decode").after, 0.30, 0.03);
  EXPECT_NEAR(factor(*c, "step_fixed_us").after, 130, 26);
  EXPECT_EQ(factor(*c, "per_layer_us").after, 20);
  EXPECT_FALSE(factor(*c, "allreduce_latency_us").fitted);

  EXPECT_GT(c->error_before, 0.15);
  EXPECT_LT(c->error_after, 0.03);
  EXPECT_EQ(c->figures, 12);
  EXPECT_LE(c->simulations, 1 + 2 * 6 + 150);
  for (const auto& f : c->factors) ASSERT_EQ(c->stages.size(), 4u);
  EXPECT_EQ(c->stages[3].concurrency, 128);
  EXPECT_EQ(c->stages[2].rate, 20);
}

TEST(Calibrate, IsDeterministic) {
  TempDir dir("deterministic");
  write_report(dir.path(), {default_stages()[0], default_stages()[3]});
  auto a = calibrate_dir(dir.str(), {.max_simulations = 40});
  auto b = calibrate_dir(dir.str(), {.max_simulations = 40});
  ASSERT_TRUE(a && b);
  for (size_t i = 0; i < a->factors.size(); ++i)
    EXPECT_EQ(a->factors[i].after, b->factors[i].after);
}

TEST(Calibrate, OverlayLoadsBackIntoTheCatalog) {
  TempDir dir("overlay");
  write_report(dir.path(), default_stages());
  auto run = read_measured_run(dir.str());
  ASSERT_TRUE(run);
  auto c =
      calibrate(*catalog::Catalog::builtin(), *run,
                {.setup = {.model = "llama-3.1-8b", .accelerator = "h100"}, .max_simulations = 60});
  ASSERT_TRUE(c) << c.error().message;
  const std::string yaml = overlay_yaml(*c, *run, "2026-12-01T00:00:00Z");
  EXPECT_THAT(yaml, HasSubstr("not per model"));
  EXPECT_THAT(yaml, HasSubstr(dir.str()));
  EXPECT_THAT(yaml, HasSubstr("2026-12-01T00:00:00Z"));
  EXPECT_THAT(yaml, HasSubstr("memory: "));

  auto catalog = *catalog::Catalog::builtin();
  auto loaded = catalog.load_text(yaml, "overlay.yaml");
  ASSERT_TRUE(loaded) << loaded.error().message << "\n" << yaml;
  const auto& e = (*catalog.accelerator("h100"))->efficiency;
  EXPECT_NEAR(e.memory, c->after.memory, 1e-3 * c->after.memory);
  EXPECT_NEAR(e.step_fixed_s, c->after.step_fixed_s, 1e-3 * c->after.step_fixed_s);
  EXPECT_NEAR(e.frontend_s, c->after.frontend_s, 1e-3 * c->after.frontend_s);
  EXPECT_NEAR(e.per_layer_s, c->after.per_layer_s, 1e-9);

  // The JSON and the table carry the same figures.
  auto j = calibration_json(*c, *run);
  EXPECT_EQ(j["stages"].size(), 4u);
  EXPECT_EQ(j["factors"].size(), 8u);
  EXPECT_DOUBLE_EQ(j["error"]["after"].get<double>(), c->error_after);
  const std::string table = calibration_table(*c, *run);
  EXPECT_THAT(table, HasSubstr("TTFT p50 ms"));
  EXPECT_THAT(table, HasSubstr("step_fixed_us"));
}

TEST(Calibrate, KeepsFactorsTheStagesCannotIdentify) {
  TempDir dir("identify");
  // One idle stage with short prompts: decode compute and the per-request cost never matter.
  write_report(dir.path(), {default_stages()[0]});
  auto c = calibrate_dir(dir.str(), {.max_simulations = 60});
  ASSERT_TRUE(c) << c.error().message;
  for (const char* key : {"compute_decode", "per_request_us", "per_layer_us"}) {
    const auto& f = factor(*c, key);
    EXPECT_FALSE(f.fitted) << key;
    EXPECT_EQ(f.after, f.before) << key;
    EXPECT_THAT(f.why, HasSubstr("kept")) << key;
  }
  EXPECT_TRUE(factor(*c, "memory").fitted);
  EXPECT_LT(c->error_after, c->error_before);
}

TEST(Calibrate, ReadsInferencePerfFoldersWithoutKgaiRunJson) {
  TempDir dir("inference-perf");
  write_report(dir.path(), {default_stages()[2]}, /*inference_perf=*/true);
  auto run = read_measured_run(dir.str());
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->source, "Inference Perf");
  ASSERT_EQ(run->stages.size(), 1u);
  EXPECT_EQ(run->stages[0].rate, 20);  // load_summary.requested_rate
  EXPECT_EQ(run->stages[0].requests, 300);
  EXPECT_NEAR(run->stages[0].mean_prompt, 512, 15);
}

TEST(Calibrate, TimeScaleConvertsBackToSimulatedTime) {
  TempDir dir("time-scale");
  write_report(dir.path(), {default_stages()[2]});
  auto plain = read_measured_run(dir.str());
  auto scaled = read_measured_run(dir.str(), {.time_scale = 10});
  ASSERT_TRUE(plain && scaled);
  EXPECT_DOUBLE_EQ(*scaled->stages[0].ttft_median, *plain->stages[0].ttft_median * 10);
  EXPECT_DOUBLE_EQ(scaled->stages[0].rate, plain->stages[0].rate / 10);
  EXPECT_DOUBLE_EQ(*scaled->stages[0].output_tokens_per_sec,
                   *plain->stages[0].output_tokens_per_sec / 10);
}

TEST(LengthsFromDistribution, FollowsThePercentiles) {
  auto fixed = lengths_from_distribution(json{{"mean", 128}, {"min", 128}, {"max", 128}}, 100);
  ASSERT_TRUE(fixed);
  for (int v : *fixed) EXPECT_EQ(v, 128);

  auto spread = lengths_from_distribution(
      json{{"mean", 300}, {"min", 10}, {"p25", 100}, {"median", 200}, {"p75", 400}, {"max", 1000}},
      1000);
  ASSERT_TRUE(spread);
  std::vector<int> sorted = *spread;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NEAR(sorted[250], 100, 2);
  EXPECT_NEAR(sorted[500], 200, 2);
  EXPECT_NEAR(sorted[750], 400, 2);
  EXPECT_GE(sorted.front(), 10);
  EXPECT_LE(sorted.back(), 1000);

  auto only_mean = lengths_from_distribution(json{{"mean", 77.4}}, 10);
  ASSERT_TRUE(only_mean);
  EXPECT_EQ((*only_mean)[3], 77);
  EXPECT_FALSE(lengths_from_distribution(json{{"median", "x"}}, 10));
}

// --- bad input ---

TEST(CalibrateBadInput, MissingFolder) {
  auto run = read_measured_run("/nonexistent/kgai-report");
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message, HasSubstr("/nonexistent/kgai-report: no such folder"));
}

TEST(CalibrateBadInput, FolderWithoutStageFiles) {
  TempDir dir("empty");
  auto run = read_measured_run(dir.str());
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message, HasSubstr("stage_N_lifecycle_metrics.json"));
  write(dir.path() / "summary_lifecycle_metrics.json", "{}");
  run = read_measured_run(dir.str());
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message, HasSubstr("no stage_N_lifecycle_metrics.json"));
}

TEST(CalibrateBadInput, MalformedJsonNamesTheFile) {
  TempDir dir("malformed");
  write(dir.path() / "stage_0_lifecycle_metrics.json", "{\"successes\": ");
  auto run = read_measured_run(dir.str());
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message, HasSubstr("stage_0_lifecycle_metrics.json: malformed JSON"));
}

TEST(CalibrateBadInput, WrongTypesNameTheFileAndKey) {
  TempDir dir("types");
  write_report(dir.path(), {default_stages()[0]});
  const fs::path file = dir.path() / "stage_0_lifecycle_metrics.json";
  json j = json::parse(std::ifstream(file));
  json broken = j;
  broken["successes"]["latency"]["time_to_first_token"]["median"] = "fast";
  write(file, broken.dump());
  auto run = read_measured_run(dir.str());
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message,
              HasSubstr("stage_0_lifecycle_metrics.json: "
                        "successes.latency.time_to_first_token.median: expected a number, got "
                        "\"fast\""));

  broken = j;
  broken["successes"]["prompt_len"] = nullptr;
  write(file, broken.dump());
  run = read_measured_run(dir.str());
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message,
              HasSubstr("stage_0_lifecycle_metrics.json: successes.prompt_len: "
                        "expected a distribution"));
}

TEST(CalibrateBadInput, StagesWithoutSuccessesAreSkippedWithAWarning) {
  TempDir dir("zero");
  write_report(dir.path(), {default_stages()[0], default_stages()[2]});
  const fs::path file = dir.path() / "stage_1_lifecycle_metrics.json";
  json j = json::parse(std::ifstream(file));
  j["successes"]["count"] = 0;
  write(file, j.dump());
  auto run = read_measured_run(dir.str());
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_EQ(run->stages.size(), 1u);
  ASSERT_EQ(run->warnings.size(), 1u);
  EXPECT_THAT(run->warnings[0], HasSubstr("stage 1"));
  EXPECT_THAT(run->warnings[0], HasSubstr("no successful requests; skipped"));

  write(dir.path() / "stage_0_lifecycle_metrics.json", j.dump());
  run = read_measured_run(dir.str());
  ASSERT_FALSE(run);
  EXPECT_THAT(run.error().message, HasSubstr("no stage with successful requests"));
}

TEST(CalibrateBadInput, UnknownModelOrAcceleratorListsWhatExists) {
  TempDir dir("unknown");
  write_report(dir.path(), {default_stages()[0]});
  auto c = calibrate_dir(dir.str(), {.setup = {.model = "llama-9", .accelerator = "h100"}});
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("llama-9"));
  EXPECT_THAT(c.error().message, HasSubstr("llama-3.1-8b"));
  c = calibrate_dir(dir.str(), {.setup = {.model = "llama-3.1-8b", .accelerator = "b300"}});
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("b300"));
  EXPECT_THAT(c.error().message, HasSubstr("nvidia-h100-80gb"));
}

}  // namespace
}  // namespace kgai::quickstart
