// The cost of one proxied round trip through the upstream pool: a small POST to kgai's own
// HTTP server on loopback (server on its own thread, the pool driven by this one), over a
// kept-alive connection. The blocking client on the same server is the reference.
#include <memory>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#include "common/event_loop.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/http_upstream.h"

namespace {

using namespace kgai;

constexpr std::string_view kBody = R"({"model":"m","prompt":"hello","max_tokens":1})";

// kgai's server answering every request with a small JSON body, on its own thread.
struct LocalServer {
  LocalServer()
      : server(loop, {}, [](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
          stream->respond({200, {{"Content-Type", "application/json"}}, R"({"ok":true})"});
        }) {
    port = server.listen().value_or(0);
    thread = std::thread([this] { loop.run(); });
  }
  ~LocalServer() {
    loop.stop();
    thread.join();
  }
  EventLoop loop;
  http::Server server;
  uint16_t port = 0;
  std::thread thread;
};

// Stops the client loop when the response ends, so that each iteration is one round trip.
class StopWhenDone : public http::UpstreamHandler {
 public:
  explicit StopWhenDone(EventLoop& loop) : loop_(loop) {}
  void on_headers(int status, std::vector<http::Header>) override { ok = status == 200; }
  void on_body(std::string_view chunk) override { bytes += chunk.size(); }
  void on_complete() override { loop_.stop(); }
  void on_error(const http::UpstreamError&) override {
    ok = false;
    loop_.stop();
  }
  bool ok = false;
  std::size_t bytes = 0;

 private:
  EventLoop& loop_;
};

void BM_UpstreamPoolRoundTrip(benchmark::State& state) {
  LocalServer server;
  EventLoop loop;
  http::UpstreamPool pool(loop);
  auto body = std::make_shared<const std::string>(kBody);
  auto handler = std::make_shared<StopWhenDone>(loop);
  for (auto _ : state) {
    http::UpstreamRequest request;
    request.target = "/v1/completions";
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = body;
    pool.send("127.0.0.1", server.port, std::move(request), handler);
    loop.run();
    if (!handler->ok) {
      state.SkipWithError("request failed");
      break;
    }
  }
  state.counters["open_connections"] = static_cast<double>(pool.open_connections());
}
BENCHMARK(BM_UpstreamPoolRoundTrip)->UseRealTime();

void BM_BlockingClientRoundTrip(benchmark::State& state) {
  LocalServer server;
  http::Client client("127.0.0.1", server.port);
  http::Request request;
  request.method = "POST";
  request.target = "/v1/completions";
  request.headers.push_back({"Content-Type", "application/json"});
  request.body = std::string(kBody);
  for (auto _ : state) {
    auto response = client.send(request);
    if (!response || response->status != 200) {
      state.SkipWithError("request failed");
      break;
    }
  }
}
BENCHMARK(BM_BlockingClientRoundTrip)->UseRealTime();

}  // namespace
