#include "common/http_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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
using testing::RawSocket;
using ::testing::StartsWith;

// A server on 127.0.0.1 whose loop runs while the fixture lives.
class ClientTest : public ::testing::Test {
 protected:
  void start(Handler handler, ServerOptions options = {}) {
    server_ = std::make_unique<Server>(loop_, options, std::move(handler));
    auto port = server_->listen();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    runner_ = std::make_unique<LoopThread>(loop_);
  }
  void TearDown() override {
    if (runner_) on_loop(loop_, [this] { held_.clear(); });
    runner_.reset();
    server_.reset();
  }
  std::string url(std::string_view path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

  EventLoop loop_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<LoopThread> runner_;
  uint16_t port_ = 0;
  std::vector<std::shared_ptr<ResponseStream>> held_;  // streams left unanswered (loop thread)
};

Request get_request(std::string target = "/") {
  Request request;
  request.target = std::move(target);
  return request;
}

// A plain listening socket that accepts connections (through the kernel backlog) and never
// answers: the "server" of the timeout tests, below the HTTP layer.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 16);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(ParseUrlTest, GoodUrls) {
  auto url = parse_url("http://127.0.0.1:8000/v1/models?x=1");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8000);
  EXPECT_EQ(url->target, "/v1/models?x=1");

  url = parse_url("http://example.com");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/");

  url = parse_url("HTTP://host:1/path#fragment");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->port, 1);
  EXPECT_EQ(url->target, "/path");

  url = parse_url("http://host?q=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "host");
  EXPECT_EQ(url->target, "/?q=1");

  url = parse_url("http://[::1]:8080/metrics");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/metrics");
}

TEST(ParseUrlTest, HttpsIsRejectedClearly) {
  auto url = parse_url("https://api.openai.com/v1");
  ASSERT_FALSE(url);
  EXPECT_THAT(url.error().message, HasSubstr("https is not supported"));
}

TEST(ParseUrlTest, BadUrls) {
  for (std::string_view bad :
       {"", "localhost:8000/x", "ftp://host/", "http://", "http:///path", "http://:80/",
        "http://host:0/", "http://host:65536/", "http://host:12ab/", "http://host:-1/",
        "http://user@host/", "http://ho st/", "http://[::1/", "http://[::1]x/"}) {
    auto url = parse_url(bad);
    EXPECT_FALSE(url) << "'" << bad << "' parsed as host " << (url ? url->host : "");
    if (!url) {
      EXPECT_FALSE(url.error().message.empty());
    }
  }
}

TEST_F(ClientTest, GetAndPostHelpers) {
  start([](Request&& request, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200,
                             {{"Content-Type", "text/plain"}},
                             request.method + " " + std::string(request.header("Content-Type")) +
                                 " " + std::string(request.header("Host")) + " " + request.body});
  });
  auto got = get(url("/x"));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->body, fmt::format("GET  127.0.0.1:{} ", port_));
  auto posted = post(url("/y"), "{}");
  ASSERT_TRUE(posted) << posted.error().message;
  EXPECT_EQ(posted->body, fmt::format("POST application/json 127.0.0.1:{} {{}}", port_));
  EXPECT_FALSE(get("https://127.0.0.1/"));
}

TEST_F(ClientTest, EmptyPostSendsContentLengthZero) {
  start([](Request&& request, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {}, std::string(request.header("Content-Length"))});
  });
  Client client("127.0.0.1", port_);
  Request request = get_request();
  request.method = "POST";
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "0");
  response = client.send(get_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "");  // none on a GET without a body
}

TEST_F(ClientTest, ConnectionRefused) {
  const uint16_t port = testing::unused_port();
  Client client("127.0.0.1", port);
  auto response = client.send(get_request());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message,
            fmt::format("connect 127.0.0.1:{}: connection refused", port));
}

TEST_F(ClientTest, TimeoutWhenTheHandlerNeverAnswers) {
  start([this](Request&&, std::shared_ptr<ResponseStream> stream) {
    held_.push_back(std::move(stream));
  });
  Client client("127.0.0.1", port_, ClientOptions{.request_timeout = 300ms});
  const auto start_time = std::chrono::steady_clock::now();
  auto response = client.send(get_request());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message,
            fmt::format("timeout after 300 ms reading response from 127.0.0.1:{}", port_));
  const auto elapsed = std::chrono::steady_clock::now() - start_time;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 10s);
}

TEST_F(ClientTest, TimeoutWhenAStreamStalls) {
  start([this](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write("data: one\n\n");
    held_.push_back(std::move(stream));
  });
  Client client("127.0.0.1", port_, ClientOptions{.request_timeout = 300ms});
  std::string got;
  auto response = client.send_streaming(get_request(), [&](std::string_view bytes) {
    got += bytes;
    return true;
  });
  ASSERT_FALSE(response);
  EXPECT_THAT(response.error().message, StartsWith("timeout after 300 ms reading response"));
  EXPECT_EQ(got, "data: one\n\n");
}

TEST(ClientTimeoutTest, TimeoutWhenTheServerNeverReads) {
  SilentListener silent;
  Client client("127.0.0.1", silent.port(), ClientOptions{.request_timeout = 300ms});
  auto response = client.send(get_request());
  ASSERT_FALSE(response);
  EXPECT_THAT(response.error().message, HasSubstr("timeout after 300 ms"));
}

TEST_F(ClientTest, BodyLimit) {
  start([](Request&& request, std::shared_ptr<ResponseStream> stream) {
    if (request.path() == "/chunked") {
      stream->start(200, {});
      for (int i = 0; i < 10; ++i) stream->write(std::string(500, 'c'));
      stream->finish();
    } else {
      stream->respond(Response{200, {}, std::string(5000, 'x')});
    }
  });
  Client client("127.0.0.1", port_, ClientOptions{.max_body_bytes = 1000});
  auto response = client.send(get_request("/"));
  ASSERT_FALSE(response) << response->status << " " << response->body.size();
  EXPECT_EQ(response.error().message, "response body over 1000 bytes");
  response = client.send(get_request("/chunked"));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message, "response body over 1000 bytes");
  std::size_t streamed = 0;
  response = client.send_streaming(get_request("/chunked"), [&](std::string_view bytes) {
    streamed += bytes.size();
    return true;
  });
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message, "response body over 1000 bytes");
  EXPECT_LE(streamed, 1000u);
}

TEST_F(ClientTest, HeaderLimit) {
  start([](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {{"X-Big", std::string(4000, 'h')}}, "ok"});
  });
  Client client("127.0.0.1", port_, ClientOptions{.max_header_bytes = 1024});
  auto response = client.send(get_request());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message, "response headers over 1024 bytes");
}

TEST_F(ClientTest, ReconnectsAfterTheServerClosedAnIdleConnection) {
  ServerOptions options;
  options.idle_timeout = 100ms;
  start(
      [](Request&&, std::shared_ptr<ResponseStream> stream) {
        stream->respond(Response{200, {}, "ok"});
      },
      options);
  Client client("127.0.0.1", port_);
  ASSERT_TRUE(client.send(get_request()));
  ASSERT_TRUE(testing::wait_until([&] { return server_->open_connections() == 0; }));
  auto response = client.send(get_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "ok");
}

// A hand-written server that answers the first request on a connection and then closes the
// connection on the second one without answering, the race a keep-alive client must survive:
// the client cannot see the close coming, so it has to resend on a new connection.
TEST(ClientRetryTest, ResendsOnceWhenAReusedConnectionDropsTheRequest) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const uint16_t port = ntohs(address.sin_port);

  std::atomic<int> connections = 0;
  std::thread server([&] {
    constexpr std::string_view kReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (int c = 0; c < 2; ++c) {
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) return;
      ++connections;
      std::string got;
      char buffer[4096];
      int answered = 0;
      while (true) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
        if (got.find("\r\n\r\n") == std::string::npos) continue;
        got.clear();
        // First connection: answer one request, drop the second. Second: answer.
        if (c == 0 && answered == 1) break;
        ::send(fd, kReply.data(), kReply.size(), MSG_NOSIGNAL);
        ++answered;
        if (c == 1) break;
      }
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  });

  Client client("127.0.0.1", port);
  auto first = client.send(get_request());
  ASSERT_TRUE(first) << first.error().message;
  auto second = client.send(get_request());
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->body, "ok");
  server.join();
  EXPECT_EQ(connections, 2);
  ::close(listener);
}

// Found by tests/fuzz: Beast reads "000" as a status code, and the client returned a response
// with status 0, from send() and from send_streaming() after handing it the body.
TEST(ClientStatusTest, StatusBelow100IsAnError) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::thread server([&] {
    for (int c = 0; c < 2; ++c) {
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) return;
      std::string got;
      char buffer[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
      }
      constexpr std::string_view kReply = "HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nhi";
      ::send(fd, kReply.data(), kReply.size(), MSG_NOSIGNAL);
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  });
  Client client("127.0.0.1", ntohs(address.sin_port));
  auto response = client.send(get_request());
  bool streamed = false;
  auto streaming = client.send_streaming(get_request(), [&](std::string_view) {
    streamed = true;
    return true;
  });
  server.join();
  ::close(listener);
  ASSERT_FALSE(response);
  EXPECT_THAT(response.error().message, HasSubstr("bad status"));
  ASSERT_FALSE(streaming);
  EXPECT_FALSE(streamed);
}

TEST_F(ClientTest, StreamingStopsWhenTheCallbackSaysSo) {
  start([](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {}, std::string(200 * 1024, 's')});
  });
  Client client("127.0.0.1", port_);
  int calls = 0;
  auto response = client.send_streaming(get_request(), [&](std::string_view) {
    ++calls;
    return false;
  });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(calls, 1);
  // The client reconnects for the next exchange.
  auto next = client.send(get_request());
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->body.size(), 200u * 1024);
}

TEST_F(ClientTest, StreamingHandsTheHeadOverBeforeTheBody) {
  start([](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(201, {{"X-Kind", "sse"}});
    stream->write("data: one\n\n");
    stream->finish();
  });
  Client client("127.0.0.1", port_);
  std::vector<std::string> events;
  auto response = client.send_streaming(
      get_request(),
      [&](const Response& head) {
        EXPECT_TRUE(head.body.empty());
        events.push_back(fmt::format("head {} {}", head.status, head.header("x-kind")));
        return true;
      },
      [&](std::string_view bytes) {
        events.push_back(std::string(bytes));
        return true;
      });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_THAT(events, ::testing::ElementsAre("head 201 sse", "data: one\n\n"));

  // A head callback that says no stops before the body.
  int bodies = 0;
  response = client.send_streaming(
      get_request(), [](const Response&) { return false; },
      [&](std::string_view) { return ++bodies > 0; });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(bodies, 0);
}

TEST_F(ClientTest, MovedClientKeepsWorking) {
  start([](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {}, "moved"});
  });
  Client first("127.0.0.1", port_);
  ASSERT_TRUE(first.send(get_request()));
  Client second = std::move(first);
  auto response = second.send(get_request());
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "moved");
  EXPECT_EQ(server_->open_connections(), 1u);
}

}  // namespace
}  // namespace kgai::http
