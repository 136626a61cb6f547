#include "gateway/scheduler.h"

#include <algorithm>

#include <fmt/format.h>

namespace kgai::gateway {

namespace {

// Per-thread buffers: a decision allocates nothing once they have grown to the pool's size.
struct Scratch {
  Candidates candidates;
  std::vector<double> scores;
  std::vector<double> totals;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

Scheduler::Scheduler(SchedulingProfile profile, double stale_after_seconds)
    : profile_(std::move(profile)), stale_after_(stale_after_seconds) {}

Decision Scheduler::schedule(SchedulingContext& context) const {
  Decision decision;
  Scratch& s = scratch();
  Candidates& candidates = s.candidates;
  candidates.clear();
  const auto& endpoints = context.pool->endpoints;
  // Ready endpoints (healthy, not ejected) with fresh metrics. If scraping lags everywhere,
  // the ready ones still serve (on old figures) rather than nobody; if outlier detection
  // ejected every healthy one, they serve too (Envoy's panic mode: a gateway that refuses
  // everything helps nobody).
  // A subset entry names an endpoint ("host:port") or a host (every port of it).
  auto in_subset = [&](const EndpointState& e) {
    if (context.subset.empty()) return true;
    return std::any_of(context.subset.begin(), context.subset.end(), [&](const std::string& s) {
      return s == e.endpoint->address || s == e.endpoint->host;
    });
  };
  auto gather = [&](auto&& admit) {
    for (uint32_t i = 0; i < endpoints.size(); ++i) {
      if (admit(endpoints[i]) && in_subset(endpoints[i])) candidates.push_back(i);
    }
  };
  const SteadyTime now = context.now;
  gather(
      [&](const EndpointState& e) { return e.ready(now) && e.metrics_age(now) <= stale_after_; });
  if (candidates.empty()) gather([&](const EndpointState& e) { return e.ready(now); });
  if (candidates.empty()) gather([&](const EndpointState& e) { return e.healthy; });
  if (candidates.empty()) {
    decision.reason = endpoints.empty()        ? "no endpoints configured"
                      : context.subset.empty() ? "no healthy endpoint"
                                               : "no healthy endpoint in the subset hint";
    return decision;
  }
  for (const auto& [name, filter] : profile_.filters) {
    filter->filter(context, candidates);
    if (context.trace) {
      fmt::format_to(std::back_inserter(context.trace_text), "filter {}: {} left; ", name,
                     candidates.size());
    }
    if (candidates.empty()) {
      decision.reason = fmt::format("filter {} removed every endpoint", name);
      return decision;
    }
  }
  const size_t n = candidates.size();
  s.totals.assign(n, 0.0);
  s.scores.resize(n);
  for (const auto& weighted : profile_.scorers) {
    std::span<double> scores(s.scores.data(), n);
    std::fill(scores.begin(), scores.end(), 0.0);
    weighted.scorer->score(context, candidates, scores);
    for (size_t i = 0; i < n; ++i) {
      s.totals[i] += weighted.weight * std::clamp(scores[i], 0.0, 1.0);
    }
    if (context.trace) {
      fmt::format_to(std::back_inserter(context.trace_text), "{} (x{}):", weighted.name,
                     weighted.weight);
      for (size_t i = 0; i < n; ++i) {
        fmt::format_to(std::back_inserter(context.trace_text), " {}={:.3f}",
                       endpoints[candidates[i]].endpoint->address, scores[i]);
      }
      context.trace_text += "; ";
    }
  }
  profile_.picker.second->pick(context, candidates, std::span<const double>(s.totals.data(), n),
                               decision.ranked);
  if (context.trace) {
    context.trace_text += "total:";
    for (size_t i = 0; i < n; ++i) {
      fmt::format_to(std::back_inserter(context.trace_text), " {}={:.3f}",
                     endpoints[candidates[i]].endpoint->address, s.totals[i]);
    }
    fmt::format_to(std::back_inserter(context.trace_text), "; {} picked:", profile_.picker.first);
    for (uint32_t index : decision.ranked) {
      fmt::format_to(std::back_inserter(context.trace_text), " {}",
                     endpoints[index].endpoint->address);
    }
  }
  if (decision.ranked.empty()) decision.reason = "the picker chose no endpoint";
  return decision;
}

void Scheduler::picked(SchedulingContext& context, uint32_t index) const {
  for (const auto& hook : profile_.post_picks) hook->picked(context, context.endpoint(index));
}

}  // namespace kgai::gateway
