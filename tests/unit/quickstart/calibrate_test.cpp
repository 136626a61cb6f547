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
// compute_prefill 0.45, API server delay 10 ms and 7 ms of CPU per request) the way older
// kernels, a slower network and a slower host CPU would.
constexpr const char* kAltered = R"(
accelerators:
  - name: h100
    efficiency:
      memory: 0.6
      compute_prefill: 0.35
      frontend_ms: 25
      frontend_cpu_ms: 12
)";

struct StageSpec {
  double rate = 0;
  int concurrency = 0;
  int requests = 0;
  std::string input;
  std::string output;
};

// Stages a careful user would run: idle requests with short and long prompts (API server delay
// vs prefill compute), two loads with large batches (memory vs step overhead), and a rate of
// short requests that keeps the API server busy (its CPU per request vs its fixed delay).
std::vector<StageSpec> default_stages() {
  return {
      {.concurrency = 1, .requests = 40, .input = "normal:256,40", .output = "normal:64,8"},
      {.concurrency = 1, .requests = 30, .input = "normal:2048,200", .output = "16"},
      {.rate = 20, .requests = 300, .input = "normal:512,100", .output = "normal:128,30"},
      {.concurrency = 128, .requests = 384, .input = "normal:512,100", .output = "normal:256,50"},
      {.rate = 60, .requests = 300, .input = "normal:256,40", .output = "16"}};
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

  for (const char* key :
       {"memory", "compute_prefill", "frontend_ms", "frontend_cpu_ms", "compute_decode"}) {
    EXPECT_TRUE(factor(*c, key).fitted) << key << ": " << factor(*c, key).why;
  }
  EXPECT_NEAR(factor(*c, "memory").after, 0.6, 0.03);             // 5%
  EXPECT_NEAR(factor(*c, "compute_prefill").after, 0.35, 0.035);  // 10%
  EXPECT_NEAR(factor(*c, "frontend_ms").after, 25, 1.25);         // 5%
  EXPECT_NEAR(factor(*c, "frontend_cpu_ms").after, 12, 1.2);      // 10%
  // Factors the altered server did not change stay near the catalog's values (or are kept).
  // Decode compute only shows in the mixed steps of the loaded stages and is the loosest: a
  // fit started from the true factors lands at 0.34 on these figures too.
  EXPECT_NEAR(factor(*c, "compute_decode").after, 0.30, 0.06);  // 20%
  EXPECT_NEAR(factor(*c, "step_fixed_us").after, 130, 26);
  EXPECT_EQ(factor(*c, "per_layer_us").after, 20);
  EXPECT_FALSE(factor(*c, "allreduce_latency_us").fitted);
  // The tokenizer's cost is never a candidate; the streaming cost of the output tokens is
  // screened out: near 30 us it hardly moves these stages.
  EXPECT_FALSE(factor(*c, "frontend_cpu_us_per_prompt_token").fitted);
  const auto& output = factor(*c, "frontend_cpu_us_per_output_token");
  EXPECT_FALSE(output.fitted);
  EXPECT_DOUBLE_EQ(output.after, output.before);
  EXPECT_THAT(output.why, HasSubstr("near its value"));

  EXPECT_GT(c->error_before, 0.25);
  EXPECT_LT(c->error_after, 0.03);
  EXPECT_EQ(c->figures, 15);
  // The base replay, 8 candidates screened with two candidates each (x4, /4) and, when they
  // pass, two more (x1.5, /1.5), then the fit's budget.
  EXPECT_LE(c->simulations, 1 + 4 * 8 + 150);
  EXPECT_GT(c->simulations, 150);
  ASSERT_EQ(c->stages.size(), 5u);
  EXPECT_EQ(c->stages[3].concurrency, 128);
  EXPECT_EQ(c->stages[2].rate, 20);
}

TEST(Calibrate, FitNeverExceedsItsBudget) {
  TempDir dir("budget");
  write_report(dir.path(), {default_stages()[0], default_stages()[3]});
  for (int budget : {1, 7, 23}) {
    auto c = calibrate_dir(dir.str(), {.max_simulations = budget});
    ASSERT_TRUE(c) << c.error().message;
    // 8 candidates cost two candidates each to screen, two more each where they pass the
    // first look (a factor kept for want of effect or for its likeness to an earlier one
    // does not).
    int first_look_only = 0;
    for (const auto& f : c->factors) {
      first_look_only += f.why.find("x4 or /4") != std::string::npos ||
                         f.why.find("cannot tell") != std::string::npos;
    }
    EXPECT_LE(c->simulations, 1 + 4 * 8 - 2 * first_look_only + budget) << budget;
  }
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
  EXPECT_NEAR(e.frontend_cpu_s, c->after.frontend_cpu_s, 1e-3 * c->after.frontend_cpu_s);
  EXPECT_NEAR(e.frontend_cpu_per_output_token_s, c->after.frontend_cpu_per_output_token_s,
              1e-3 * c->after.frontend_cpu_per_output_token_s);
  EXPECT_NEAR(e.frontend_cpu_per_prompt_token_s, 8e-6, 1e-9);
  EXPECT_THAT(yaml, HasSubstr("frontend_cpu_us_per_output_token: 30"));
  EXPECT_NEAR(e.per_layer_s, c->after.per_layer_s, 1e-9);

  // The JSON and the table carry the same figures.
  auto j = calibration_json(*c, *run);
  EXPECT_EQ(j["stages"].size(), 5u);
  EXPECT_EQ(j["factors"].size(), 11u);
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
