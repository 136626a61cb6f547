// One steady_timer serving a deadline that moves on every read and write: moving it later
// costs nothing (the timer re-arms itself when it fires early), only moving it earlier re-arms
// the timer. Shared by the HTTP server's and the upstream pool's connections. Private to
// src/common (it includes asio).
#pragma once

#include <utility>

#include <memory>

#include <boost/asio/steady_timer.hpp>

#include "common/clock.h"

namespace kgai {

// Owner: a class held by std::shared_ptr with enable_shared_from_this and a method
// `on_deadline_passed()`, called on the loop's thread once the deadline has passed. The
// pending wait keeps the owner alive.
template <typename Owner>
class LazyDeadline {
 public:
  static constexpr SteadyTime kNever = SteadyTime::max();

  LazyDeadline(const boost::asio::any_io_executor& executor, Owner* owner)
      : timer_(executor), owner_(owner) {}

  // kNever: no deadline.
  void set(SteadyTime deadline) {
    deadline_ = deadline;
    if (deadline < expiry_) arm();
  }

  // No deadline, and a pending wait is abandoned (the owner is closing).
  void cancel() {
    deadline_ = kNever;
    timer_.cancel();
  }

 private:
  void arm() {
    expiry_ = deadline_;
    timer_.expires_at(deadline_);
    timer_.async_wait(
        [this, self = owner_->shared_from_this()](const boost::system::error_code& ec) {
          if (ec == boost::asio::error::operation_aborted) return;
          expiry_ = kNever;
          if (deadline_ == kNever) return;
          if (deadline_ > std::chrono::steady_clock::now()) {
            arm();
            return;
          }
          self->on_deadline_passed();
        });
  }

  boost::asio::steady_timer timer_;
  Owner* owner_;
  SteadyTime deadline_ = kNever;
  SteadyTime expiry_ = kNever;  // when the pending wait fires (kNever: none pending)
};

}  // namespace kgai
