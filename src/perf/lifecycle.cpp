#include "perf/lifecycle.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace kgai::perf {

namespace {

std::string percentile_key(double p) {
  if (p == 50) return "median";
  return fmt::format("p{}", p);
}

bool meets(const RequestRecord& r, double ttft, double tpot, double ntpot, double latency,
           double worst_itl, const GoodputConstraints& g) {
  if (g.ttft && ttft > *g.ttft) return false;
  if (g.tpot && tpot > *g.tpot) return false;
  if (g.ntpot && ntpot > *g.ntpot) return false;
  if (g.request_latency && latency > *g.request_latency) return false;
  if (g.itl && worst_itl > *g.itl) return false;
  (void)r;
  return true;
}

}  // namespace

void LifecycleSamples::add(const RequestRecord& r, const GoodputConstraints& goodput) {
  ++count;
  schedule_delay.add(r.schedule_delay());
  first_sent = first_sent < 0 ? r.sent : std::min(first_sent, r.sent);
  last_sent = std::max(last_sent, r.sent);
  last_end = std::max(last_end, r.end);
  const double latency = r.end - r.sent;
  if (!r.ok()) {
    failed_latency.add(latency);
    failed_prompt_len.add(r.input_tokens);
    std::string label(error_kind_name(r.error));
    if (r.error == ErrorKind::kHttpStatus) label = fmt::format("http_{}", r.http_status);
    ++failures_by_label[label];
    return;
  }
  ++successes;
  input_tokens += static_cast<uint64_t>(std::max(0, r.input_tokens));
  output_tokens += static_cast<uint64_t>(std::max(0, r.output_tokens));
  request_latency.add(latency);
  prompt_len.add(r.input_tokens);
  output_len.add(r.output_tokens);
  const double ttft_s = r.first_token >= 0 ? r.first_token - r.sent : latency;
  ttft.add(ttft_s);
  double tpot_s = 0;
  if (r.output_tokens > 1) {
    tpot_s = (r.end - (r.first_token >= 0 ? r.first_token : r.end)) / (r.output_tokens - 1);
    tpot.add(tpot_s);
  }
  const double ntpot_s = r.output_tokens > 0 ? latency / r.output_tokens : latency;
  if (r.output_tokens > 0) ntpot.add(ntpot_s);
  double worst_itl = 0;
  for (size_t i = 1; i < r.token_times.size(); ++i) {
    const double gap = static_cast<double>(r.token_times[i]) - r.token_times[i - 1];
    itl.add(gap);
    worst_itl = std::max(worst_itl, gap);
  }
  if (meets(r, ttft_s, tpot_s, ntpot_s, latency, worst_itl, goodput)) {
    ++good_requests;
    good_output_tokens += static_cast<uint64_t>(std::max(0, r.output_tokens));
  }
}

void LifecycleSamples::merge(const LifecycleSamples& o) {
  for (auto [mine, theirs] : {std::pair{&schedule_delay, &o.schedule_delay},
                              {&request_latency, &o.request_latency},
                              {&ttft, &o.ttft},
                              {&tpot, &o.tpot},
                              {&ntpot, &o.ntpot},
                              {&itl, &o.itl},
                              {&prompt_len, &o.prompt_len},
                              {&output_len, &o.output_len},
                              {&failed_latency, &o.failed_latency},
                              {&failed_prompt_len, &o.failed_prompt_len}}) {
    mine->merge(*theirs);
  }
  for (const auto& [label, n] : o.failures_by_label) failures_by_label[label] += n;
  count += o.count;
  successes += o.successes;
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  good_requests += o.good_requests;
  good_output_tokens += o.good_output_tokens;
  if (o.first_sent >= 0)
    first_sent = first_sent < 0 ? o.first_sent : std::min(first_sent, o.first_sent);
  last_sent = std::max(last_sent, o.last_sent);
  last_end = std::max(last_end, o.last_end);
  planned_duration += o.planned_duration;
  // A merged set's requested rate is its planned requests over its planned time.
  requested_rate = 0;
}

nlohmann::json distribution_json(const stats::Samples& s, const std::vector<double>& percentiles) {
  nlohmann::json j = nlohmann::json::object();
  if (s.empty()) return nullptr;
  j["mean"] = s.mean();
  j["min"] = s.min();
  for (double p : percentiles) j[percentile_key(p)] = s.percentile(p);
  j["max"] = s.max();
  return j;
}

nlohmann::json lifecycle_json(const LifecycleSamples& s, const std::vector<double>& percentiles,
                              const GoodputConstraints& goodput) {
  const double send_duration = s.count > 1 ? s.last_sent - s.first_sent : 0.0;
  // Throughput over the time requests were active: first send to last completion.
  const double window = s.count ? s.last_end - s.first_sent : 0.0;
  const double per_sec = window > 0 ? 1.0 / window : 0.0;
  nlohmann::json j;
  j["load_summary"] = {
      {"count", s.count},
      {"schedule_delay", distribution_json(s.schedule_delay, percentiles)},
      {"send_duration", send_duration},
      {"requested_rate",
       s.requested_rate > 0 ? nlohmann::json(s.requested_rate) : nlohmann::json(nullptr)},
      {"achieved_rate", send_duration > 0 ? static_cast<double>(s.count) / send_duration : 0.0},
  };
  j["successes"] = {
      {"count", s.successes},
      {"latency",
       {{"request_latency", distribution_json(s.request_latency, percentiles)},
        {"normalized_time_per_output_token", distribution_json(s.ntpot, percentiles)},
        {"time_per_output_token", distribution_json(s.tpot, percentiles)},
        {"time_to_first_token", distribution_json(s.ttft, percentiles)},
        {"inter_token_latency", distribution_json(s.itl, percentiles)}}},
      {"throughput",
       {{"input_tokens_per_sec", static_cast<double>(s.input_tokens) * per_sec},
        {"output_tokens_per_sec", static_cast<double>(s.output_tokens) * per_sec},
        {"total_tokens_per_sec", static_cast<double>(s.input_tokens + s.output_tokens) * per_sec},
        {"requests_per_sec", static_cast<double>(s.successes) * per_sec}}},
      {"prompt_len", distribution_json(s.prompt_len, percentiles)},
      {"output_len", distribution_json(s.output_len, percentiles)},
  };
  nlohmann::json by_label = nlohmann::json::object();
  for (const auto& [label, n] : s.failures_by_label) by_label[label] = n;
  j["failures"] = {{"count", s.count - s.successes},
                   {"request_latency", distribution_json(s.failed_latency, percentiles)},
                   {"prompt_len", distribution_json(s.failed_prompt_len, percentiles)},
                   {"by_label", by_label}};
  if (!goodput.empty()) {
    nlohmann::json constraints = nlohmann::json::object();
    if (goodput.ttft) constraints["ttft"] = *goodput.ttft;
    if (goodput.tpot) constraints["tpot"] = *goodput.tpot;
    if (goodput.itl) constraints["itl"] = *goodput.itl;
    if (goodput.ntpot) constraints["ntpot"] = *goodput.ntpot;
    if (goodput.request_latency) constraints["request_latency"] = *goodput.request_latency;
    j["goodput"] = {
        {"constraints", constraints},
        {"good_requests", s.good_requests},
        {"request_goodput", s.count ? static_cast<double>(s.good_requests) / s.count : 0.0},
        {"requests_per_sec", static_cast<double>(s.good_requests) * per_sec},
        {"output_tokens_per_sec", static_cast<double>(s.good_output_tokens) * per_sec},
    };
  }
  return j;
}

nlohmann::json request_json(const RequestRecord& r) {
  nlohmann::json j = {
      {"stage", r.stage},
      {"index", r.index},
      {"scheduled", r.scheduled},
      {"start_time", r.sent},
      {"end_time", r.end},
      {"first_token_time",
       r.first_token >= 0 ? nlohmann::json(r.first_token) : nlohmann::json(nullptr)},
      {"prompt_tokens", r.input_tokens},
      {"output_tokens", r.output_tokens},
      {"cached_tokens", r.cached_tokens},
      {"usage_reported", r.usage_reported},
      {"success", r.ok()},
  };
  if (!r.token_times.empty()) j["token_times"] = r.token_times;
  if (!r.lora.empty()) j["lora"] = r.lora;
  if (!r.ok()) {
    j["error"] = {{"kind", error_kind_name(r.error)},
                  {"http_status", r.http_status},
                  {"message", r.error_message}};
  }
  return j;
}

}  // namespace kgai::perf
