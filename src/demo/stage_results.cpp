#include "demo/stage_results.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include <fmt/format.h>

namespace kgai::demo {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The number at `path`, or NaN when any step is missing or not a number.
double number_at(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &j;
  for (const char* key : path) {
    if (!at->is_object()) return kNaN;
    auto it = at->find(key);
    if (it == at->end()) return kNaN;
    at = &*it;
  }
  return at->is_number() ? at->get<double>() : kNaN;
}

int64_t count_at(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const double v = number_at(j, path);
  return std::isfinite(v) ? static_cast<int64_t>(v) : 0;
}

}  // namespace

StageResult stage_from_lifecycle(const nlohmann::json& stage, double rate) {
  StageResult s;
  s.rate = rate;
  s.achieved_rate = number_at(stage, {"load_summary", "achieved_rate"});
  s.requests = count_at(stage, {"load_summary", "count"});
  s.errors = count_at(stage, {"failures", "count"});
  s.ttft_p50 = number_at(stage, {"successes", "latency", "time_to_first_token", "median"});
  s.ttft_p90 = number_at(stage, {"successes", "latency", "time_to_first_token", "p90"});
  s.ntpot_p50 =
      number_at(stage, {"successes", "latency", "normalized_time_per_output_token", "median"});
  s.output_tokens_per_sec = number_at(stage, {"successes", "throughput", "output_tokens_per_sec"});
  s.goodput = number_at(stage, {"goodput", "requests_per_sec"});
  return s;
}

Result<std::vector<StageResult>> read_stage_results(const std::string& dir,
                                                    const std::vector<double>& rates) {
  std::vector<StageResult> out;
  for (size_t i = 0; i < rates.size(); ++i) {
    const auto path =
        std::filesystem::path(dir) / fmt::format("stage_{}_lifecycle_metrics.json", i);
    std::ifstream in(path);
    if (!in) return fail("kgai perf wrote no {} (its log is in {})", path.string(), dir);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) return fail("{}: not valid JSON", path.string());
    out.push_back(stage_from_lifecycle(j, rates[i]));
  }
  return out;
}

std::optional<DemoResult::Headline> compare_policies(const PolicyResult& candidate,
                                                     const PolicyResult& baseline) {
  std::optional<DemoResult::Headline> best;
  for (const StageResult& b : baseline.stages) {
    if (b.errors > 0 || b.requests == 0) continue;
    for (const StageResult& c : candidate.stages) {
      if (c.rate != b.rate) continue;
      if (!(b.ttft_p90 > 0) || !(c.ttft_p90 > 0) || !(b.output_tokens_per_sec > 0) ||
          !std::isfinite(c.output_tokens_per_sec)) {
        continue;
      }
      if (best && best->rate >= b.rate) continue;
      best = DemoResult::Headline{
          .baseline = baseline.name,
          .rate = b.rate,
          .ttft_p90_ratio = b.ttft_p90 / c.ttft_p90,
          .throughput_ratio = c.output_tokens_per_sec / b.output_tokens_per_sec};
    }
  }
  return best;
}

}  // namespace kgai::demo
