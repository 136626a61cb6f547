#include "quickstart/benchmark_curve.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "quickstart/load_point.h"
#include "quickstart/profiles_output.h"
#include "quickstart/setup_space.h"

namespace kgai::quickstart {

Result<CurveResult> benchmark_curves(const catalog::Catalog& catalog, const PriceBook& prices,
                                     const SearchRequest& request, int stages) {
  const auto started = std::chrono::steady_clock::now();
  if (stages < 2 || stages > 50) return fail("--stages must be 2 to 50, got {}", stages);
  auto space = resolve_space(catalog, prices, request);
  if (!space) return fail(space.error());
  CurveResult result;
  const int64_t per_run = space->requests_per_run;
  const int pairs = static_cast<int>(space->pairs.size());
  int done = 0;
  for (const SetupPair& pair : space->pairs) {
    if (!pair.price) {
      result.skipped.push_back({pair.model->name, pair.accelerator->name, 0, pair.no_price, {}});
      if (request.progress) request.progress(++done, pairs);
      continue;
    }
    for (int tp : request.tensor_parallel) {
      for (int seqs : settings_values(request.max_num_seqs, pair.accelerator->default_max_num_seqs,
                                      16, false)) {
        for (int budget :
             settings_values(request.max_num_batched_tokens,
                             pair.accelerator->default_max_num_batched_tokens, 512, false)) {
          auto setup = make_candidate(catalog, request, *space, pair, tp, seqs, budget);
          if (!setup) {
            result.skipped.push_back(
                {pair.model->name, pair.accelerator->name, tp, setup.error().message, {}});
            continue;
          }
          const auto measure = [&](const Load& load) {
            ++result.simulations;
            return measure_load(setup->engine, *setup->latency, request.workload, load,
                                request.targets);
          };
          Load closed;
          closed.concurrency = saturation_clients(*setup, *space);
          closed.num_requests = std::max<int64_t>(per_run, int64_t{3} * closed.concurrency);
          auto saturation = measure(closed);
          if (!saturation) return fail(saturation.error());
          auto top = make_profile(request, *space, pair, *setup, *saturation, true);
          if (!top) return fail(top.error());
          BenchmarkCurve curve{std::move(*top), {}};
          for (int i = 1; i <= stages; ++i) {
            Load open;
            open.rate = saturation->requests_per_second * i / stages;
            open.num_requests = per_run;
            auto point = measure(open);
            if (!point) return fail(point.error());
            auto stage = make_profile(request, *space, pair, *setup, *point, false);
            if (!stage) return fail(stage.error());
            curve.stages.push_back(std::move(*stage));
          }
          result.curves.push_back(std::move(curve));
        }
      }
    }
    if (request.progress) request.progress(++done, pairs);
  }
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

namespace {

nlohmann::ordered_json percentiles_json(const LatencyPercentiles& d) {
  const auto r = [](double v) { return std::round(v * 1000) / 1000; };
  return {{"mean", r(d.mean)}, {"p50", r(d.p50)}, {"p90", r(d.p90)}, {"p99", r(d.p99)}};
}

nlohmann::ordered_json stage_json(const Profile& p, int index) {
  nlohmann::ordered_json j;
  j["stage"] = index;
  j["requested_rate"] = p.point.offered_rate > 0 ? nlohmann::ordered_json(p.point.offered_rate)
                                                 : nlohmann::ordered_json(nullptr);
  j["concurrency"] = p.point.concurrency > 0 ? nlohmann::ordered_json(p.point.concurrency)
                                             : nlohmann::ordered_json(nullptr);
  j["kept_up"] = std::round(p.point.kept_up * 1000) / 1000;
  const nlohmann::ordered_json profile = profile_json(p);
  for (const char* key :
       {"requests_per_second", "output_tokens_per_second", "input_tokens_per_second",
        "cost_per_million_input_tokens", "cost_per_million_output_tokens"}) {
    j[key] = profile[key];
  }
  j["ttft_ms"] = percentiles_json(p.point.ttft);
  j["ntpot_ms"] = percentiles_json(p.point.ntpot);
  j["itl_ms"] = percentiles_json(p.point.itl);
  j["e2e_ms"] = percentiles_json(p.point.e2e);
  j["mean_requests_running"] = std::round(p.point.mean_running * 100) / 100;
  j["mean_requests_waiting"] = std::round(p.point.mean_waiting * 100) / 100;
  return j;
}

}  // namespace

nlohmann::ordered_json curves_json(const CurveResult& result) {
  nlohmann::ordered_json j;
  j["benchmarks"] = nlohmann::ordered_json::array();
  for (const auto& curve : result.curves) {
    const nlohmann::ordered_json head = profile_json(curve.saturation);
    nlohmann::ordered_json c;
    for (const char* key :
         {"model", "model_server", "accelerator", "accelerator_count", "instance_type", "cloud",
          "pricing_model", "price_per_hour", "settings", "workload"}) {
      c[key] = head[key];
    }
    c["saturation"] = stage_json(curve.saturation, 0);
    c["stages"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < curve.stages.size(); ++i)
      c["stages"].push_back(stage_json(curve.stages[i], static_cast<int>(i + 1)));
    j["benchmarks"].push_back(std::move(c));
  }
  j["skipped"] = nlohmann::ordered_json::array();
  for (const auto& s : result.skipped) {
    j["skipped"].push_back({{"model", s.model},
                            {"accelerator", s.accelerator},
                            {"accelerator_count", s.accelerator_count},
                            {"why", s.why}});
  }
  j["search"] = {{"simulations", result.simulations},
                 {"wall_seconds", std::round(result.wall_seconds * 1000) / 1000}};
  return j;
}

Table curves_table(const nlohmann::ordered_json& benchmarks) {
  Table t;
  t.columns = {"model",        "accelerator",  "count",        "stage",       "requested_rate",
               "kept_up",      "req/s",        "output_tok/s", "input_tok/s", "ttft_p50_ms",
               "ttft_p90_ms",  "ntpot_p50_ms", "ntpot_p90_ms", "itl_p50_ms",  "itl_p90_ms",
               "cost/m_input", "cost/m_output"};
  const auto fixed = [](const nlohmann::ordered_json& v, int decimals) {
    return v.is_number() ? fmt::format("{:.{}f}", v.get<double>(), decimals) : std::string("-");
  };
  for (const auto& c : benchmarks) {
    for (const auto& s : c["stages"]) {
      t.rows.push_back({c["model"].get<std::string>(), c["accelerator"].get<std::string>(),
                        cell_text(c["accelerator_count"]), cell_text(s["stage"]),
                        fixed(s["requested_rate"], 2), fixed(s["kept_up"], 2),
                        fixed(s["requests_per_second"], 2), fixed(s["output_tokens_per_second"], 0),
                        fixed(s["input_tokens_per_second"], 0), fixed(s["ttft_ms"]["p50"], 1),
                        fixed(s["ttft_ms"]["p90"], 1), fixed(s["ntpot_ms"]["p50"], 2),
                        fixed(s["ntpot_ms"]["p90"], 2), fixed(s["itl_ms"]["p50"], 2),
                        fixed(s["itl_ms"]["p90"], 2), fixed(s["cost_per_million_input_tokens"], 3),
                        fixed(s["cost_per_million_output_tokens"], 3)});
    }
  }
  return t;
}

}  // namespace kgai::quickstart
