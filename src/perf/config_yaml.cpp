// to_yaml(): the config as Inference Perf would read it back, so a report folder's
// config.yaml both documents the run and reruns it (parse_config(to_yaml(c)) == c).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "perf/config.h"

namespace kgai::perf {
namespace {

// A small wrapper that keeps the emitting code one line per key.
class Writer {
 public:
  Writer() { out_ << YAML::BeginMap; }

  void begin(std::string_view key) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginMap;
  }
  void end() { out_ << YAML::EndMap; }
  void null(std::string_view key) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::Null;
  }

  void put(std::string_view key, const std::string& value) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::DoubleQuoted << value;
  }
  void put(std::string_view key, bool value) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::TrueFalseBool << value;
  }
  void put(std::string_view key, int64_t value) { scalar(key, fmt::format("{}", value)); }
  void put(std::string_view key, int value) { scalar(key, fmt::format("{}", value)); }
  void put(std::string_view key, uint64_t value) { scalar(key, fmt::format("{}", value)); }
  // fmt's shortest form reads back to the same double, which the emitter's fixed precision
  // does not guarantee.
  void put(std::string_view key, double value) { scalar(key, fmt::format("{}", value)); }
  void put(std::string_view key, const std::optional<double>& value) {
    if (value) {
      put(key, *value);
    } else {
      null(key);
    }
  }
  void put(std::string_view key, const std::vector<double>& values) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (double v : values) out_ << fmt::format("{}", v);
    out_ << YAML::EndSeq;
  }
  void put(std::string_view key, const std::vector<std::string>& values) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& v : values) out_ << YAML::DoubleQuoted << v;
    out_ << YAML::EndSeq;
  }
  void put(std::string_view key, const std::map<std::string, std::string>& values) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginMap;
    for (const auto& [name, value] : values) {
      out_ << YAML::Key << YAML::DoubleQuoted << name << YAML::Value << YAML::DoubleQuoted << value;
    }
    out_ << YAML::EndMap;
  }

  // Lists of maps: begin_list, then begin_item/put.../end for each, then end_list.
  void begin_list(std::string_view key) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginSeq;
  }
  void begin_item() { out_ << YAML::BeginMap; }
  void end_list() { out_ << YAML::EndSeq; }

  std::string finish() {
    out_ << YAML::EndMap;
    return std::string(out_.c_str()) + "\n";
  }

 private:
  void scalar(std::string_view key, const std::string& text) {
    out_ << YAML::Key << std::string(key) << YAML::Value << text;
  }

  YAML::Emitter out_;
};

void put_distribution(Writer& w, std::string_view key, const std::optional<Distribution>& d) {
  if (!d) return w.null(key);
  w.begin(key);
  w.put("min", d->min);
  w.put("max", d->max);
  w.put("mean", d->mean);
  w.put("std_dev", d->std_dev);
  w.put("total_count", d->total_count);
  w.end();
}

}  // namespace

std::string to_yaml(const PerfConfig& c) {
  Writer w;
  w.begin("api");
  w.put("type", c.api.type);
  w.put("streaming", c.api.streaming);
  w.put("headers", c.api.headers);
  w.end();

  w.begin("data");
  w.put("type", c.data.type);
  put_distribution(w, "input_distribution", c.data.input_distribution);
  put_distribution(w, "output_distribution", c.data.output_distribution);
  if (const auto& sp = c.data.shared_prefix) {
    w.begin("shared_prefix");
    w.put("num_groups", sp->num_groups);
    w.put("num_prompts_per_group", sp->num_prompts_per_group);
    w.put("system_prompt_len", sp->system_prompt_len);
    w.put("question_len", sp->question_len);
    w.put("output_len", sp->output_len);
    w.end();
  } else {
    w.null("shared_prefix");
  }
  w.put("path", c.data.path);
  w.end();

  const LoadConfig& load = c.load;
  w.begin("load");
  w.put("type", load.type);
  w.put("interval", load.interval);
  w.begin_list("stages");
  for (const StageConfig& s : load.stages) {
    w.begin_item();
    w.put("rate", s.rate);
    w.put("duration", s.duration);
    w.put("num_requests", s.num_requests);
    w.put("concurrency_level", s.concurrency_level);
    w.end();
  }
  w.end_list();
  if (load.sweep) {
    w.begin("sweep");
    w.put("type", load.sweep->type);
    w.put("num_requests", load.sweep->num_requests);
    w.put("timeout", load.sweep->timeout);
    w.put("num_stages", load.sweep->num_stages);
    w.put("stage_duration", load.sweep->stage_duration);
    w.put("saturation_percentile", load.sweep->saturation_percentile);
    w.end();
  } else {
    w.null("sweep");
  }
  w.put("num_workers", load.num_workers);
  w.put("worker_max_concurrency", load.worker_max_concurrency);
  w.put("worker_max_tcp_connections", load.worker_max_tcp_connections);
  w.put("request_timeout", load.request_timeout);
  w.begin_list("lora_traffic_split");
  for (const LoraSplit& s : load.lora_traffic_split) {
    w.begin_item();
    w.put("name", s.name);
    w.put("split", s.split);
    w.end();
  }
  w.end_list();
  w.put("base_seed", load.base_seed);
  w.put("burstiness", load.burstiness);
  w.end();

  w.begin("server");
  w.put("type", c.server.type);
  w.put("model_name", c.server.model_name);
  w.put("base_url", c.server.base_url);
  w.put("ignore_eos", c.server.ignore_eos);
  w.put("api_key", c.server.api_key);
  w.end();

  w.begin("metrics");
  w.put("type", c.metrics.type);
  w.put("scrape_interval", c.metrics.scrape_interval);
  if (const auto& p = c.metrics.prometheus) {
    w.begin("prometheus");
    w.put("url", p->url);
    w.put("scrape_interval", p->scrape_interval);
    w.put("filters", p->filters);
    w.end();
  } else {
    w.null("prometheus");
  }
  w.end();

  const ReportConfig& r = c.report;
  w.begin("report");
  w.begin("request_lifecycle");
  w.put("summary", r.summary);
  w.put("per_stage", r.per_stage);
  w.put("per_request", r.per_request);
  w.put("percentiles", r.percentiles);
  w.end();
  w.begin("prometheus");
  w.put("summary", r.prometheus_summary);
  w.put("per_stage", r.prometheus_per_stage);
  w.end();
  w.begin("goodput");
  w.begin("constraints");
  w.put("ttft", r.goodput.ttft);
  w.put("tpot", r.goodput.tpot);
  w.put("itl", r.goodput.itl);
  w.put("ntpot", r.goodput.ntpot);
  w.put("request_latency", r.goodput.request_latency);
  w.end();
  w.end();
  w.end();

  w.begin("storage");
  w.begin("local_storage");
  w.put("path", c.storage.path);
  w.put("report_file_prefix", c.storage.report_file_prefix);
  w.end();
  w.end();
  return w.finish();
}

}  // namespace kgai::perf
