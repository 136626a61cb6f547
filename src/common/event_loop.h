// A single-threaded event loop (an asio io_context underneath, hidden from this header so
// that only src/common compiles Boost.Asio). Everything attached to a loop — servers,
// timers, the simulator's replicas — runs on the thread that calls run(), so none of it
// needs locks.
#pragma once

#include <functional>
#include <memory>

#include "common/clock.h"

namespace kgai {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs handlers until stop() is called (it does not return when idle).
  void run();
  // Thread-safe; run() returns soon after.
  void stop();
  // Thread-safe: runs `fn` on the loop's thread.
  void post(std::function<void()> fn);

  // For src/common internals (the HTTP server and timers): the asio::io_context.
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// A one-shot timer that can be re-armed. Arming while armed replaces the pending callback
// (the old one is not called). Destroying or cancelling it guarantees the callback is not
// called afterwards. Must be used on the loop's thread.
class Timer {
 public:
  explicit Timer(EventLoop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void arm(SteadyTime when, std::function<void()> callback);
  void cancel();
  bool armed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kgai
