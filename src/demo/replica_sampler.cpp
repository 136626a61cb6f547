#include "demo/replica_sampler.h"

#include <fmt/format.h>

#include "common/http_client.h"
#include "common/prometheus.h"

namespace kgai::demo {
namespace {

// The sum of a family's samples (a replica reports one per model; counters may also carry
// a finish-reason label).
double family_sum(const prom::Exposition& page, std::string_view name,
                  std::string_view sample_suffix = "") {
  const prom::MetricFamily* family = page.find(name);
  if (!family) return 0;
  double sum = 0;
  for (const auto& s : family->samples) {
    if (!sample_suffix.empty() && !s.name.ends_with(sample_suffix)) continue;
    if (s.name.ends_with("_created")) continue;
    sum += s.value;
  }
  return sum;
}

}  // namespace

Result<ReplicaCounters> read_replica_counters(std::string_view text) {
  auto page = prom::parse_text(text);
  if (!page) return fail("replica /metrics: {}", page.error().message);
  ReplicaCounters c;
  c.running = family_sum(*page, "vllm:num_requests_running");
  c.waiting = family_sum(*page, "vllm:num_requests_waiting");
  c.prefix_hits = family_sum(*page, "vllm:prefix_cache_hits");
  c.prefix_queries = family_sum(*page, "vllm:prefix_cache_queries");
  c.requests = family_sum(*page, "vllm:request_success");
  return c;
}

ReplicaSampler::ReplicaSampler(std::vector<std::string> urls, std::chrono::milliseconds interval)
    : urls_(std::move(urls)), interval_(interval) {
  for (size_t i = 0; i < urls_.size(); ++i) {
    ReplicaSeries s;
    s.name = fmt::format("replica {} ({})", i, urls_[i].substr(urls_[i].find("//") + 2));
    series_.push_back(std::move(s));
  }
}

ReplicaSampler::~ReplicaSampler() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

Result<std::vector<ReplicaCounters>> ReplicaSampler::read_all() const {
  std::vector<ReplicaCounters> out;
  http::ClientOptions options;
  options.connect_timeout = std::chrono::seconds(2);
  options.request_timeout = std::chrono::seconds(5);
  for (const auto& url : urls_) {
    auto response = http::get(url + "/metrics", options);
    if (!response) return fail("{}/metrics: {}", url, response.error().message);
    if (response->status != 200) return fail("{}/metrics: status {}", url, response->status);
    auto counters = read_replica_counters(response->body);
    if (!counters) return fail("{}: {}", url, counters.error().message);
    out.push_back(*counters);
  }
  return out;
}

Result<void> ReplicaSampler::start() {
  auto first = read_all();
  if (!first) return fail(first.error());
  first_ = *first;
  started_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
  return {};
}

void ReplicaSampler::run() {
  while (!stopping_) {
    const auto next = std::chrono::steady_clock::now() + interval_;
    auto all = read_all();  // a failed read (replica busy past the timeout) leaves a gap
    if (all) {
      const double t =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      std::lock_guard lock(mutex_);
      for (size_t i = 0; i < all->size() && i < series_.size(); ++i) {
        series_[i].seconds.push_back(t);
        series_[i].running.push_back((*all)[i].running);
        series_[i].waiting.push_back((*all)[i].waiting);
      }
    }
    while (!stopping_ && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

Result<void> ReplicaSampler::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  auto last = read_all();
  if (!last) return fail(last.error());
  last_ = *last;
  return {};
}

std::vector<ReplicaSeries> ReplicaSampler::series() const {
  std::lock_guard lock(mutex_);
  return series_;
}

std::optional<double> ReplicaSampler::prefix_hit_rate() const {
  double hits = 0, queries = 0;
  for (size_t i = 0; i < first_.size() && i < last_.size(); ++i) {
    hits += last_[i].prefix_hits - first_[i].prefix_hits;
    queries += last_[i].prefix_queries - first_[i].prefix_queries;
  }
  if (!(queries > 0)) return std::nullopt;
  return hits / queries;
}

std::vector<int64_t> ReplicaSampler::requests_per_replica() const {
  std::vector<int64_t> out;
  for (size_t i = 0; i < first_.size() && i < last_.size(); ++i) {
    out.push_back(static_cast<int64_t>(last_[i].requests - first_[i].requests + 0.5));
  }
  return out;
}

}  // namespace kgai::demo
