// Hand-made pools for plugin and scheduler tests.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gateway/scheduler.h"

namespace kgai::gateway::testing {

// A pool of `n` healthy endpoints 10.0.0.i:8000 with fresh, empty metrics.
inline PoolSnapshot make_pool(size_t n, SteadyTime now) {
  PoolSnapshot pool;
  pool.taken_at = now;
  for (size_t i = 0; i < n; ++i) {
    EndpointState s;
    s.id = static_cast<uint32_t>(i);
    auto e = std::make_shared<Endpoint>();
    e->host = "10.0.0." + std::to_string(i);
    e->port = 8000;
    e->address = e->host + ":8000";
    s.endpoint = e;
    s.healthy = true;
    s.scraped_at = now;
    s.metrics.waiting = 0;
    s.metrics.running = 0;
    s.metrics.kv_usage = 0;
    s.load = std::make_shared<EndpointLoad>();
    pool.endpoints.push_back(std::move(s));
  }
  return pool;
}

struct Cycle {
  RequestInfo request;
  PoolSnapshot pool;
  std::mt19937_64 rng{42};
  SchedulingContext context;

  explicit Cycle(size_t n) : pool(make_pool(n, SteadyTime::clock::now())) { reset(); }
  void reset() {
    context = SchedulingContext{};
    context.request = &request;
    context.pool = &pool;
    context.now = pool.taken_at;
    context.rng = &rng;
  }
  std::vector<uint32_t> all() const {
    std::vector<uint32_t> c;
    for (uint32_t i = 0; i < pool.endpoints.size(); ++i) c.push_back(i);
    return c;
  }
  std::vector<double> score(Scorer& scorer) {
    auto c = all();
    std::vector<double> s(c.size(), 0.0);  // the scheduler hands scorers zeroed scores
    scorer.score(context, c, s);
    return s;
  }
};

}  // namespace kgai::gateway::testing
