// The Director's periodic work, on one event loop of the caller's (not a data plane's, so a
// slow model list never holds up a request): flow control's tick every 20 ms (expire queued
// requests past their TTL, let queued ones go while there is capacity), readiness changes,
// and the list of models the pool serves, re-read from each ready endpoint's GET /v1/models.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "common/event_loop.h"
#include "gateway/director.h"

namespace kgai::gateway {

struct ControlTaskOptions {
  std::chrono::milliseconds tick{20};
  std::chrono::milliseconds models_refresh{5'000};
  std::chrono::milliseconds connect_timeout{2'000};
  // Told whether some endpoint is ready, at start and at each tick where that changed (the
  // ext_proc server's gRPC health follows it).
  std::function<void(bool ready)> on_readiness;
};

class ControlTasks {
 public:
  ControlTasks(EventLoop& loop, std::shared_ptr<Director> director,
               ControlTaskOptions options = {});
  ~ControlTasks();
  ControlTasks(const ControlTasks&) = delete;
  ControlTasks& operator=(const ControlTasks&) = delete;

  // Arms the timers (the first model list is asked for at once). Loop thread, or before the
  // loop runs.
  void start();
  // Cancels the timers and the model requests in flight. Loop thread.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kgai::gateway
