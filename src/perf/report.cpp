#include "perf/report.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/text_file.h"
#include "perf/records_file.h"
#include "perf/report_html.h"

namespace kgai::perf {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

double ms(double seconds) { return seconds * 1e3; }

void append_block(std::string& out, const std::string& title, const LifecycleSamples& s,
                  double requested_rate) {
  const double send_duration = s.count > 1 ? s.last_sent - s.first_sent : 0.0;
  const double window = s.count ? s.last_end - s.first_sent : 0.0;
  const double per_sec = window > 0 ? 1.0 / window : 0.0;
  auto line = [&](std::string_view name, std::string value) {
    fmt::format_to(std::back_inserter(out), "{:<40}{:>12}\n", name, value);
  };
  fmt::format_to(std::back_inserter(out), "{:=^52}\n", fmt::format(" {} ", title));
  line("Successful requests:", fmt::format("{}", s.successes));
  line("Failed requests:", fmt::format("{}", s.count - s.successes));
  if (requested_rate > 0) line("Requested rate (req/s):", fmt::format("{:.2f}", requested_rate));
  line("Achieved send rate (req/s):",
       fmt::format("{:.2f}", send_duration > 0 ? s.count / send_duration : 0.0));
  line("Duration (s):", fmt::format("{:.2f}", window));
  line("Total input tokens:", fmt::format("{}", s.input_tokens));
  line("Total generated tokens:", fmt::format("{}", s.output_tokens));
  line("Request throughput (req/s):", fmt::format("{:.2f}", s.successes * per_sec));
  line("Output token throughput (tok/s):", fmt::format("{:.2f}", s.output_tokens * per_sec));
  line("Total token throughput (tok/s):",
       fmt::format("{:.2f}", (s.input_tokens + s.output_tokens) * per_sec));
  if (s.good_requests != s.successes) {
    line("Goodput (req/s):", fmt::format("{:.2f}", s.good_requests * per_sec));
  }
  auto section = [&](std::string_view name, const stats::Samples& d) {
    if (d.empty()) return;
    fmt::format_to(std::back_inserter(out), "{:-^52}\n", fmt::format("{}", name));
    line(fmt::format("Mean {} (ms):", name), fmt::format("{:.2f}", ms(d.mean())));
    line("Median (ms):", fmt::format("{:.2f}", ms(d.percentile(50))));
    line("P90 (ms):", fmt::format("{:.2f}", ms(d.percentile(90))));
    line("P99 (ms):", fmt::format("{:.2f}", ms(d.percentile(99))));
  };
  section("TTFT", s.ttft);
  section("TPOT", s.tpot);
  section("ITL", s.itl);
  section("E2E latency", s.request_latency);
  section("Schedule delay", s.schedule_delay);
  for (const auto& [label, n] : s.failures_by_label)
    line(fmt::format("Failures ({}):", label), fmt::format("{}", n));
}

// What the model server itself reported (perf/server_metrics.h), under the client's figures:
// queueing, KV-cache pressure, prefix-cache hits and preemptions explain a slow stage. Values
// the server does not expose print as "-".
void append_server_block(std::string& out, const nlohmann::json& m) {
  if (!m.is_object()) return;
  auto number = [&](std::initializer_list<const char*> path) -> std::optional<double> {
    const nlohmann::json* at = &m;
    for (const char* key : path) {
      if (!at->is_object() || !at->contains(key)) return std::nullopt;
      at = &(*at)[key];
    }
    if (!at->is_number()) return std::nullopt;
    return at->get<double>();
  };
  auto text = [](std::optional<double> v, double scale, int precision) {
    return v ? fmt::format("{:.{}f}", *v * scale, precision) : std::string("-");
  };
  auto pair = [&](const char* metric, double scale, int precision) {
    return fmt::format("{} / {}", text(number({metric, "mean"}), scale, precision),
                       text(number({metric, "max"}), scale, precision));
  };
  auto line = [&](std::string_view name, const std::string& value) {
    fmt::format_to(std::back_inserter(out), "{:<40}{:>12}\n", name, value);
  };
  const std::string source =
      m.value("source", "direct") == "prometheus" ? "Prometheus" : "/metrics";
  fmt::format_to(std::back_inserter(out), "{:-^52}\n", fmt::format("Server ({})", source));
  line("KV cache use mean / max (%):", pair("kv_cache_usage", 100, 1));
  line("Waiting requests mean / max:", pair("num_requests_waiting", 1, 1));
  line("Running requests mean / max:", pair("num_requests_running", 1, 1));
  line("Prefix cache hit rate (%):", text(number({"prefix_cache_hit_rate"}), 100, 1));
  line("Preemptions:", text(number({"num_preemptions"}), 1, 0));
  line("Server TTFT mean (ms):", text(number({"time_to_first_token", "mean"}), 1e3, 2));
  line("Server E2E latency mean (ms):", text(number({"request_latency", "mean"}), 1e3, 2));
  const auto errors = number({"scrape_errors"});
  if (errors && *errors > 0) line("Scrape/query errors:", text(errors, 1, 0));
}

}  // namespace

nlohmann::json stage_plan_json(const StagePlan& plan) {
  return {{"index", plan.index},
          {"rate", plan.rate},
          {"duration", plan.duration},
          {"concurrency", plan.concurrency},
          {"num_requests", plan.num_requests}};
}

std::string resolve_output_dir(const std::string& pattern) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  std::string out = pattern;
  for (size_t at; (at = out.find("{timestamp}")) != std::string::npos;) {
    out.replace(at, std::strlen("{timestamp}"), stamp);
  }
  return out;
}

nlohmann::json machine_json() {
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  return {{"hostname", host},
          {"cpus", std::thread::hardware_concurrency()},
          {"cpu_model", cpu_model()}};
}

Result<void> write_reports(const RunResult& run, const PerfConfig& config, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("cannot create {}: {}", dir, ec.message());
  const std::filesystem::path base(dir);
  const std::string& prefix = config.storage.report_file_prefix;
  const auto& percentiles = config.report.percentiles;
  const auto& goodput = config.report.goodput;
  auto put = [&](const std::string& name, const std::string& text) {
    return write_text_file((base / (prefix + name)).string(), text);
  };

  if (config.report.summary) {
    auto j = lifecycle_json(run.summary, percentiles, goodput);
    if (auto r = put("summary_lifecycle_metrics.json", j.dump(2)); !r) return r;
  }
  if (config.report.per_stage) {
    for (const auto& stage : run.stages) {
      auto j = lifecycle_json(stage.samples, percentiles, goodput);
      j["stage"] = {{"index", stage.plan.index},
                    {"rate", stage.plan.rate},
                    {"duration", stage.plan.duration},
                    {"concurrency", stage.plan.concurrency},
                    {"start", stage.start},
                    {"end", stage.end}};
      if (auto r = put(fmt::format("stage_{}_lifecycle_metrics.json", stage.plan.index), j.dump(2));
          !r) {
        return r;
      }
    }
  }
  if (config.report.per_request) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& stage : run.stages) {
      for (const auto& r : stage.records) all.push_back(request_json(r));
    }
    if (auto r = put("per_request_lifecycle_metrics.json", all.dump(1)); !r) return r;
  }
  if (config.report.prometheus_summary && !run.server_metrics.is_null()) {
    if (auto r = put("summary_prometheus_metrics.json", run.server_metrics.dump(2)); !r) return r;
  }
  if (config.report.prometheus_per_stage) {
    for (const auto& stage : run.stages) {
      if (stage.server_metrics.is_null()) continue;
      auto name = fmt::format("stage_{}_prometheus_metrics.json", stage.plan.index);
      if (auto r = put(name, stage.server_metrics.dump(2)); !r) return r;
    }
  }
  if (auto r = put("config.yaml", to_yaml(config)); !r) return r;

  if (run.shard.active()) {
    std::vector<const RequestRecord*> records;
    for (const auto& stage : run.stages) {
      for (const auto& r : stage.records) records.push_back(&r);
    }
    if (auto r = write_records_file((base / (prefix + kRecordsFile)).string(), records); !r) {
      return r;
    }
  }

  const nlohmann::json machine = machine_json();
  nlohmann::json plans = nlohmann::json::array();
  for (const auto& stage : run.stages) plans.push_back(stage_plan_json(stage.whole));
  nlohmann::json meta = {
      {"tool", "kgai perf"},
      {"model", run.model},
      {"base_url", run.base_url},
      {"seed", config.load.base_seed},
      {"wall_seconds", run.wall_seconds},
      {"stages", run.stages.size()},
      {"stage_plans", plans},
      {"machine", machine},
  };
  if (run.saturation_rate > 0) meta["saturation_rate"] = run.saturation_rate;
  if (run.start_at > 0) meta["start_at"] = run.start_at;
  if (run.shard.active()) {
    meta["shard"] = {{"index", run.shard.index}, {"count", run.shard.count}};
  }
  if (run.run_info.is_object()) meta.update(run.run_info);
  if (auto r = put("kgai_run.json", meta.dump(2)); !r) return r;
  return put("report.html", render_html_report(run, config, machine));
}

std::string console_summary(const RunResult& run, const PerfConfig& config) {
  (void)config;
  std::string out;
  if (run.stages.size() > 1) {
    for (const auto& stage : run.stages) {
      append_block(out, fmt::format("Stage {}", stage.plan.index), stage.samples, stage.plan.rate);
      append_server_block(out, stage.server_metrics);
    }
  }
  append_block(out, "Serving Benchmark Result", run.summary,
               run.stages.size() == 1 ? run.stages[0].plan.rate : 0.0);
  append_server_block(out, run.server_metrics);
  fmt::format_to(std::back_inserter(out), "{:=^52}\n", "");
  return out;
}

}  // namespace kgai::perf
