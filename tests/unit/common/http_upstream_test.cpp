#include "common/http_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/http_server.h"
#include "unit/common/http_test_util.h"

namespace kgai::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::LoopThread;
using testing::on_loop;
using testing::wait_until;

// ---------------------------------------------------------------------------------------
// Helpers

// Records a handler's calls (made on the pool's loop thread) for the test thread to check.
class Recorder : public UpstreamHandler {
 public:
  void on_headers(int status, std::vector<Header> headers) override {
    {
      std::lock_guard lock(mutex_);
      note_call();
      status_ = status;
      headers_ = std::move(headers);
      ++header_calls_;
      changed_.notify_all();
    }
    if (headers_hook) headers_hook();
  }
  void on_body(std::string_view chunk) override {
    {
      std::lock_guard lock(mutex_);
      note_call();
      body_ += chunk;
      ++body_calls_;
      changed_.notify_all();
    }
    if (body_hook) body_hook(chunk);
  }
  void on_complete() override {
    std::lock_guard lock(mutex_);
    note_call();
    completed_ = true;
    ++ends_;
    changed_.notify_all();
  }
  void on_error(const UpstreamError& error) override {
    std::lock_guard lock(mutex_);
    note_call();
    error_ = error;
    ++ends_;
    changed_.notify_all();
  }

  // Set on the loop thread when the test cancels; any call after it is a violation.
  void mark_cancelled() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }

  bool wait_end(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ends_ > 0; });
  }
  bool wait_body(std::string_view needle, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout,
                             [&] { return body_.find(needle) != std::string::npos; });
  }
  bool wait_headers(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return header_calls_ > 0 || ends_ > 0; });
  }

  template <typename Fn>
  auto locked(Fn fn) const {
    std::lock_guard lock(mutex_);
    return fn();
  }
  int status() const {
    return locked([&] { return status_; });
  }
  std::string body() const {
    return locked([&] { return body_; });
  }
  std::string header(std::string_view name) const {
    return locked([&] { return std::string(find_header(headers_, name)); });
  }
  bool completed() const {
    return locked([&] { return completed_; });
  }
  std::optional<UpstreamError> error() const {
    return locked([&] { return error_; });
  }
  int ends() const {
    return locked([&] { return ends_; });
  }
  int header_calls() const {
    return locked([&] { return header_calls_; });
  }
  int body_calls() const {
    return locked([&] { return body_calls_; });
  }
  int calls_after_end() const {
    return locked([&] { return late_calls_; });
  }

  // Run on the loop thread inside on_headers / on_body (to cancel from a callback).
  std::function<void()> headers_hook;
  std::function<void(std::string_view)> body_hook;

 private:
  void note_call() {
    if (ends_ > 0 || cancelled_) ++late_calls_;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int status_ = 0;
  std::vector<Header> headers_;
  std::string body_;
  int header_calls_ = 0;
  int body_calls_ = 0;
  bool completed_ = false;
  std::optional<UpstreamError> error_;
  int ends_ = 0;
  int late_calls_ = 0;
  bool cancelled_ = false;
};

// A pool on its own loop thread. Tear-down stops the loop, then destroys the pool.
struct Proxy {
  explicit Proxy(UpstreamOptions options = {})
      : pool(std::make_unique<UpstreamPool>(loop, options)),
        runner(std::make_unique<LoopThread>(loop)) {}
  ~Proxy() { runner->stop(); }

  std::shared_ptr<UpstreamExchange> send(uint16_t port, UpstreamRequest request,
                                         std::shared_ptr<Recorder> handler,
                                         const std::string& host = "127.0.0.1") {
    return on_loop(loop, [&] { return pool->send(host, port, std::move(request), handler); });
  }
  void cancel(const std::shared_ptr<UpstreamExchange>& exchange,
              const std::shared_ptr<Recorder>& handler) {
    on_loop(loop, [&] {
      exchange->cancel();
      handler->mark_cancelled();
    });
  }
  std::size_t open() {
    return on_loop(loop, [&] { return pool->open_connections(); });
  }
  std::size_t idle() {
    return on_loop(loop, [&] { return pool->idle_connections(); });
  }

  EventLoop loop;
  std::unique_ptr<UpstreamPool> pool;
  std::unique_ptr<LoopThread> runner;
};

UpstreamRequest make_request(std::string method, std::string target, std::string body = {}) {
  UpstreamRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  if (!body.empty()) request.body = std::make_shared<const std::string>(std::move(body));
  return request;
}

// kgai's own server as the upstream, on its own loop thread.
struct Upstream {
  explicit Upstream(Handler handler) : server(loop, ServerOptions{}, std::move(handler)) {
    auto bound = server.listen();
    EXPECT_TRUE(bound) << bound.error().message;
    port = bound.value_or(0);
    runner = std::make_unique<LoopThread>(loop);
  }
  ~Upstream() {
    if (!teardown.empty()) {
      on_loop(loop, [this] {
        for (auto& fn : teardown) fn();
      });
    }
    runner->stop();
  }

  EventLoop loop;
  Server server;
  uint16_t port = 0;
  std::unique_ptr<LoopThread> runner;
  std::vector<std::function<void()>> teardown;
};

// Answers "METHOD target|host|content-length|body".
void echo(Request&& request, std::shared_ptr<ResponseStream> stream) {
  Response response;
  response.headers.push_back({"X-Echo", std::string(request.header("x-test"))});
  response.body = request.method + " " + request.target + "|" +
                  std::string(request.header("host")) + "|" +
                  std::string(request.header("content-length")) + "|" + request.body;
  stream->respond(std::move(response));
}

// One accepted connection of a ScriptedServer, read and written with blocking calls bounded
// by timeouts.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() { close(); }

  // Reads one request (header and Content-Length body); "" when the client closed.
  std::string read_request(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::size_t end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        const std::size_t at = pending_.find("Content-Length: ");
        if (at != std::string::npos && at < end) length = std::stoul(pending_.substr(at + 16));
        if (pending_.size() >= end + 4 + length) {
          std::string request = pending_.substr(0, end + 4 + length);
          pending_.erase(0, end + 4 + length);
          return request;
        }
      }
      if (!read_some(deadline)) return {};
    }
  }
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // True once the client closed the connection (within `timeout`).
  bool wait_closed(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(deadline)) {
    }
    return closed_;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[16 * 1024];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    pending_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string pending_;
  bool closed_ = false;
};

// A raw upstream for misbehaviour: its thread accepts connections one at a time and plays
// `script` on each (with the connection's index: 0, 1, ...).
class ScriptedServer {
 public:
  using Script = std::function<void(Peer& peer, int index)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listen_fd_, 16);
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port = 0;
  std::atomic<int> accepted{0};
  std::atomic<int> finished{0};  // scripts that ran to their end

 private:
  void run() {
    while (!stop_) {
      pollfd poll_fd{listen_fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      Peer peer(fd);
      script_(peer, accepted++);
      ++finished;
    }
  }

  Script script_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------
// Well-behaved upstream

TEST(UpstreamPoolTest, PlainResponse) {
  Upstream upstream(echo);
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  UpstreamRequest request = make_request("POST", "/v1/completions?x=1", "{\"prompt\":\"hi\"}");
  request.headers.push_back({"X-Test", "abc"});
  request.headers.push_back({"Content-Length", "999"});  // the pool's own framing wins
  proxy.send(upstream.port, std::move(request), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_FALSE(handler->error()) << handler->error()->message;
  EXPECT_TRUE(handler->completed());
  EXPECT_EQ(handler->status(), 200);
  EXPECT_EQ(handler->header("x-echo"), "abc");
  EXPECT_EQ(
      handler->body(),
      fmt::format("POST /v1/completions?x=1|127.0.0.1:{}|15|{{\"prompt\":\"hi\"}}", upstream.port));
  EXPECT_EQ(handler->header_calls(), 1);
  EXPECT_EQ(handler->calls_after_end(), 0);
}

TEST(UpstreamPoolTest, GetWithoutBodySendsNoContentLengthAndKeepsCallersHost) {
  Upstream upstream(echo);
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  UpstreamRequest request = make_request("GET", "/metrics");
  request.headers.push_back({"Host", "model.example"});
  proxy.send(upstream.port, std::move(request), handler);
  ASSERT_TRUE(handler->wait_end());
  EXPECT_EQ(handler->body(), "GET /metrics|model.example||");
}

TEST(UpstreamPoolTest, HostNameIsResolved) {
  Upstream upstream(echo);
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler, "localhost");
  ASSERT_TRUE(handler->wait_end());
  ASSERT_FALSE(handler->error()) << handler->error()->message;
  EXPECT_EQ(handler->status(), 200);
}

TEST(UpstreamPoolTest, ChunkedStreamIsDeliveredAsItArrives) {
  std::shared_ptr<ResponseStream> held;
  Upstream upstream([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write("data: one\n\n");
    held = std::move(stream);  // the rest only when the test says so
  });
  upstream.teardown.push_back([&] { held.reset(); });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("POST", "/v1/chat/completions", "{}"), handler);

  // The first event reaches the handler while the upstream still holds the response open.
  ASSERT_TRUE(handler->wait_body("data: one\n\n"));
  EXPECT_EQ(handler->status(), 200);
  EXPECT_EQ(handler->header("content-type"), "text/event-stream");
  EXPECT_EQ(handler->ends(), 0);

  on_loop(upstream.loop, [&] { held->write("data: two\n\n"); });
  ASSERT_TRUE(handler->wait_body("data: two\n\n"));
  EXPECT_EQ(handler->ends(), 0);

  on_loop(upstream.loop, [&] {
    held->write("data: [DONE]\n\n");
    held->finish();
  });
  ASSERT_TRUE(handler->wait_end());
  EXPECT_TRUE(handler->completed());
  EXPECT_EQ(handler->body(), "data: one\n\ndata: two\n\ndata: [DONE]\n\n");
  EXPECT_GE(handler->body_calls(), 3);
  EXPECT_EQ(proxy.idle(), 1u);  // a complete chunked response keeps the connection
}

TEST(UpstreamPoolTest, SequentialRequestsReuseOneConnection) {
  Upstream upstream(echo);
  Proxy proxy;
  for (int i = 0; i < 5; ++i) {
    auto handler = std::make_shared<Recorder>();
    proxy.send(upstream.port, make_request("POST", fmt::format("/r{}", i), "x"), handler);
    ASSERT_TRUE(handler->wait_end());
    ASSERT_TRUE(handler->completed());
    EXPECT_EQ(proxy.open(), 1u);
    EXPECT_EQ(proxy.idle(), 1u);
  }
  EXPECT_EQ(upstream.server.open_connections(), 1u);
}

TEST(UpstreamPoolTest, ConcurrentRequestsOpenConnectionsThenReuseThem) {
  constexpr int kCount = 8;
  std::vector<std::shared_ptr<ResponseStream>> waiting;
  // Answers nothing until all kCount requests are in: they must be on kCount connections.
  Upstream upstream([&](Request&& request, std::shared_ptr<ResponseStream> stream) {
    if (request.target == "/solo") {
      stream->respond(Response{200, {}, "solo"});
      return;
    }
    waiting.push_back(std::move(stream));
    if (waiting.size() < kCount) return;
    for (auto& held : waiting) held->respond(Response{200, {}, "ok"});
    waiting.clear();
  });
  Proxy proxy;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::shared_ptr<Recorder>> handlers;
    for (int i = 0; i < kCount; ++i) {
      handlers.push_back(std::make_shared<Recorder>());
      proxy.send(upstream.port, make_request("GET", "/"), handlers.back());
    }
    for (auto& handler : handlers) {
      ASSERT_TRUE(handler->wait_end());
      EXPECT_EQ(handler->body(), "ok");
    }
    EXPECT_EQ(proxy.open(), std::size_t{kCount});
    EXPECT_EQ(proxy.idle(), std::size_t{kCount});
  }
  EXPECT_EQ(upstream.server.open_connections(), std::size_t{kCount});
}

TEST(UpstreamPoolTest, IdleConnectionsPerHostAreCapped) {
  constexpr int kCount = 4;
  std::vector<std::shared_ptr<ResponseStream>> waiting;
  Upstream upstream([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    waiting.push_back(std::move(stream));
    if (waiting.size() < kCount) return;
    for (auto& held : waiting) held->respond(Response{200, {}, "ok"});
    waiting.clear();
  });
  UpstreamOptions options;
  options.max_idle_per_host = 2;
  Proxy proxy(options);
  std::vector<std::shared_ptr<Recorder>> handlers;
  for (int i = 0; i < kCount; ++i) {
    handlers.push_back(std::make_shared<Recorder>());
    proxy.send(upstream.port, make_request("GET", "/"), handlers.back());
  }
  for (auto& handler : handlers) ASSERT_TRUE(handler->wait_end());
  EXPECT_EQ(proxy.idle(), 2u);
  EXPECT_EQ(proxy.open(), 2u);
}

TEST(UpstreamPoolTest, LargeBodiesBothWays) {
  const std::string big(4 * 1024 * 1024, 'b');
  Upstream upstream([&](Request&& request, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {}, request.body == big ? big : std::string("mismatch")});
  });
  Proxy proxy;
  for (int i = 0; i < 2; ++i) {
    auto handler = std::make_shared<Recorder>();
    proxy.send(upstream.port, make_request("PUT", "/big", big), handler);
    ASSERT_TRUE(handler->wait_end(30s));
    ASSERT_FALSE(handler->error()) << handler->error()->message;
    EXPECT_EQ(handler->body().size(), big.size());
    EXPECT_TRUE(handler->body() == big);
    EXPECT_GT(handler->body_calls(), 1);
  }
  EXPECT_EQ(proxy.open(), 1u);
}

TEST(UpstreamPoolTest, HeadResponseHasNoBodyAndKeepsTheConnection) {
  Upstream upstream(echo);
  Proxy proxy;
  for (int i = 0; i < 2; ++i) {
    auto handler = std::make_shared<Recorder>();
    proxy.send(upstream.port, make_request("HEAD", "/"), handler);
    ASSERT_TRUE(handler->wait_end());
    ASSERT_TRUE(handler->completed());
    EXPECT_EQ(handler->body(), "");
    EXPECT_NE(handler->header("content-length"), "0");
  }
  EXPECT_EQ(proxy.open(), 1u);
}

TEST(UpstreamPoolTest, HandlerIsReleasedAfterTheLastCallback) {
  Upstream upstream(echo);
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  auto exchange = proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  EXPECT_TRUE(wait_until([&] { return handler.use_count() == 1; }));
  proxy.cancel(exchange, handler);  // after completion: nothing happens
  EXPECT_EQ(proxy.idle(), 1u);
  EXPECT_EQ(handler->calls_after_end(), 0);
}

TEST(UpstreamPoolTest, InvalidRequestIsNotSent) {
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  UpstreamRequest request = make_request("GET", "/");
  request.headers.push_back({"X-Evil", "a\r\nX-Injected: 1"});
  proxy.send(testing::unused_port(), std::move(request), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kInvalidRequest);
  EXPECT_FALSE(handler->error()->retryable());
  EXPECT_EQ(proxy.open(), 0u);
}

// ---------------------------------------------------------------------------------------
// Failures before the response

TEST(UpstreamPoolTest, ConnectionRefusedIsConnectError) {
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  const uint16_t port = testing::unused_port();
  proxy.send(port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kConnect);
  EXPECT_TRUE(handler->error()->retryable());
  EXPECT_THAT(handler->error()->message, HasSubstr(fmt::format("127.0.0.1:{}", port)));
  EXPECT_EQ(proxy.open(), 0u);
}

TEST(UpstreamPoolTest, ServerClosingWithoutAnswerIsNoResponse) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.close();
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("POST", "/", "{}"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kNoResponse);
  EXPECT_TRUE(handler->error()->retryable());
  EXPECT_EQ(upstream.accepted, 1);  // a fresh connection is not retried
}

TEST(UpstreamPoolTest, KeptAliveConnectionClosedAsRequestArrivesIsRetriedOnce) {
  ScriptedServer upstream([](Peer& peer, int index) {
    if (index == 0) {
      peer.read_request();
      peer.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
      // Takes the second request, then closes as a server whose keep-alive timer fired.
      peer.read_request();
      peer.close();
      return;
    }
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
    peer.wait_closed(2s);
  });
  Proxy proxy;
  auto first = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), first);
  ASSERT_TRUE(first->wait_end());
  EXPECT_EQ(first->body(), "first");
  ASSERT_EQ(proxy.idle(), 1u);

  auto second = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("POST", "/", "again"), second);
  ASSERT_TRUE(second->wait_end());
  ASSERT_FALSE(second->error()) << second->error()->message;
  EXPECT_EQ(second->body(), "second");
  EXPECT_EQ(upstream.accepted, 2);
}

TEST(UpstreamPoolTest, IdleConnectionClosedByServerIsNotUsed) {
  ScriptedServer upstream([](Peer& peer, int index) {
    peer.read_request();
    peer.send(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{}", index));
    peer.close();  // without "Connection: close": the client learns it only from the FIN
  });
  Proxy proxy;
  auto first = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), first);
  ASSERT_TRUE(first->wait_end());
  EXPECT_EQ(first->body(), "0");
  ASSERT_TRUE(wait_until([&] { return upstream.finished == 1; }));

  auto second = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), second);
  ASSERT_TRUE(second->wait_end());
  ASSERT_FALSE(second->error()) << second->error()->message;
  EXPECT_EQ(second->body(), "1");
}

TEST(UpstreamPoolTest, RetryIsNotRepeated) {
  // Every connection after the first request closes without answering.
  ScriptedServer upstream([](Peer& peer, int index) {
    peer.read_request();
    if (index == 0) {
      peer.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      peer.read_request();
    }
    peer.close();
  });
  Proxy proxy;
  auto first = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), first);
  ASSERT_TRUE(first->wait_end());
  auto second = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), second);
  ASSERT_TRUE(second->wait_end());
  ASSERT_TRUE(second->error());
  EXPECT_EQ(second->error()->kind, UpstreamErrorKind::kNoResponse);
  EXPECT_EQ(upstream.accepted, 2);
}

TEST(UpstreamPoolTest, HeaderTimeout) {
  std::atomic<bool> saw_close{false};
  ScriptedServer upstream([&](Peer& peer, int) {
    peer.read_request();
    saw_close = peer.wait_closed();
  });
  UpstreamOptions options;
  options.header_timeout = 200ms;
  Proxy proxy(options);
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kHeaderTimeout);
  EXPECT_FALSE(handler->error()->retryable());
  EXPECT_TRUE(wait_until([&] { return saw_close.load(); }));
  EXPECT_EQ(proxy.open(), 0u);
}

// ---------------------------------------------------------------------------------------
// Broken responses

TEST(UpstreamPoolTest, IdleTimeoutMidBody) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    peer.wait_closed();
  });
  UpstreamOptions options;
  options.idle_timeout = 200ms;
  Proxy proxy(options);
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  EXPECT_EQ(handler->status(), 200);
  EXPECT_EQ(handler->body(), "0123456789");
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kIdleTimeout);
  EXPECT_EQ(proxy.open(), 0u);
}

void expect_broken(std::string canned, UpstreamOptions options = {},
                   std::string_view message = "") {
  ScriptedServer upstream([&](Peer& peer, int) {
    peer.read_request();
    peer.send(canned);
    peer.wait_closed(2s);
  });
  Proxy proxy(options);
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_TRUE(handler->error()) << "completed with body '" << handler->body() << "'";
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kBrokenResponse);
  EXPECT_FALSE(handler->error()->retryable());
  EXPECT_THAT(handler->error()->message, HasSubstr(message));
  EXPECT_EQ(proxy.open(), 0u);
}

TEST(UpstreamPoolTest, MalformedStatusLineIsBroken) {
  expect_broken("HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n");
  expect_broken("SSH-2.0-OpenSSH_9.2\r\n\r\n");
}

// Found by tests/fuzz: Beast reads "000" as a status; the pool took it for an interim
// response and handed the body to a handler that never had on_headers.
TEST(UpstreamPoolTest, StatusBelow100IsBroken) {
  expect_broken("HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nhi", {}, "bad status");
  expect_broken("HTTP/1.1 099 OK\r\n\r\nhi", {}, "bad status");
}

TEST(UpstreamPoolTest, MalformedChunkIsBroken) {
  expect_broken("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n");
}

TEST(UpstreamPoolTest, OversizedHeaderIsBroken) {
  UpstreamOptions options;
  options.max_header_bytes = 1024;
  expect_broken(
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(4096, 'x') + "\r\nContent-Length: 0\r\n\r\n",
      options, "over 1024 bytes");
}

TEST(UpstreamPoolTest, CloseMidBodyIsBroken) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    peer.close();
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  EXPECT_EQ(handler->header_calls(), 1);
  EXPECT_EQ(handler->body(), "0123456789");
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kBrokenResponse);
}

TEST(UpstreamPoolTest, CloseMidChunkedBodyIsBroken) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    peer.close();
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  EXPECT_EQ(handler->body(), "hello");
  ASSERT_TRUE(handler->error());
  EXPECT_EQ(handler->error()->kind, UpstreamErrorKind::kBrokenResponse);
}

// ---------------------------------------------------------------------------------------
// Framing

TEST(UpstreamPoolTest, BodyDelimitedByCloseCompletes) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    peer.close();
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_FALSE(handler->error()) << handler->error()->message;
  EXPECT_EQ(handler->body(), "until the end");
  EXPECT_EQ(proxy.open(), 0u);
}

TEST(UpstreamPoolTest, ConnectionCloseResponseIsNotPooled) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    peer.wait_closed(2s);
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  EXPECT_TRUE(handler->completed());
  EXPECT_EQ(proxy.open(), 0u);
  EXPECT_EQ(proxy.idle(), 0u);
}

TEST(UpstreamPoolTest, InterimResponsesAreSkipped) {
  ScriptedServer upstream([](Peer& peer, int) {
    peer.read_request();
    peer.send(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\ndone");
    peer.wait_closed(2s);
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("POST", "/", "x"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_FALSE(handler->error()) << handler->error()->message;
  EXPECT_EQ(handler->header_calls(), 1);
  EXPECT_EQ(handler->status(), 201);
  EXPECT_EQ(handler->header("x-final"), "yes");
  EXPECT_EQ(handler->header("link"), "");
  EXPECT_EQ(handler->body(), "done");
}

TEST(UpstreamPoolTest, ResponseSplitAtEveryByte) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7;ext=1\r\ndata: a\r\n"
      "A\r\n\n\ndata: b\n\r\n"
      "0\r\nX-Trailer: t\r\n\r\n";
  ScriptedServer upstream([&](Peer& peer, int) {
    peer.read_request();
    for (char c : response) {
      peer.send(std::string_view(&c, 1));
      std::this_thread::sleep_for(1ms);
    }
    peer.wait_closed(2s);
  });
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  proxy.send(upstream.port, make_request("GET", "/"), handler);
  ASSERT_TRUE(handler->wait_end());
  ASSERT_FALSE(handler->error()) << handler->error()->message;
  EXPECT_EQ(handler->body(), "data: a\n\ndata: b\n");
  EXPECT_EQ(proxy.idle(), 1u);
}

// ---------------------------------------------------------------------------------------
// Backpressure: pause() and resume()

char pattern_byte(std::size_t i) { return static_cast<char>('a' + i % 23); }

// An upstream that writes a `total`-byte body of pattern_byte() as fast as the socket takes
// it, counting what the socket took.
class FloodingUpstream {
 public:
  explicit FloodingUpstream(std::size_t total)
      : total_(total), server_([this](Peer& peer, int) { play(peer); }) {}

  uint16_t port() const { return server_.port; }
  std::size_t sent() const { return sent_; }
  bool saw_close() const { return saw_close_; }

 private:
  void play(Peer& peer) {
    peer.read_request();
    if (!peer.send(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", total_))) return;
    std::string piece(64 * 1024, '\0');
    while (sent_ < total_) {
      const std::size_t n = std::min(piece.size(), total_ - sent_);
      for (std::size_t i = 0; i < n; ++i) piece[i] = pattern_byte(sent_ + i);
      if (!peer.send(std::string_view(piece).substr(0, n))) {
        saw_close_ = true;  // the proxy closed its side (EPIPE or reset)
        return;
      }
      sent_ += n;
    }
    saw_close_ = peer.wait_closed();
  }

  std::size_t total_;
  std::atomic<std::size_t> sent_{0};
  std::atomic<bool> saw_close_{false};
  ScriptedServer server_;
};

// Counts and checks the pattern; pause_at: pause (from on_body) once this many bytes came.
class PatternReader : public UpstreamHandler {
 public:
  void on_headers(int status, std::vector<Header>) override { status_ = status; }
  void on_body(std::string_view chunk) override {
    if (paused_) ++calls_while_paused_;
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      if (chunk[i] != pattern_byte(received_ + i)) ++mismatches_;
    }
    received_ += chunk.size();
    if (hook) hook(*this);
  }
  void on_complete() override { completed_ = true; }
  void on_error(const UpstreamError& error) override {
    std::lock_guard lock(mutex_);
    error_ = error.message;
  }

  void pause() {
    paused_ = true;
    received_at_pause_ = received_.load();
    exchange->pause();
  }
  void resume() {
    paused_ = false;
    exchange->resume();
  }

  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

  std::shared_ptr<UpstreamExchange> exchange;  // set on the loop right after send()
  std::function<void(PatternReader&)> hook;    // loop thread
  std::atomic<int> status_{0};
  std::atomic<std::size_t> received_{0};
  std::atomic<std::size_t> received_at_pause_{0};
  std::atomic<std::size_t> mismatches_{0};
  std::atomic<int> calls_while_paused_{0};
  std::atomic<bool> paused_{false};
  std::atomic<bool> completed_{false};

 private:
  mutable std::mutex mutex_;
  std::string error_;
};

TEST(UpstreamPoolTest, PauseStopsReadingAndResumeDeliversEveryByte) {
  constexpr std::size_t kTotal = 64u << 20;
  FloodingUpstream upstream(kTotal);
  UpstreamOptions options;
  options.idle_timeout = 200ms;  // shorter than the pause: it must not fire while paused
  Proxy proxy(options);
  auto reader = std::make_shared<PatternReader>();
  std::size_t cycles = 0;  // loop thread
  reader->hook = [&](PatternReader& r) {
    if (r.received_ >= (1u << 20) && r.received_at_pause_ == 0 && !r.paused_) r.pause();
    // After the long pause: many short ones, resumed from the loop, each from a posted task.
    if (r.received_ >= (8u << 20) && !r.paused_ && r.received_ / (2u << 20) > cycles) {
      ++cycles;
      r.pause();
      proxy.loop.post([&r] { r.resume(); });
    }
  };
  on_loop(proxy.loop, [&] {
    reader->exchange =
        proxy.pool->send("127.0.0.1", upstream.port(), make_request("GET", "/"), reader);
  });
  ASSERT_TRUE(wait_until([&] { return reader->paused_.load(); }));
  std::this_thread::sleep_for(700ms);
  // Stopped: at most the rest of one read reached on_body after pause().
  const std::size_t at_pause = reader->received_at_pause_;
  EXPECT_LE(reader->received_ - at_pause, 64u * 1024);
  EXPECT_EQ(reader->error(), "");
  // The upstream is blocked on the full TCP window, far from done.
  const std::size_t sent = upstream.sent();
  EXPECT_LT(sent, kTotal);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(upstream.sent(), sent);
  on_loop(proxy.loop, [&] { reader->resume(); });
  ASSERT_TRUE(wait_until([&] { return reader->completed_ || !reader->error().empty(); }, 60s));
  EXPECT_EQ(reader->error(), "");
  EXPECT_TRUE(reader->completed_);
  EXPECT_EQ(reader->received_, kTotal);
  EXPECT_EQ(reader->mismatches_, 0u);
  EXPECT_GT(on_loop(proxy.loop, [&] { return cycles; }), 10u);
  // The connection went back to the pool, ready for the next request.
  EXPECT_EQ(proxy.idle(), 1u);
  on_loop(proxy.loop, [&] { reader->exchange.reset(); });
}

TEST(UpstreamPoolTest, PausedExchangeCanBeCancelled) {
  FloodingUpstream upstream(64u << 20);
  Proxy proxy;
  auto reader = std::make_shared<PatternReader>();
  reader->hook = [](PatternReader& r) {
    if (!r.paused_) r.pause();
  };
  on_loop(proxy.loop, [&] {
    reader->exchange =
        proxy.pool->send("127.0.0.1", upstream.port(), make_request("GET", "/"), reader);
  });
  ASSERT_TRUE(wait_until([&] { return reader->paused_.load(); }));
  on_loop(proxy.loop, [&] {
    reader->exchange->cancel();
    reader->exchange->resume();  // harmless after cancel
    reader->exchange->pause();
  });
  EXPECT_TRUE(wait_until([&] { return upstream.saw_close(); }));
  EXPECT_EQ(proxy.open(), 0u);
  EXPECT_FALSE(reader->completed_);
  EXPECT_EQ(reader->error(), "");
  on_loop(proxy.loop, [&] { reader->exchange.reset(); });
}

// The server's and the pool's halves together, wired as the gateway wires them: the relay
// pauses the upstream while the client's queue is over the high-water mark and resumes it
// when it drains.
class Relay : public UpstreamHandler, public std::enable_shared_from_this<Relay> {
 public:
  explicit Relay(std::shared_ptr<ResponseStream> stream) : stream_(std::move(stream)) {}

  void start(UpstreamPool& pool, uint16_t port) {
    std::weak_ptr<Relay> weak = shared_from_this();
    stream_->on_close([weak] {
      auto self = weak.lock();
      if (!self) return;
      self->client_gone = true;
      if (self->exchange_) self->exchange_->cancel();
      self->exchange_.reset();
    });
    exchange_ = pool.send("127.0.0.1", port, make_request("GET", "/"), shared_from_this());
  }
  void on_headers(int status, std::vector<Header> headers) override {
    stream_->start_sized(status, {},
                         std::stoull(std::string(find_header(headers, "content-length"))));
  }
  void on_body(std::string_view chunk) override {
    stream_->write(chunk);
    max_buffered = std::max(max_buffered.load(), stream_->buffered_bytes());
    if (exchange_ && stream_->congested()) {
      ++pauses;
      exchange_->pause();
      std::weak_ptr<Relay> weak = shared_from_this();
      stream_->on_drained([weak] {
        if (auto self = weak.lock(); self && self->exchange_) self->exchange_->resume();
      });
    }
  }
  void on_complete() override {
    exchange_.reset();
    stream_->finish();
  }
  void on_error(const UpstreamError&) override {
    exchange_.reset();
    stream_->abort();
  }

  std::atomic<std::size_t> max_buffered{0};
  std::atomic<int> pauses{0};
  std::atomic<bool> client_gone{false};

 private:
  std::shared_ptr<ResponseStream> stream_;
  std::shared_ptr<UpstreamExchange> exchange_;
};

struct RelayServer {
  explicit RelayServer(uint16_t upstream_port, ServerOptions options = {})
      : pool(loop),
        server(loop, options, [this, upstream_port](Request&&, std::shared_ptr<ResponseStream> s) {
          auto relay = std::make_shared<Relay>(std::move(s));
          relays.push_back(relay);
          live = relay.get();
          relay->start(pool, upstream_port);
        }) {
    auto bound = server.listen();
    EXPECT_TRUE(bound) << bound.error().message;
    port = bound.value_or(0);
    runner = std::make_unique<LoopThread>(loop);
  }
  ~RelayServer() {
    on_loop(loop, [this] {
      relays.clear();
      server.stop();
    });
    runner->stop();
  }

  EventLoop loop;
  UpstreamPool pool;
  Server server;
  uint16_t port = 0;
  std::vector<std::shared_ptr<Relay>> relays;  // loop thread
  std::atomic<Relay*> live{nullptr};
  std::unique_ptr<LoopThread> runner;
};

TEST(UpstreamPoolTest, RelayToASlowClientKeepsItsBufferBounded) {
  constexpr std::size_t kTotal = 64u << 20;
  FloodingUpstream upstream(kTotal);
  ServerOptions options;
  RelayServer relay(upstream.port(), options);
  testing::RawSocket client(relay.port);
  ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Not reading at first: everything on the path fills up, and the relay must stop.
  ASSERT_TRUE(wait_until([&] { return relay.live != nullptr && relay.live.load()->pauses > 0; }));
  std::this_thread::sleep_for(300ms);
  const std::string head = client.read_until("\r\n\r\n");
  ASSERT_THAT(head, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  const std::size_t body_at = head.find("\r\n\r\n") + 4;
  std::size_t received = 0;
  std::size_t mismatches = 0;
  auto check = [&](const char* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (data[i] != pattern_byte(received + i)) ++mismatches;
    }
    received += n;
  };
  check(head.data() + body_at, head.size() - body_at);
  char buffer[32 * 1024];
  int reads = 0;
  while (received < kTotal) {
    pollfd poll_fd{client.fd(), POLLIN, 0};
    if (::poll(&poll_fd, 1, 10'000) <= 0) break;
    const ssize_t n = ::recv(client.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    check(buffer, static_cast<std::size_t>(n));
    if (++reads % 128 == 0) std::this_thread::sleep_for(1ms);  // a slow reader
  }
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(mismatches, 0u);
  Relay* r = relay.live;
  EXPECT_GT(r->pauses, 0);
  // The high-water mark plus what one upstream read (16 KiB) can add after it.
  EXPECT_LE(r->max_buffered, options.write_high_water + 64u * 1024);
  EXPECT_FALSE(r->client_gone);
}

TEST(UpstreamPoolTest, RelayDropsAClientThatNeverReadsAndCancelsTheUpstream) {
  FloodingUpstream upstream(1u << 30);
  ServerOptions options;
  options.write_timeout = 300ms;
  RelayServer relay(upstream.port(), options);
  testing::RawSocket client(relay.port);
  ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(wait_until([&] { return relay.live != nullptr && relay.live.load()->client_gone; }));
  EXPECT_TRUE(wait_until([&] { return upstream.saw_close(); }));
  EXPECT_LT(upstream.sent(), 256u << 20);
  EXPECT_TRUE(wait_until([&] { return relay.server.open_connections() == 0; }));
  EXPECT_EQ(on_loop(relay.loop, [&] { return relay.pool.open_connections(); }), 0u);
  EXPECT_LE(relay.live.load()->max_buffered, options.write_high_water + 64u * 1024);
}

// ---------------------------------------------------------------------------------------
// Cancellation and tear-down

// An upstream that streams one event per request and then holds the stream open, noting
// when the client goes away.
struct HoldingUpstream {
  HoldingUpstream()
      : upstream([this](Request&&, std::shared_ptr<ResponseStream> stream) {
          stream->on_close([this] { ++closed; });
          stream->start(200, {{"Content-Type", "text/event-stream"}});
          stream->write("data: first\n\n");
          held.push_back(std::move(stream));
        }) {
    upstream.teardown.push_back([this] { held.clear(); });
  }
  // Writes to every held stream (from the test thread).
  void write_all(std::string_view data) {
    on_loop(upstream.loop, [&] {
      for (auto& stream : held) stream->write(data);
    });
  }

  std::vector<std::shared_ptr<ResponseStream>> held;
  std::atomic<int> closed{0};
  Upstream upstream;
};

TEST(UpstreamPoolTest, CancelMidStream) {
  HoldingUpstream upstream;
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  auto exchange = proxy.send(upstream.upstream.port, make_request("POST", "/", "{}"), handler);
  ASSERT_TRUE(handler->wait_body("data: first"));
  proxy.cancel(exchange, handler);
  EXPECT_TRUE(wait_until([&] { return upstream.closed == 1; }));  // the upstream saw it
  upstream.write_all("data: late\n\n");
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(handler->calls_after_end(), 0);
  EXPECT_EQ(handler->ends(), 0);
  EXPECT_EQ(proxy.open(), 0u);
  EXPECT_TRUE(wait_until([&] { return handler.use_count() == 1; }));
  proxy.cancel(exchange, handler);  // twice is fine
}

TEST(UpstreamPoolTest, CancelFromInsideOnBody) {
  HoldingUpstream upstream;
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  std::shared_ptr<UpstreamExchange> exchange;
  handler->body_hook = [&](std::string_view) {
    exchange->cancel();
    handler->mark_cancelled();
  };
  on_loop(proxy.loop, [&] {
    exchange =
        proxy.pool->send("127.0.0.1", upstream.upstream.port, make_request("GET", "/"), handler);
  });
  EXPECT_TRUE(wait_until([&] { return upstream.closed == 1; }));
  EXPECT_EQ(handler->body_calls(), 1);
  EXPECT_EQ(handler->ends(), 0);
  EXPECT_EQ(handler->calls_after_end(), 0);
  EXPECT_EQ(proxy.open(), 0u);
  on_loop(proxy.loop, [&] { exchange.reset(); });
}

TEST(UpstreamPoolTest, CancelFromInsideOnHeadersWithTheOnlyReference) {
  HoldingUpstream upstream;
  Proxy proxy;
  // The handler holds the only reference to the exchange and drops it while cancelling.
  auto handler = std::make_shared<Recorder>();
  auto exchange = std::make_shared<std::shared_ptr<UpstreamExchange>>();
  handler->headers_hook = [&handler, exchange] {
    auto self = std::move(*exchange);
    self->cancel();
    handler->mark_cancelled();
  };
  on_loop(proxy.loop, [&] {
    *exchange =
        proxy.pool->send("127.0.0.1", upstream.upstream.port, make_request("GET", "/"), handler);
  });
  EXPECT_TRUE(wait_until([&] { return upstream.closed == 1; }));
  EXPECT_EQ(handler->header_calls(), 1);
  EXPECT_EQ(handler->body_calls(), 0);
  EXPECT_EQ(handler->calls_after_end(), 0);
}

TEST(UpstreamPoolTest, PoolDestroyedWithRequestsInFlight) {
  HoldingUpstream upstream;
  Proxy proxy;
  std::vector<std::shared_ptr<Recorder>> handlers;
  for (int i = 0; i < 3; ++i) {
    handlers.push_back(std::make_shared<Recorder>());
    proxy.send(upstream.upstream.port, make_request("GET", "/"), handlers.back());
  }
  for (auto& handler : handlers) ASSERT_TRUE(handler->wait_body("data: first"));
  on_loop(proxy.loop, [&] {
    proxy.pool.reset();
    for (auto& handler : handlers) handler->mark_cancelled();
  });
  EXPECT_TRUE(wait_until([&] { return upstream.closed == 3; }));
  upstream.write_all("data: late\n\n");
  std::this_thread::sleep_for(50ms);
  for (auto& handler : handlers) {
    EXPECT_EQ(handler->ends(), 0);
    EXPECT_EQ(handler->calls_after_end(), 0);
    EXPECT_EQ(handler.use_count(), 1);
  }
}

TEST(UpstreamPoolTest, PoolDestroyedFromInsideACallback) {
  HoldingUpstream upstream;
  Proxy proxy;
  auto handler = std::make_shared<Recorder>();
  auto other = std::make_shared<Recorder>();
  handler->body_hook = [&](std::string_view) {
    proxy.pool.reset();
    handler->mark_cancelled();
    other->mark_cancelled();
  };
  proxy.send(upstream.upstream.port, make_request("GET", "/"), other);
  ASSERT_TRUE(other->wait_body("data: first"));
  proxy.send(upstream.upstream.port, make_request("GET", "/"), handler);
  EXPECT_TRUE(wait_until([&] { return upstream.closed == 2; }));
  EXPECT_EQ(handler->calls_after_end(), 0);
  EXPECT_EQ(other->calls_after_end(), 0);
  EXPECT_EQ(other->ends(), 0);
}

}  // namespace
}  // namespace kgai::http
