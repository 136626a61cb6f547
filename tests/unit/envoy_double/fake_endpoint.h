// A model-server stand-in for the Envoy double's tests: POST echoes the request body back (with
// the endpoint's name in a header), and /sse streams a few events with pauses between them.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/event_loop.h"
#include "common/http.h"
#include "common/http_server.h"
#include "unit/common/http_test_util.h"

namespace kgai::testing {

class FakeEndpoint {
 public:
  static constexpr int kSseEvents = 5;
  static constexpr std::chrono::milliseconds kSseGap{100};

  FakeEndpoint()
      : server_(loop_, http::ServerOptions{},
                [this](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
                  handle(std::move(request), std::move(stream));
                }) {
    auto port = server_.listen();
    port_ = port ? *port : 0;
    runner_ = std::make_unique<LoopThread>(loop_);
  }
  ~FakeEndpoint() {
    runner_.reset();
    server_.stop();
    timers_.clear();
  }

  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
  std::vector<http::Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    if (request.path() == "/sse") {
      stream->start(200, {{"Content-Type", "text/event-stream"}});
      timers_.push_back(std::make_unique<Timer>(loop_));
      sse_step(stream, timers_.back().get(), 0);
      return;
    }
    stream->respond(http::Response{
        200, {{"Content-Type", "application/json"}, {"X-Endpoint", address()}}, request.body});
  }

  // The timers live as long as the endpoint (the loop's thread only), so a callback holding
  // its stream never keeps its own timer alive.
  void sse_step(std::shared_ptr<http::ResponseStream> stream, Timer* timer, int i) {
    if (!stream->is_open()) return;
    if (i == kSseEvents) {
      stream->write("data: [DONE]\n\n");
      stream->finish();
      return;
    }
    stream->write(fmt::format("data: {}\n\n", i));
    timer->arm(std::chrono::steady_clock::now() + kSseGap,
               [this, stream, timer, i] { sse_step(stream, timer, i + 1); });
  }

  EventLoop loop_;
  http::Server server_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<http::Request> requests_;
  std::vector<std::unique_ptr<Timer>> timers_;
  std::unique_ptr<LoopThread> runner_;
};

}  // namespace kgai::testing
