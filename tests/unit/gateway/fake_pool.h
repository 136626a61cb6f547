// A pool made by hand for the Director's tests (a PoolSource without scrapes or sockets).
#pragma once

#include <memory>
#include <vector>

#include "gateway/pool_source.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway::testing {

class FakePool final : public PoolSource {
 public:
  explicit FakePool(size_t n) { set(make_pool(n, SteadyTime::clock::now())); }
  void set(PoolSnapshot pool) { snapshot_ = std::make_shared<const PoolSnapshot>(std::move(pool)); }
  std::shared_ptr<const PoolSnapshot> snapshot() const override { return snapshot_; }
  void report_failure(uint32_t id, std::string_view) override { failures.push_back(id); }
  // Every endpoint's queue at `waiting` (saturated at 5 and more, the default threshold).
  void set_waiting(double waiting) {
    PoolSnapshot pool = *snapshot_;
    for (auto& e : pool.endpoints) {
      e.metrics.waiting = waiting;
      e.scraped_at = SteadyTime::clock::now();
    }
    set(std::move(pool));
  }
  const EndpointState& endpoint(size_t i) const { return snapshot_->endpoints[i]; }

  std::vector<uint32_t> failures;

 private:
  std::shared_ptr<const PoolSnapshot> snapshot_;
};

}  // namespace kgai::gateway::testing
