// Clocks. The simulator's engine never reads a clock itself: its drivers pass "now" in
// seconds. A RealClock maps the wall clock onto simulated seconds (optionally running
// faster than real time); a VirtualClock is advanced by hand by a discrete-event loop.
#pragma once

#include <chrono>

namespace kgai {

using SteadyTime = std::chrono::steady_clock::time_point;

// Simulated time, in seconds, derived from the steady clock:
//   sim = (wall - start) * time_scale
// so with time_scale = 10 one wall second covers ten simulated seconds.
class RealClock {
 public:
  explicit RealClock(double time_scale = 1.0)
      : start_(std::chrono::steady_clock::now()), time_scale_(time_scale) {}

  double now() const { return to_sim(std::chrono::steady_clock::now()); }
  double time_scale() const { return time_scale_; }

  double to_sim(SteadyTime wall) const {
    return std::chrono::duration<double>(wall - start_).count() * time_scale_;
  }
  SteadyTime to_wall(double sim_seconds) const {
    return start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(sim_seconds / time_scale_));
  }

 private:
  SteadyTime start_;
  double time_scale_;
};

// A clock that only moves when told to. Time never goes backwards.
class VirtualClock {
 public:
  double now() const { return now_; }
  void advance_to(double t) {
    if (t > now_) now_ = t;
  }
  void advance_by(double dt) {
    if (dt > 0) now_ += dt;
  }

 private:
  double now_ = 0.0;
};

// Seconds since the Unix epoch, for metrics that carry wall time (vLLM's *_info gauges).
inline double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace kgai
