#include "gateway/outlier_detector.h"

#include <algorithm>

#include "common/log.h"

namespace kgai::gateway {

namespace {
constexpr int kMaxLevel = 20;  // 2^20 x base is far past any sane max_ejection
}

void OutlierDetector::success(const EndpointState& endpoint) const {
  if (!endpoint.load) return;
  std::lock_guard lock(endpoint.load->outlier_mutex);
  endpoint.load->consecutive_failures = 0;
}

bool OutlierDetector::failure(const PoolSnapshot& pool, uint32_t index, SteadyTime now) const {
  if (options_.consecutive_failures <= 0 || index >= pool.endpoints.size()) return false;
  const EndpointState& endpoint = pool.endpoints[index];
  if (!endpoint.load) return false;
  EndpointLoad& load = *endpoint.load;
  std::lock_guard lock(load.outlier_mutex);
  // Failures of requests sent before the ejection, reported while it lasts, change nothing.
  if (endpoint.ejected(now)) return false;
  if (++load.consecutive_failures < options_.consecutive_failures) return false;

  // Never eject past the share of the pool the operator allows.
  size_t ejected = 0;
  for (const auto& other : pool.endpoints) ejected += other.ejected(now) ? 1 : 0;
  const size_t n = pool.endpoints.size();
  if ((ejected + 1) * 100 > static_cast<size_t>(options_.max_ejection_percent) * n) return false;

  // Forgive one level per base period spent since the last ejection ended.
  const int64_t last_end = load.ejected_until.load(std::memory_order_relaxed);
  const auto base = std::chrono::duration_cast<SteadyTime::duration>(options_.base_ejection);
  if (last_end != 0 && base.count() > 0) {
    const int64_t clean = now.time_since_epoch().count() - last_end;
    const int64_t periods = std::max<int64_t>(0, clean / base.count());
    load.ejection_level = static_cast<int>(
        std::max<int64_t>(0, load.ejection_level - std::min<int64_t>(periods, kMaxLevel)));
  }
  auto duration = base * (int64_t{1} << std::min(load.ejection_level, kMaxLevel));
  duration =
      std::min(duration, std::chrono::duration_cast<SteadyTime::duration>(options_.max_ejection));
  load.ejected_until.store((now + duration).time_since_epoch().count(), std::memory_order_relaxed);
  load.ejections.fetch_add(1, std::memory_order_relaxed);
  load.ejection_level = std::min(load.ejection_level + 1, kMaxLevel);
  load.consecutive_failures = 0;
  log::warn("gateway: endpoint {} ejected for {} ms after {} failed requests in a row",
            endpoint.endpoint ? endpoint.endpoint->address : "?",
            std::chrono::duration_cast<std::chrono::milliseconds>(duration).count(),
            options_.consecutive_failures);
  return true;
}

}  // namespace kgai::gateway
