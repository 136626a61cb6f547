// Flow control: while the pool is saturated, requests wait in queues instead of piling onto
// model servers that are already full. As the Inference Gateway's flow control:
//  - priority bands (an objective's priority) are served strictly in order, highest first;
//  - within a band, flows (x-gateway-inference-fairness-id) share fairly: "round-robin" takes
//    one request from each waiting flow in turn, "global-strict" serves the band in arrival
//    order whatever the flow;
//  - within a flow, "fcfs" (arrival order) or "edf" (earliest deadline first);
//  - a request waits at most its TTL (then 503), and the queued bytes are bounded in total
//    and per band (a request that does not fit gets 429 at once).
// The controller only orders and times; the caller says when there is capacity (release())
// and does the sending. Thread-safe: proxy threads enqueue and release concurrently;
// callbacks run on the thread that calls release() / expire() / cancel(), outside the lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/config.h"

namespace kgai::gateway {

enum class FlowOutcome : uint8_t {
  kDispatch,   // go: send it now
  kRejected,   // the queues are full (429)
  kExpired,    // waited past its TTL (503)
  kCancelled,  // the client went away
};

class FlowController {
 public:
  using Callback = std::function<void(FlowOutcome)>;

  struct Stats {
    size_t queued = 0;
    int64_t queued_bytes = 0;
    std::map<int, size_t> queued_by_priority;
  };

  explicit FlowController(FlowControlConfig config);
  ~FlowController();

  // Queues a request. Returns a ticket for cancel(); `done` runs exactly once with the
  // outcome (kRejected may run before enqueue returns). `deadline` is arrival + TTL unless the
  // caller has an earlier one.
  uint64_t enqueue(int priority, const std::string& flow, int64_t bytes, SteadyTime arrival,
                   Callback done);

  // Dispatches queued requests in order while `has_capacity()` says yes (it is asked before
  // each one). Returns how many were dispatched.
  size_t release(const std::function<bool()>& has_capacity);

  // Ends every request whose deadline passed (kExpired).
  size_t expire(SteadyTime now);

  // Ends the request (kCancelled) if it still waits; false if it was already decided.
  bool cancel(uint64_t ticket);

  bool empty() const;
  Stats stats() const;
  // When the earliest waiting request expires (SteadyTime::max() if none).
  SteadyTime next_deadline() const;

 private:
  struct Item {
    uint64_t ticket;
    uint64_t sequence;  // arrival order
    SteadyTime deadline;
    int64_t bytes;
    std::string flow;
    Callback done;
  };
  struct Band;

  Band& band(int priority);
  // Removes and returns the next item of the highest non-empty band (lock held).
  bool pop_next(Item* out);
  void remove_bytes(int priority, int64_t bytes);

  const FlowControlConfig config_;
  mutable std::mutex mutex_;
  std::map<int, std::unique_ptr<Band>, std::greater<>> bands_;  // highest priority first
  std::map<uint64_t, int> ticket_priority_;                     // waiting tickets
  uint64_t next_ticket_ = 1;
  uint64_t next_sequence_ = 0;
  int64_t queued_bytes_ = 0;
  size_t queued_ = 0;
};

}  // namespace kgai::gateway
