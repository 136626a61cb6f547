#include "extproc_load_recorder.h"

#include <fmt/format.h>

namespace kgai::bench {

namespace {

uint64_t total(const std::map<int, uint64_t>& m) {
  uint64_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

nlohmann::json keyed(const std::map<int, uint64_t>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[std::to_string(k)] = v;
  return j;
}

}  // namespace

std::string Distribution::line() const {
  if (samples.empty()) return "no samples";
  return fmt::format(
      "p50 {:.3f} ms, p90 {:.3f}, p99 {:.3f}, p99.9 {:.3f}, max {:.3f}, mean {:.3f} (n {})",
      samples.percentile(50), samples.percentile(90), samples.percentile(99),
      samples.percentile(99.9), samples.max(), samples.mean(), samples.count());
}

nlohmann::json Distribution::to_json() const {
  nlohmann::json j = {{"count", samples.count()}};
  if (samples.empty()) return j;
  j.update({{"p50_ms", samples.percentile(50)},
            {"p90_ms", samples.percentile(90)},
            {"p99_ms", samples.percentile(99)},
            {"p999_ms", samples.percentile(99.9)},
            {"max_ms", samples.max()},
            {"min_ms", samples.min()},
            {"mean_ms", samples.mean()}});
  nlohmann::json b = nlohmann::json::array();
  for (const auto& [upper, count] : buckets.buckets()) b.push_back({upper, count});
  j["buckets_ms_upper_count"] = std::move(b);
  return j;
}

void Recorder::add(const StreamResult& r) {
  std::lock_guard lock(mutex_);
  ++streams_;
  if (r.ok()) {
    ++ok_;
    ++destinations_[r.destination.substr(0, r.destination.find(','))];
    decision_.add(to_ms(r.times.decision - r.times.headers_sent));
    request_.add(to_ms(r.times.request_done - r.times.headers_sent));
    stream_.add(to_ms(r.times.done - r.times.start));
    return;
  }
  if (r.immediate_status != 0) {
    ++immediate_[r.immediate_status];
  } else if (r.grpc_code != 0) {
    ++grpc_errors_[r.grpc_code];
  } else if (!r.error.empty()) {
    ++protocol_errors_;
  } else {
    ++no_destination_;
  }
  if (examples_.size() < 5) {
    examples_.push_back(fmt::format("grpc {} \"{}\" immediate {} error \"{}\"", r.grpc_code,
                                    r.grpc_message, r.immediate_status, r.error));
  }
}

void Recorder::add_schedule_delay(double delay_ms) {
  std::lock_guard lock(mutex_);
  schedule_delay_.add(delay_ms);
}

uint64_t Recorder::ok() const {
  std::lock_guard lock(mutex_);
  return ok_;
}

uint64_t Recorder::failed() const {
  std::lock_guard lock(mutex_);
  return streams_ - ok_;
}

void Recorder::print(double window_s) const {
  std::lock_guard lock(mutex_);
  fmt::print(
      "streams: {} ok, {} failed ({} immediate responses, {} gRPC errors, {} without a "
      "destination, {} protocol surprises); {:.1f} streams/s\n",
      ok_, streams_ - ok_, total(immediate_), total(grpc_errors_), no_destination_,
      protocol_errors_, window_s > 0 ? static_cast<double>(ok_) / window_s : 0.0);
  for (const auto& e : examples_) fmt::print("  failure: {}\n", e);
  fmt::print("decision (request_headers sent -> headers answer): {}\n", decision_.line());
  fmt::print("request phases (request_headers sent -> body echoed to its end): {}\n",
             request_.line());
  fmt::print("whole stream (start -> status): {}\n", stream_.line());
  if (!schedule_delay_.samples.empty()) {
    fmt::print("schedule delay (open loop, start late vs its arrival): {}\n",
               schedule_delay_.line());
  }
  std::string spread;
  for (const auto& [d, n] : destinations_) spread += fmt::format(" {}={}", d, n);
  fmt::print("primary destinations:{}\n", spread);
}

nlohmann::json Recorder::to_json(double window_s) const {
  std::lock_guard lock(mutex_);
  nlohmann::json d = nlohmann::json::object();
  for (const auto& [k, v] : destinations_) d[k] = v;
  return {{"streams", streams_},
          {"ok", ok_},
          {"failed", streams_ - ok_},
          {"immediate_responses", keyed(immediate_)},
          {"grpc_errors", keyed(grpc_errors_)},
          {"no_destination", no_destination_},
          {"protocol_surprises", protocol_errors_},
          {"failure_examples", examples_},
          {"window_s", window_s},
          {"ok_streams_per_s", window_s > 0 ? static_cast<double>(ok_) / window_s : 0.0},
          {"decision", decision_.to_json()},
          {"request_phases", request_.to_json()},
          {"stream", stream_.to_json()},
          {"schedule_delay", schedule_delay_.to_json()},
          {"destinations", d}};
}

}  // namespace kgai::bench
