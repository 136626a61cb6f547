// A model server's /metrics for datastore tests: kgai's HTTP server on 127.0.0.1 with a page
// and a behaviour the test changes while the datastore scrapes it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/http_server.h"
#include "unit/common/http_test_util.h"

namespace kgai::gateway::testing {

enum class Behaviour { kServe, kError503, kHang };

// A vLLM page with the given queue and KV use.
inline std::string vllm_page(int waiting, double kv_usage = 0.5) {
  return "# TYPE vllm:num_requests_waiting gauge\n"
         "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} " +
         std::to_string(waiting) +
         "\n"
         "# TYPE vllm:num_requests_running gauge\n"
         "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 1\n"
         "# TYPE vllm:kv_cache_usage_perc gauge\n"
         "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} " +
         std::to_string(kv_usage) + "\n";
}

class FakeMetricsServer {
 public:
  FakeMetricsServer()
      : server_(loop_, http::ServerOptions{},
                [this](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
                  handle(std::move(request), std::move(stream));
                }) {
    auto port = server_.listen();
    if (port) port_ = *port;
    thread_ = std::make_unique<kgai::testing::LoopThread>(loop_);
  }
  ~FakeMetricsServer() {
    thread_.reset();  // the loop stops before the server and the held streams go
    hung_.clear();
  }

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void set_page(std::string page) {
    std::lock_guard lock(mutex_);
    page_ = std::move(page);
  }
  void set_behaviour(Behaviour behaviour) {
    std::lock_guard lock(mutex_);
    behaviour_ = behaviour;
  }
  int scrapes() const {
    std::lock_guard lock(mutex_);
    return scrapes_;
  }

 private:
  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
    std::lock_guard lock(mutex_);
    ++scrapes_;
    http::Response response;
    if (request.path() != "/metrics") {
      response.status = 404;
    } else if (behaviour_ == Behaviour::kHang) {
      hung_.push_back(std::move(stream));  // answered never; closed when the server goes
      return;
    } else if (behaviour_ == Behaviour::kError503) {
      response.status = 503;
    } else {
      response.headers.push_back({"Content-Type", "text/plain; version=0.0.4"});
      response.body = page_;
    }
    stream->respond(std::move(response));
  }

  EventLoop loop_;
  http::Server server_;
  uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::string page_ = vllm_page(0);
  Behaviour behaviour_ = Behaviour::kServe;
  int scrapes_ = 0;
  std::vector<std::shared_ptr<http::ResponseStream>> hung_;  // loop thread only
  std::unique_ptr<kgai::testing::LoopThread> thread_;
};

}  // namespace kgai::gateway::testing
