#include "common/event_loop.h"

#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/asio_internal.h"

namespace kgai {

namespace asio = boost::asio;

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() {
  impl_->work.reset();
  // Handlers still queued are destroyed, not run, when the context goes away.
}

void EventLoop::run() {
  impl_->io.run();
  // A stop() that arrived before run() made it return at once; clearing the stopped state
  // afterwards (not before) lets a later run() work without losing that early stop().
  impl_->io.restart();
}

void EventLoop::stop() { impl_->io.stop(); }

void EventLoop::post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

// The callback lives in state shared with the pending wait's handler: the handler may run
// after the Timer is gone (asio delivers cancellations later), so it must not point into the
// Timer itself. The generation tells a stale completion (cancelled or replaced arm) apart.
struct TimerState {
  std::uint64_t generation = 0;
  bool armed = false;
  std::function<void()> callback;
};

struct Timer::Impl {
  explicit Impl(asio::io_context& io) : timer(io), state(std::make_shared<TimerState>()) {}
  asio::steady_timer timer;
  std::shared_ptr<TimerState> state;
};

Timer::Timer(EventLoop& loop) : impl_(std::make_unique<Impl>(io_context_of(loop))) {}

Timer::~Timer() { cancel(); }

void Timer::arm(SteadyTime when, std::function<void()> callback) {
  TimerState& state = *impl_->state;
  const std::uint64_t generation = ++state.generation;
  state.armed = true;
  state.callback = std::move(callback);
  impl_->timer.expires_at(when);  // cancels a pending wait; its handler sees an old generation
  impl_->timer.async_wait([state = impl_->state, generation](const boost::system::error_code&) {
    if (state->generation != generation || !state->armed) return;
    state->armed = false;
    // Moved out first: the callback may re-arm this timer or destroy it.
    auto callback = std::move(state->callback);
    state->callback = nullptr;
    callback();
  });
}

void Timer::cancel() {
  TimerState& state = *impl_->state;
  ++state.generation;
  state.armed = false;
  state.callback = nullptr;
  impl_->timer.cancel();
}

bool Timer::armed() const { return impl_->state->armed; }

}  // namespace kgai
