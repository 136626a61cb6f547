#include "quickstart/profiles_output.h"

#include <cmath>

#include <fmt/format.h>

namespace kgai::quickstart {

namespace {

// Figures rounded as people read them (GIQ prints costs to 3 decimals, rates and latencies
// whole); JSON keeps 4 significant digits so scripts can recompute costs.
double round_to(double value, int significant) {
  if (value == 0 || !std::isfinite(value)) return value;
  const double scale =
      std::pow(10.0, significant - 1 - static_cast<int>(std::floor(std::log10(std::fabs(value)))));
  return std::round(value * scale) / scale;
}

nlohmann::ordered_json point_json(const OperatingPoint& p) {
  nlohmann::ordered_json j;
  j["requests_per_second"] = round_to(p.requests_per_second, 4);
  j["output_tokens_per_second"] = round_to(p.output_tokens_per_second, 4);
  j["input_tokens_per_second"] = round_to(p.input_tokens_per_second, 4);
  j["ttft_ms"] = round_to(p.ttft_ms, 4);
  j["ntpot_ms"] = round_to(p.ntpot_ms, 4);
  j["itl_ms"] = round_to(p.itl_ms, 4);
  j["e2e_ms"] = round_to(p.e2e_ms, 4);
  j["goodput_requests_per_second"] = round_to(p.goodput_rps, 4);
  return j;
}

}  // namespace

nlohmann::ordered_json profile_json(const Profile& p) {
  nlohmann::ordered_json j;
  j["model"] = p.model;
  j["model_server"] = p.model_server;
  j["accelerator"] = p.accelerator;
  j["accelerator_count"] = p.accelerator_count;
  j["instance_type"] = p.instance_type.empty() ? nlohmann::ordered_json(nullptr)
                                               : nlohmann::ordered_json(p.instance_type);
  j["cloud"] = p.cloud;
  j["pricing_model"] = p.pricing_model;
  j["price_per_hour"] = round_to(p.cost.inputs.price_per_hour * p.accelerator_count, 6);
  j["price_per_chip_hour"] = p.cost.inputs.price_per_hour;
  j["cost_ratio"] = p.cost.inputs.cost_ratio;
  j["cost_per_million_input_tokens"] = round_to(p.cost.per_million_input_tokens, 4);
  j["cost_per_million_output_tokens"] = round_to(p.cost.per_million_output_tokens, 4);
  const nlohmann::ordered_json point = point_json(p.point);
  for (const auto& [key, value] : point.items()) j[key] = value;
  j["percentile"] = p.targets.percentile;
  j["operating_point"] = p.at_saturation ? "saturation" : "highest load meeting the targets";
  nlohmann::ordered_json targets = nlohmann::ordered_json::object();
  if (p.targets.ttft_ms) targets["ttft_ms"] = *p.targets.ttft_ms;
  if (p.targets.ntpot_ms) targets["ntpot_ms"] = *p.targets.ntpot_ms;
  if (p.targets.itl_ms) targets["itl_ms"] = *p.targets.itl_ms;
  j["targets"] = targets;
  j["settings"] = {{"tensor_parallel_size", p.settings.tensor_parallel_size},
                   {"max_num_seqs", p.settings.max_num_seqs},
                   {"max_num_batched_tokens", p.settings.max_num_batched_tokens},
                   {"max_model_len", p.settings.max_model_len},
                   {"gpu_memory_utilization", p.settings.gpu_memory_utilization},
                   {"block_size", p.settings.block_size},
                   {"enable_prefix_caching", p.settings.enable_prefix_caching},
                   {"enable_chunked_prefill", p.settings.enable_chunked_prefill}};
  j["workload"] = {{"name", p.workload.name},
                   {"input_length", p.workload.input_length},
                   {"output_length", p.workload.output_length},
                   {"average_input_length", round_to(p.workload.mean_input_tokens, 4)},
                   {"average_output_length", round_to(p.workload.mean_output_tokens, 4)}};
  j["engine"] = {{"mean_requests_running", round_to(p.point.mean_running, 4)},
                 {"mean_requests_waiting", round_to(p.point.mean_waiting, 4)},
                 {"mean_kv_cache_usage", round_to(p.point.mean_kv_cache_usage, 4)},
                 {"preemptions", p.point.preemptions}};
  if (p.replicas) {
    j["replicas"] = *p.replicas;
    j["monthly_cost"] = round_to(*p.monthly_cost, 6);
  }
  return j;
}

nlohmann::ordered_json profiles_json(const SearchResult& result) {
  nlohmann::ordered_json j;
  j["profiles"] = nlohmann::ordered_json::array();
  for (const auto& p : result.profiles) j["profiles"].push_back(profile_json(p));
  j["skipped"] = nlohmann::ordered_json::array();
  for (const auto& s : result.skipped) {
    nlohmann::ordered_json e{{"model", s.model},
                             {"accelerator", s.accelerator},
                             {"accelerator_count", s.accelerator_count},
                             {"why", s.why}};
    if (s.best) e["best_achievable"] = point_json(*s.best);
    j["skipped"].push_back(e);
  }
  j["search"] = {{"setups", result.setups},
                 {"simulations", result.simulations},
                 {"wall_seconds", round_to(result.wall_seconds, 3)}};
  return j;
}

Table profiles_table(const nlohmann::ordered_json& profiles, bool with_replicas) {
  Table t;
  t.columns = {"instance_type", "accelerator",  "count",
               "$/hour",        "cost/m_input", "cost/m_output",
               "output_tok/s",  "ntpot_ms",     "ttft_ms",
               "model_server",  "model",        "input_tok/s",
               "req/s",         "itl_ms",       "pct",
               "goodput_req/s", "max_num_seqs", "max_batched_tokens"};
  if (with_replicas) {
    t.columns.push_back("replicas");
    t.columns.push_back("$/month");
  }
  const auto fixed = [](double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); };
  for (const auto& p : profiles) {
    std::vector<std::string> row{cell_text(p["instance_type"]),
                                 p["accelerator"].get<std::string>(),
                                 cell_text(p["accelerator_count"]),
                                 fixed(p["price_per_hour"].get<double>(), 2),
                                 fixed(p["cost_per_million_input_tokens"].get<double>(), 3),
                                 fixed(p["cost_per_million_output_tokens"].get<double>(), 3),
                                 fixed(p["output_tokens_per_second"].get<double>(), 0),
                                 fixed(p["ntpot_ms"].get<double>(), 1),
                                 fixed(p["ttft_ms"].get<double>(), 0),
                                 p["model_server"].get<std::string>(),
                                 p["model"].get<std::string>(),
                                 fixed(p["input_tokens_per_second"].get<double>(), 0),
                                 fixed(p["requests_per_second"].get<double>(), 2),
                                 fixed(p["itl_ms"].get<double>(), 1),
                                 fmt::format("p{}", p["percentile"].get<int>()),
                                 fixed(p["goodput_requests_per_second"].get<double>(), 2),
                                 cell_text(p["settings"]["max_num_seqs"]),
                                 cell_text(p["settings"]["max_num_batched_tokens"])};
    if (with_replicas) {
      row.push_back(p.contains("replicas") ? cell_text(p["replicas"]) : "-");
      row.push_back(p.contains("monthly_cost") ? fixed(p["monthly_cost"].get<double>(), 0) : "-");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace kgai::quickstart
