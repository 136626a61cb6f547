#include "common/http_server.h"

#include <fcntl.h>
#include <sys/resource.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "common/http_client.h"
#include "common/sse.h"
#include "unit/common/http_test_util.h"

namespace kgai::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::LoopThread;
using testing::on_loop;
using testing::RawSocket;
using ::testing::StartsWith;
using testing::wait_until;

Request make_request(std::string method, std::string target, std::string body = {}) {
  Request request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  return request;
}

// Echoes the request back: "METHOD path target\n" + body, with the X-Test header mirrored.
void echo_handler(Request&& request, std::shared_ptr<ResponseStream> stream) {
  Response response;
  response.headers.push_back({"Content-Type", "text/plain"});
  response.headers.push_back({"X-Echo", std::string(request.header("x-test"))});
  response.body = request.method + " " + std::string(request.path()) + " " + request.target + "\n" +
                  request.body;
  stream->respond(std::move(response));
}

// A server on 127.0.0.1 with its loop running; tear-down stops the loop, then the server.
struct TestServer {
  explicit TestServer(Handler handler, ServerOptions options = {})
      : server(loop, std::move(options), std::move(handler)) {
    auto bound = server.listen();
    EXPECT_TRUE(bound) << bound.error().message;
    port = bound.value_or(0);
    runner = std::make_unique<LoopThread>(loop);
  }
  ~TestServer() {
    // Handler state (streams, timers) must go on the loop thread while the loop still exists.
    if (!teardown.empty())
      on_loop(loop, [this] {
        for (auto& fn : teardown) fn();
      });
    runner->stop();
  }

  // Runs `fn` on the loop when the test ends, even when it ends early on a failed ASSERT.
  void at_teardown(std::function<void()> fn) { teardown.push_back(std::move(fn)); }

  Client client(ClientOptions options = {}) { return Client("127.0.0.1", port, options); }
  std::size_t connections() const { return server.open_connections(); }

  EventLoop loop;
  Server server;
  uint16_t port = 0;
  std::unique_ptr<LoopThread> runner;
  std::vector<std::function<void()>> teardown;
};

// Streams `count` SSE events, one per `interval` from a timer, then finishes.
struct TickingStream : std::enable_shared_from_this<TickingStream> {
  TickingStream(EventLoop& loop, std::shared_ptr<ResponseStream> stream, int count,
                std::chrono::milliseconds interval)
      : timer(loop), stream(std::move(stream)), left(count), interval(interval) {}

  void tick() {
    if (left == 0) {
      stream->finish();
      return;
    }
    stream->write(sse::format("event " + std::to_string(sent++)));
    --left;
    timer.arm(std::chrono::steady_clock::now() + interval,
              [self = shared_from_this()] { self->tick(); });
  }

  Timer timer;
  std::shared_ptr<ResponseStream> stream;
  int sent = 0;
  int left;
  std::chrono::milliseconds interval;
};

TEST(HttpTypesTest, FindHeaderIgnoresCase) {
  const std::vector<Header> headers = {{"Content-Type", "text/plain"}, {"X-A", "1"}};
  EXPECT_EQ(find_header(headers, "content-type"), "text/plain");
  EXPECT_EQ(find_header(headers, "X-a"), "1");
  EXPECT_EQ(find_header(headers, "missing"), "");
  EXPECT_EQ(find_header(headers, "Content-Typ"), "");
}

TEST(HttpTypesTest, PathDropsTheQuery) {
  Request request;
  request.target = "/v1/completions?stream=true";
  EXPECT_EQ(request.path(), "/v1/completions");
  request.target = "/metrics";
  EXPECT_EQ(request.path(), "/metrics");
}

TEST(HttpTypesTest, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(100), "Continue");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(-1), "Unknown");
  EXPECT_EQ(reason_phrase(1000), "Unknown");
}

TEST(HttpServerTest, GetRoundTrip) {
  TestServer server(echo_handler);
  Client client = server.client();
  Request request = make_request("GET", "/v1/models?x=1");
  request.headers.push_back({"X-Test", "hello"});
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /v1/models /v1/models?x=1\n");
  EXPECT_EQ(response->header("content-type"), "text/plain");
  EXPECT_EQ(response->header("X-Echo"), "hello");
  EXPECT_EQ(response->header("Server"), "kgai");
}

TEST(HttpServerTest, PostRoundTripWithLargeBody) {
  TestServer server(echo_handler);
  Client client = server.client();
  const std::string body(1 << 20, 'b');
  auto response = client.send(make_request("POST", "/echo", body));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "POST /echo /echo\n" + body);
  EXPECT_EQ(response->header("Content-Length"), std::to_string(response->body.size()));
}

TEST(HttpServerTest, KeepAliveReusesTheConnection) {
  TestServer server(echo_handler);
  Client client = server.client();
  for (int i = 0; i < 5; ++i) {
    auto response = client.send(make_request("POST", "/n", std::to_string(i)));
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->body, "POST /n /n\n" + std::to_string(i));
    EXPECT_EQ(server.connections(), 1u);
  }
  client.close();
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

// start_sized relays a body of known length: Content-Length framing, keep-alive intact; a
// handler that writes fewer or more bytes than announced gets its connection closed after the
// response (the framing would otherwise be wrong for the next one).
TEST(HttpServerTest, SizedStreamingResponses) {
  TestServer server([](Request&& request, std::shared_ptr<ResponseStream> stream) {
    const std::string path(request.path());
    stream->start_sized(200, {{"Content-Type", "application/json"}}, 10);
    if (path == "/exact") {
      stream->write("01234");
      stream->write("56789");
    } else if (path == "/short") {
      stream->write("0123");
    } else {  // "/long"
      stream->write("0123456789abc");
    }
    stream->finish();
  });
  Client client = server.client();
  for (int i = 0; i < 3; ++i) {
    auto r = client.send(make_request("GET", "/exact"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "0123456789");
    EXPECT_EQ(r->header("Content-Length"), "10");
    EXPECT_EQ(r->header("Transfer-Encoding"), "");
    EXPECT_EQ(server.connections(), 1u);  // kept alive
  }
  auto too_long = client.send(make_request("GET", "/long"));
  ASSERT_TRUE(too_long) << too_long.error().message;
  EXPECT_EQ(too_long->body, "0123456789");  // cut at the announced length
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
  auto too_short = client.send(make_request("GET", "/short"));
  EXPECT_FALSE(too_short);  // the body ends early: the client sees a truncated response
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, ConnectionCloseFromTheClient) {
  TestServer server(echo_handler);
  Client client = server.client();
  Request request = make_request("GET", "/");
  request.headers.push_back({"Connection", "close"});
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
  // The client reconnects for the next request.
  ASSERT_TRUE(client.send(make_request("GET", "/")));
}

TEST(HttpServerTest, ConnectionCloseFromTheHandler) {
  TestServer server([](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {{"Connection", "close"}}, "bye"});
  });
  Client client = server.client();
  for (int i = 0; i < 3; ++i) {
    auto response = client.send(make_request("GET", "/"));
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->body, "bye");
    EXPECT_EQ(response->header("Connection"), "close");
  }
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, Http10ClosesAfterTheResponse) {
  TestServer server(echo_handler);
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("GET /old HTTP/1.0\r\n\r\n"));
  bool closed = false;
  std::string reply = socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("GET /old /old\n"));
}

TEST(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  TestServer server(echo_handler);
  RawSocket socket(server.port);
  ASSERT_TRUE(
      socket.send_all("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
                      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  std::string reply = socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  const auto a = reply.find("GET /a /a\n");
  const auto b = reply.find("POST /b /b\nxyz");
  const auto c = reply.find("GET /c /c\n");
  ASSERT_NE(a, std::string::npos) << reply;
  ASSERT_NE(b, std::string::npos) << reply;
  ASSERT_NE(c, std::string::npos) << reply;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

// A Content-Length body is read straight into the request: whatever came with the head, then
// the rest from the socket, leaving the bytes of a pipelined request that follow it alone.
TEST(HttpServerTest, SizedBodyInPiecesThenAPipelinedRequest) {
  TestServer server(echo_handler);
  RawSocket socket(server.port);
  const std::string body = std::string(100'000, 'x') + "END";
  const std::string head =
      fmt::format("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.size());
  ASSERT_TRUE(socket.send_all(head + body.substr(0, 10)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(socket.send_all(body.substr(10, 50'000)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(socket.send_all(body.substr(50'010) +
                              "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  const std::string reply = socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  const auto big = reply.find("POST /big /big\n" + body);
  const auto next = reply.find("GET /next /next\n");
  ASSERT_NE(big, std::string::npos) << reply.substr(0, 200);
  ASSERT_NE(next, std::string::npos) << reply.substr(0, 200);
  EXPECT_LT(big, next);
}

TEST(HttpServerTest, SlowBodyTimesOut) {
  ServerOptions options;
  options.read_timeout = 200ms;
  std::atomic<int> handled = 0;
  TestServer server(
      [&](Request&& request, std::shared_ptr<ResponseStream> stream) {
        ++handled;
        echo_handler(std::move(request), std::move(stream));
      },
      options);
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab"));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(socket.send_all("cd"));  // trickling body bytes does not extend it either
  bool closed = false;
  socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handled, 0);
}

TEST(HttpServerTest, ExpectContinue) {
  TestServer server(echo_handler);
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all(
      "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_THAT(socket.read_until("\r\n\r\n"), StartsWith("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(socket.send_all("hello"));
  EXPECT_THAT(socket.read_until("hello"), HasSubstr("POST /up /up\nhello"));
}

TEST(HttpServerTest, HeadGetsHeadersOnly) {
  TestServer server([](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {}, "0123456789"});
  });
  Client client = server.client();
  auto response = client.send(make_request("HEAD", "/"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->header("Content-Length"), "10");
  EXPECT_EQ(response->body, "");
  // The connection is still in step for the next request.
  auto next = client.send(make_request("GET", "/"));
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->body, "0123456789");
}

TEST(HttpServerTest, ChunkedSseStreamFromATimer) {
  EventLoop* loop = nullptr;
  TestServer server([&loop](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    std::make_shared<TickingStream>(*loop, std::move(stream), 5, 20ms)->tick();
  });
  loop = &server.loop;

  Client client = server.client();
  sse::Parser parser;
  std::vector<std::string> events;
  int pieces = 0;
  auto response = client.send_streaming(make_request("GET", "/stream"), [&](std::string_view b) {
    ++pieces;
    EXPECT_TRUE(parser.feed(b, [&](sse::Event&& e) { events.push_back(e.data); }));
    return true;
  });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("Content-Type"), "text/event-stream");
  EXPECT_EQ(response->header("Transfer-Encoding"), "chunked");
  EXPECT_TRUE(response->body.empty());
  EXPECT_EQ(events,
            (std::vector<std::string>{"event 0", "event 1", "event 2", "event 3", "event 4"}));
  EXPECT_GE(pieces, 2);  // delivered as it came, not all at the end
  EXPECT_FALSE(parser.has_partial());

  // The same connection then serves a plain request.
  auto after =
      client.send_streaming(make_request("GET", "/stream"), [](std::string_view) { return true; });
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(server.connections(), 1u);
}

// Token latency: a chunk must be in the kernel when write() returns, not one loop turn later.
// The handler blocks the loop thread until the client has read the chunk, which can only
// happen if write() itself sent it.
TEST(HttpServerTest, WriteSendsBeforeReturning) {
  std::promise<void> client_got_it;
  auto got_it = client_got_it.get_future();
  std::atomic<bool> sent_in_call = false;
  TestServer server([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write("data: first\n\n");
    stream->write("data: second\n\n");
    sent_in_call = got_it.wait_for(10s) == std::future_status::ready;
    stream->finish();
  });
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got = socket.read_until("data: second\n\n", 3s);
  client_got_it.set_value();
  EXPECT_THAT(got, HasSubstr("data: first\n\n"));
  EXPECT_THAT(got, HasSubstr("data: second\n\n"));
  EXPECT_THAT(socket.read_until("0\r\n\r\n"), HasSubstr("0\r\n\r\n"));
  EXPECT_TRUE(sent_in_call);
}

TEST(HttpServerTest, StreamingReadsContentLengthBodies) {
  const std::string body(300 * 1024, 'z');
  TestServer server([&body](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->respond(Response{200, {}, body});
  });
  Client client = server.client();
  std::string got;
  auto response = client.send_streaming(make_request("GET", "/"), [&](std::string_view b) {
    got += b;
    return true;
  });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(got, body);
}

TEST(HttpServerTest, DelayedResponseFromATimer) {
  EventLoop* loop = nullptr;
  TestServer server([&](Request&& request, std::shared_ptr<ResponseStream> stream) {
    // The callback owns its timer, which goes once the callback has run.
    auto timer = std::make_shared<Timer>(*loop);
    timer->arm(std::chrono::steady_clock::now() + 50ms, [timer, stream, body = request.body] {
      stream->respond(Response{202, {}, body});
    });
  });
  loop = &server.loop;
  Client client = server.client();
  const auto start = std::chrono::steady_clock::now();
  auto response = client.send(make_request("POST", "/later", "payload"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->body, "payload");
}

TEST(HttpServerTest, HandlerThatDropsTheStreamGets500) {
  TestServer server([](Request&&, std::shared_ptr<ResponseStream>) {});
  Client client = server.client();
  auto response = client.send(make_request("GET", "/"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 500);
}

TEST(HttpServerTest, OversizedBodyGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  TestServer server(echo_handler, options);
  Client client = server.client();
  auto response = client.send(make_request("POST", "/", std::string(4096, 'x')));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->header("Content-Type"), "text/plain");
  EXPECT_THAT(response->body, HasSubstr("request body over 1024 bytes"));
  // A body within the limit still works (on a new connection).
  auto ok = client.send(make_request("POST", "/", std::string(1024, 'x')));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpServerTest, RejectionsInTheServersOwnShape) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  options.reject_response = [](int status, std::string_view reason) {
    return Response{status,
                    {{"Content-Type", "application/json"}, {"Content-Length", "999"}},
                    fmt::format(R"({{"error":"{}","code":{}}})", reason, status)};
  };
  TestServer server(echo_handler, options);
  Client client = server.client();
  auto response = client.send(make_request("POST", "/", std::string(4096, 'x')));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->header("Content-Type"), "application/json");
  // The server frames it: the handler's Content-Length is ignored.
  EXPECT_EQ(response->body, R"({"error":"request body over 1024 bytes","code":413})");
}

TEST(HttpServerTest, OversizedChunkedBodyGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  TestServer server(echo_handler, options);
  RawSocket socket(server.port);
  std::string request = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) request += "200\r\n" + std::string(512, 'y') + "\r\n";
  request += "0\r\n\r\n";
  ASSERT_TRUE(socket.send_all(request));
  bool closed = false;
  EXPECT_THAT(socket.read_until_close(10s, &closed), StartsWith("HTTP/1.1 413 "));
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, OversizedHeadersGet431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  TestServer server(echo_handler, options);
  Client client = server.client();
  Request request = make_request("GET", "/");
  request.headers.push_back({"X-Big", std::string(4096, 'h')});
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 431);
  EXPECT_THAT(response->body, HasSubstr("request headers over 1024 bytes"));
}

TEST(HttpServerTest, GarbageGets400AndClose) {
  TestServer server(echo_handler);
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all(std::string("\x16\x03\x01\x02\x00 garbage\r\n\r\n", 17)));
  bool closed = false;
  std::string reply = socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain\r\n"));
  EXPECT_THAT(reply, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(reply, HasSubstr("bad request: "));
  socket.close();  // ends the server's lingering read
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, BadContentLengthGets400) {
  TestServer server(echo_handler);
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"));
  EXPECT_THAT(socket.read_until_close(), StartsWith("HTTP/1.1 400 "));
}

TEST(HttpServerTest, TruncatedRequestIsDroppedQuietly) {
  std::atomic<int> handled = 0;
  TestServer server([&](Request&& request, std::shared_ptr<ResponseStream> stream) {
    ++handled;
    echo_handler(std::move(request), std::move(stream));
  });
  {
    RawSocket socket(server.port);
    ASSERT_TRUE(socket.send_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf"));
    ASSERT_TRUE(wait_until([&] { return server.connections() == 1; }));
  }
  {
    RawSocket socket(server.port);
    ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHo"));
  }
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
  EXPECT_EQ(handled, 0);
  auto response = server.client().send(make_request("GET", "/"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(handled, 1);
}

TEST(HttpServerTest, SlowRequestTimesOut) {
  ServerOptions options;
  options.read_timeout = 200ms;
  TestServer server(echo_handler, options);
  RawSocket socket(server.port);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHost: x\r\n"));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(socket.send_all("X-Slow: 1\r\n"));  // trickling bytes does not extend it
  bool closed = false;
  socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, IdleConnectionTimesOut) {
  ServerOptions options;
  options.idle_timeout = 200ms;
  TestServer server(echo_handler, options);
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  bool closed = false;
  std::string reply = socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, ClientGoneMidStreamFiresOnClose) {
  std::promise<void> closed;
  std::shared_ptr<ResponseStream> kept;  // loop thread only
  TestServer server([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->on_close([&closed] { closed.set_value(); });
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write(sse::format("first"));
    kept = std::move(stream);
  });
  server.at_teardown([&] { kept.reset(); });
  Client client = server.client();
  auto response = client.send_streaming(make_request("GET", "/"), [](std::string_view) {
    return false;  // hang up after the first piece
  });
  ASSERT_TRUE(response) << response.error().message;
  ASSERT_EQ(closed.get_future().wait_for(10s), std::future_status::ready);
  on_loop(server.loop, [&] {
    EXPECT_FALSE(kept->is_open());
    EXPECT_FALSE(kept->write("more"));
    kept->finish();  // harmless
  });
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, StopClosesLiveConnections) {
  std::atomic<int> started = 0;
  std::atomic<int> closed = 0;
  std::vector<std::shared_ptr<ResponseStream>> streams;  // loop thread only
  TestServer server([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->on_close([&closed] { ++closed; });
    stream->start(200, {});
    stream->write("hello");
    streams.push_back(std::move(stream));
    ++started;
  });
  server.at_teardown([&] { streams.clear(); });
  std::vector<RawSocket> sockets;
  for (int i = 0; i < 3; ++i) {
    sockets.emplace_back(server.port);
    ASSERT_TRUE(sockets.back().send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  RawSocket idle(server.port);
  ASSERT_TRUE(wait_until([&] { return started == 3 && server.connections() == 4; }));

  on_loop(server.loop, [&] {
    server.server.stop();
    server.server.stop();  // twice is fine
    for (auto& stream : streams) EXPECT_FALSE(stream->write("late"));
    streams.clear();
  });
  EXPECT_EQ(closed, 3);
  EXPECT_EQ(server.connections(), 0u);
  for (auto& socket : sockets) {
    bool eof = false;
    socket.read_until_close(10s, &eof);
    EXPECT_TRUE(eof);
  }
  auto refused = server.client(ClientOptions{.connect_timeout = 2s}).send(make_request("GET", "/"));
  EXPECT_FALSE(refused);
}

TEST(HttpServerTest, ListenReportsAddressInUse) {
  EventLoop loop;
  Server first(loop, {}, echo_handler);
  auto port = first.listen();
  ASSERT_TRUE(port) << port.error().message;
  ServerOptions options;
  options.port = *port;
  Server second(loop, options, echo_handler);
  auto again = second.listen();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, fmt::format("127.0.0.1:{}: address already in use", *port));
}

TEST(HttpServerTest, ListenRejectsABadAddress) {
  EventLoop loop;
  ServerOptions options;
  options.address = "999.1.1.1";
  Server server(loop, options, echo_handler);
  auto port = server.listen();
  ASSERT_FALSE(port);
  EXPECT_THAT(port.error().message, StartsWith("999.1.1.1:0: "));
}

// ---------------------------------------------------------------------------------------
// Framing that two parsers could read differently (RFC 9112 6.1, 6.3, 3.2): each is answered
// and the connection closed, and the request pipelined behind it is never parsed.

struct FramingCase {
  const char* name;
  std::string request;
  int status;
};

TEST(HttpServerTest, AmbiguousFramingIsRejectedAndNothingBehindItIsParsed) {
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<FramingCase> cases = {
      {"coding not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"chunked not final",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"empty coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n", 400},
      {"chunked in HTTP/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
      {"length then chunked",
       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n",
       400},
      {"chunked then length",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
       "0\r\n\r\n",
       400},
      {"gzip then length",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
       400},
      {"two lengths",
       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", 400},
      {"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"gzip, chunked",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
       "\r\n0\r\n\r\n",
       501},
      {"chunked twice",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
       "\r\n0\r\n\r\n",
       400},
      {"look-alike coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
       400},
      {"space before colon",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
      {"signed length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400},
      {"bare LF", "POST / HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello", 400},
      // Beast unfolds obs-fold into one space (RFC 9112 5.2 allows it): gzip, chunked.
      {"folded coding",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n", 501},
      {"chunk line too long",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
           std::string(64 * 1024, 'e') + "\r\nhello\r\n0\r\n\r\n",
       400},
  };
  std::atomic<int> handled = 0;
  ServerOptions options;
  options.reject_response = [](int status, std::string_view reason) {
    return Response{
        status, {{"Content-Type", "application/json"}}, fmt::format(R"({{"error":"{}"}})", reason)};
  };
  TestServer server(
      [&](Request&& request, std::shared_ptr<ResponseStream> stream) {
        ++handled;
        echo_handler(std::move(request), std::move(stream));
      },
      options);
  for (const FramingCase& c : cases) {
    SCOPED_TRACE(c.name);
    RawSocket socket(server.port);
    // The peer may reset once we close with its bytes unread: a failed send is fine.
    socket.send_all(c.request + smuggled);
    bool closed = false;
    const std::string reply = socket.read_until_close(10s, &closed);
    EXPECT_TRUE(closed);
    EXPECT_THAT(reply, StartsWith(fmt::format("HTTP/1.1 {} ", c.status)));
    EXPECT_THAT(reply, HasSubstr("Connection: close\r\n"));
    EXPECT_THAT(reply, HasSubstr("Content-Type: application/json\r\n"));
    EXPECT_THAT(reply, HasSubstr(R"({"error":")"));
    // One answer only: the pipelined request was not read as a request.
    EXPECT_EQ(reply.find("HTTP/1.1", 1), std::string::npos) << reply;
  }
  EXPECT_EQ(handled, 0);
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

TEST(HttpServerTest, UnambiguousFramingVariantsAreServed) {
  TestServer server(echo_handler);
  const std::vector<std::pair<std::string, std::string>> cases = {
      // HTTP/1.0 needs no Host.
      {"GET /a HTTP/1.0\r\n\r\n", "GET /a /a\n"},
      // A repeated Content-Length with one value frames the body one way only (RFC 9112 6.3).
      {"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
       "Connection: close\r\n\r\nhi",
       "POST /b /b\nhi"},
      // Codings are case-insensitive; extensions and trailers are parsed and dropped.
      {"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
       "2;ext=1\r\nhi\r\n0\r\nX-Trailer: t\r\n\r\n",
       "POST /c /c\nhi"},
  };
  for (const auto& [request, body] : cases) {
    SCOPED_TRACE(request);
    RawSocket socket(server.port);
    ASSERT_TRUE(socket.send_all(request));
    const std::string reply = socket.read_until_close();
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_TRUE(reply.ends_with("\r\n\r\n" + body)) << reply;
  }
}

// A trailer section is header fields after the body: it must not grow without bound.
TEST(HttpServerTest, HugeTrailerIsRefused) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  std::atomic<int> handled = 0;
  TestServer server(
      [&](Request&& request, std::shared_ptr<ResponseStream> stream) {
        ++handled;
        echo_handler(std::move(request), std::move(stream));
      },
      options);
  RawSocket socket(server.port);
  std::string request =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n";
  for (int i = 0; i < 2000; ++i) request += fmt::format("X-T{}: {}\r\n", i, std::string(30, 't'));
  request += "\r\n";
  socket.send_all(request);
  bool closed = false;
  const std::string reply = socket.read_until_close(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_THAT(reply, ::testing::AnyOf(StartsWith("HTTP/1.1 400 "), StartsWith("HTTP/1.1 431 ")));
  EXPECT_EQ(handled, 0);
}

// ---------------------------------------------------------------------------------------
// Connection limits

TEST(HttpServerTest, AtMaxConnectionsAcceptingPausesUntilOneCloses) {
  ServerOptions options;
  options.max_connections = 2;
  std::vector<std::shared_ptr<ResponseStream>> held;  // loop thread
  TestServer server(
      [&](Request&& request, std::shared_ptr<ResponseStream> stream) {
        if (request.path() != "/hold") return echo_handler(std::move(request), std::move(stream));
        // A response in progress: the connection is busy, not idle.
        stream->start(200, {});
        stream->write("held\n");
        held.push_back(std::move(stream));
      },
      options);
  server.at_teardown([&] { held.clear(); });
  RawSocket first(server.port);
  RawSocket second(server.port);
  ASSERT_TRUE(first.send_all("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(second.send_all("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(first.read_until("held\n"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(second.read_until("held\n"), StartsWith("HTTP/1.1 200 OK"));
  // The third handshake completes in the kernel's backlog, but nobody reads it yet.
  RawSocket third(server.port);
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(third.send_all("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(third.read_until("/x\n", 300ms), "");
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_GE(server.server.stats().paused_at_limit, 1u);
  first.close();
  EXPECT_THAT(third.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  const Server::Stats stats = server.server.stats();
  EXPECT_EQ(stats.rejected_per_source, 0u);
  EXPECT_EQ(stats.reclaimed_idle, 0u);
}

// At the cap, a keep-alive connection idle between requests gives its slot to a new client
// (the one idle longest), so clients that keep idle connections cannot starve new ones.
TEST(HttpServerTest, AtMaxConnectionsTheLongestIdleKeepAliveMakesRoom) {
  ServerOptions options;
  options.max_connections = 2;
  TestServer server(echo_handler, options);
  const std::string get = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  RawSocket first(server.port);
  ASSERT_TRUE(first.send_all(get));
  EXPECT_THAT(first.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  RawSocket second(server.port);
  ASSERT_TRUE(second.send_all(get));
  EXPECT_THAT(second.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  RawSocket third(server.port);
  ASSERT_TRUE(third.send_all(get));
  EXPECT_THAT(third.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  bool closed = false;
  EXPECT_EQ(first.read_until_close(10s, &closed), "");
  EXPECT_TRUE(closed);
  // The second still works.
  ASSERT_TRUE(second.send_all(get));
  EXPECT_THAT(second.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(server.server.stats().reclaimed_idle, 1u);
  EXPECT_EQ(server.connections(), 2u);
}

TEST(HttpServerTest, PerSourceCapClosesNewConnectionsUnread) {
  std::ostringstream logged;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(logged);
  spdlog::default_logger()->sinks().push_back(sink);
  ServerOptions options;
  options.max_connections_per_source = 2;
  std::atomic<int> handled = 0;
  TestServer server(
      [&](Request&& request, std::shared_ptr<ResponseStream> stream) {
        ++handled;
        echo_handler(std::move(request), std::move(stream));
      },
      options);
  const std::string get = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  RawSocket first(server.port);
  RawSocket second(server.port);
  ASSERT_TRUE(first.send_all(get));
  ASSERT_TRUE(second.send_all(get));
  EXPECT_THAT(first.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(second.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  for (int i = 0; i < 5; ++i) {
    RawSocket over(server.port);
    over.send_all(get);
    bool closed = false;
    EXPECT_EQ(over.read_until_close(10s, &closed), "");
    EXPECT_TRUE(closed);
  }
  EXPECT_EQ(handled, 2);
  EXPECT_EQ(server.server.stats().rejected_per_source, 5u);
  // A slot frees when a connection closes.
  first.close();
  ASSERT_TRUE(wait_until([&] { return server.connections() == 1; }));
  RawSocket again(server.port);
  ASSERT_TRUE(again.send_all(get));
  EXPECT_THAT(again.read_until("/x\n"), StartsWith("HTTP/1.1 200 OK"));
  spdlog::default_logger()->sinks().pop_back();
  // One line for five rejections (rate limited), naming the port actually bound.
  const std::string text = logged.str();
  EXPECT_THAT(text,
              HasSubstr(fmt::format("127.0.0.1:{}: 127.0.0.1 has 2 connections", server.port)));
  EXPECT_EQ(text.find("per-source limit"), text.rfind("per-source limit")) << text;
}

// accept() failing with EMFILE pauses the accept loop (no spinning), logs one line naming the
// bound port however often it fails, and serves the waiting client once descriptors free up.
TEST(HttpServerTest, OutOfDescriptorsPausesAcceptingAndLogsOnce) {
  std::ostringstream logged;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(logged);
  spdlog::default_logger()->sinks().push_back(sink);
  TestServer server(echo_handler);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // A low soft limit makes filling the table cheap.
  std::vector<int> fillers;
  int probe = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(probe, 0);
  ::close(probe);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, static_cast<rlim_t>(probe) + 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers.push_back(fd);
  // One descriptor for the client's socket; none left for the server's accept.
  ::close(fillers.back());
  fillers.pop_back();
  RawSocket client(server.port);
  const bool connected = client.ok();
  if (connected) client.send_all("GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
  const bool failed_repeatedly =
      wait_until([&] { return server.server.stats().accept_errors >= 3; }, 5s);
  for (int fd : fillers) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(connected);
  EXPECT_TRUE(failed_repeatedly);
  EXPECT_THAT(client.read_until("/late\n"), StartsWith("HTTP/1.1 200 OK"));
  spdlog::default_logger()->sinks().pop_back();
  const std::string text = logged.str();
  const std::string line = fmt::format("http server 127.0.0.1:{}: accept: ", server.port);
  EXPECT_THAT(text, HasSubstr(line + "too many open files"));
  EXPECT_EQ(text.find(line), text.rfind(line)) << text;
}

// ---------------------------------------------------------------------------------------
// Backpressure

// Writes `total` bytes of a known pattern in `piece`-sized writes, pausing while the stream
// is congested and going on from on_drained(), as a proxy does with its upstream.
struct PatternProducer : std::enable_shared_from_this<PatternProducer> {
  PatternProducer(std::shared_ptr<ResponseStream> stream, std::size_t total, std::size_t piece)
      : stream(std::move(stream)), total(total), piece(piece) {}

  static char byte_at(std::size_t i) { return static_cast<char>('a' + i % 23); }

  void run() {
    in_write = true;
    while (sent < total && !stream->congested()) {
      std::string data(std::min(piece, total - sent), '\0');
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = byte_at(sent + i);
      if (!stream->write(data)) break;
      sent += data.size();
      max_buffered = std::max(max_buffered.load(), stream->buffered_bytes());
    }
    in_write = false;
    if (sent == total) {
      stream->finish();
      return;
    }
    if (!stream->is_open()) return;
    ++pauses;
    std::weak_ptr<PatternProducer> weak = shared_from_this();
    stream->on_drained([weak] {
      auto self = weak.lock();
      if (!self) return;
      if (self->in_write) self->drained_inside_write = true;
      ++self->drains;
      self->run();
    });
  }

  std::shared_ptr<ResponseStream> stream;
  std::size_t total;
  std::size_t piece;
  std::size_t sent = 0;
  bool in_write = false;
  std::atomic<std::size_t> max_buffered = 0;
  std::atomic<int> pauses = 0;
  std::atomic<int> drains = 0;
  std::atomic<bool> drained_inside_write = false;
};

TEST(HttpServerTest, SlowReaderGetsEveryByteWithBoundedBuffering) {
  constexpr std::size_t kTotal = 32u << 20;
  constexpr std::size_t kPiece = 16 * 1024;
  ServerOptions options;
  std::shared_ptr<PatternProducer> producer;  // loop thread
  std::atomic<PatternProducer*> live = nullptr;
  TestServer server(
      [&](Request&&, std::shared_ptr<ResponseStream> stream) {
        stream->start_sized(200, {{"Content-Type", "application/octet-stream"}}, kTotal);
        producer = std::make_shared<PatternProducer>(std::move(stream), kTotal, kPiece);
        live = producer.get();
        producer->run();
      },
      options);
  server.at_teardown([&] { producer.reset(); });
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Read nothing for a while: the socket buffers fill and the producer must stop.
  ASSERT_TRUE(wait_until([&] { return live != nullptr && live.load()->pauses > 0; }));
  std::this_thread::sleep_for(300ms);
  const std::size_t buffered_while_stalled =
      on_loop(server.loop, [&] { return producer->stream->buffered_bytes(); });
  EXPECT_LE(buffered_while_stalled, options.write_high_water + kPiece);
  // Then read slowly, in small pieces.
  std::string head = socket.read_until("\r\n\r\n");
  ASSERT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  const std::size_t head_end = head.find("\r\n\r\n") + 4;
  std::size_t received = head.size() - head_end;
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < received; ++i) {
    if (head[head_end + i] != PatternProducer::byte_at(i)) ++mismatches;
  }
  char buffer[64 * 1024];
  int reads = 0;
  while (received < kTotal) {
    pollfd poll_fd{socket.fd(), POLLIN, 0};
    if (::poll(&poll_fd, 1, 10'000) <= 0) break;
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] != PatternProducer::byte_at(received + static_cast<std::size_t>(i))) {
        ++mismatches;
      }
    }
    received += static_cast<std::size_t>(n);
    if (++reads % 64 == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(mismatches, 0u);
  ASSERT_TRUE(
      wait_until([&] { return on_loop(server.loop, [&] { return producer->sent; }) == kTotal; }));
  EXPECT_GT(producer->drains, 0);
  EXPECT_FALSE(producer->drained_inside_write);
  // The queue never held much more than the high-water mark plus one write.
  EXPECT_LE(producer->max_buffered, options.write_high_water + kPiece);
}

TEST(HttpServerTest, ReaderThatNeverReadsIsDroppedByTheWriteTimeout) {
  ServerOptions options;
  options.write_timeout = 300ms;
  std::shared_ptr<PatternProducer> producer;
  std::promise<void> closed;
  TestServer server(
      [&](Request&&, std::shared_ptr<ResponseStream> stream) {
        stream->on_close([&closed] { closed.set_value(); });
        stream->start(200, {});
        producer = std::make_shared<PatternProducer>(std::move(stream), 1u << 30, 64 * 1024);
        producer->run();
      },
      options);
  server.at_teardown([&] { producer.reset(); });
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(closed.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
  on_loop(server.loop, [&] {
    EXPECT_FALSE(producer->stream->is_open());
    EXPECT_EQ(producer->stream->buffered_bytes(), 0u);
    EXPECT_FALSE(producer->stream->congested());
    // Far less than the 1 GiB it wanted to send: it stopped at the high-water mark.
    EXPECT_LT(producer->sent, 64u << 20);
  });
  EXPECT_EQ(producer->drains, 0);
}

TEST(HttpServerTest, OnDrainedWhenAlreadyDrainedRunsLaterNotInside) {
  std::atomic<int> ran = 0;
  std::atomic<bool> inside = false;
  std::shared_ptr<ResponseStream> kept;
  TestServer server([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(200, {});
    stream->write("small");
    EXPECT_FALSE(stream->congested());
    inside = true;
    stream->on_drained([&, stream] {
      if (inside) ADD_FAILURE() << "ran inside on_drained()";
      ++ran;
      stream->finish();
    });
    inside = false;
    kept = stream;
  });
  server.at_teardown([&] { kept.reset(); });
  RawSocket socket(server.port);
  ASSERT_TRUE(socket.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(socket.read_until("0\r\n\r\n"), HasSubstr("5\r\nsmall\r\n0\r\n\r\n"));
  EXPECT_EQ(ran, 1);
}

// Many streams at once: every connection is open and streaming at the same time, read by
// one thread with poll().
TEST(HttpServerTest, ThousandConcurrentStreams) {
  // Each stream takes two descriptors in this process (client and server side).
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < 2100 && limit.rlim_max >= 2100) {
    limit.rlim_cur = 2100;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  const int n = static_cast<int>(std::min<rlim_t>(1000, (limit.rlim_cur - 100) / 2));
  constexpr int kEvents = 5;

  EventLoop* loop = nullptr;
  std::vector<std::shared_ptr<ResponseStream>> streams;  // loop thread only
  std::unique_ptr<Timer> ticker;
  int ticks = 0;
  std::atomic<std::size_t> open_when_all_started = 0;
  std::function<void()> tick = [&] {
    for (auto& stream : streams) stream->write(sse::format("tick " + std::to_string(ticks)));
    if (++ticks == kEvents) {
      for (auto& stream : streams) stream->finish();
      streams.clear();
      return;
    }
    ticker->arm(std::chrono::steady_clock::now() + 10ms, tick);
  };
  TestServer* server_ptr = nullptr;
  TestServer server([&](Request&&, std::shared_ptr<ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    streams.push_back(std::move(stream));
    if (static_cast<int>(streams.size()) == n) {
      open_when_all_started = server_ptr->connections();
      ticker = std::make_unique<Timer>(*loop);
      ticker->arm(std::chrono::steady_clock::now(), tick);
    }
  });
  loop = &server.loop;
  server_ptr = &server;
  server.at_teardown([&] {
    ticker.reset();
    streams.clear();
  });

  std::vector<RawSocket> sockets;
  sockets.reserve(n);
  for (int i = 0; i < n; ++i) {
    sockets.emplace_back(server.port);
    ASSERT_TRUE(sockets.back().ok()) << "connection " << i;
    ASSERT_TRUE(sockets.back().send_all("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  std::vector<std::string> received(n);
  std::vector<bool> done(n, false);
  int finished = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::vector<pollfd> fds(n);
  while (finished < n && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < n; ++i) fds[i] = pollfd{done[i] ? -1 : sockets[i].fd(), POLLIN, 0};
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[4096];
      const ssize_t got = ::recv(sockets[i].fd(), buffer, sizeof buffer, 0);
      if (got > 0) received[i].append(buffer, static_cast<std::size_t>(got));
      if (got <= 0 || received[i].ends_with("\r\n0\r\n\r\n")) {
        done[i] = true;
        ++finished;
      }
    }
  }
  ASSERT_EQ(finished, n);
  EXPECT_EQ(open_when_all_started, static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_THAT(received[i], StartsWith("HTTP/1.1 200 OK\r\n")) << i;
    std::size_t at = 0;
    for (int k = 0; k < kEvents; ++k) {
      at = received[i].find("data: tick " + std::to_string(k) + "\n\n", at);
      ASSERT_NE(at, std::string::npos) << "connection " << i << " event " << k;
    }
  }
  sockets.clear();
  EXPECT_TRUE(wait_until([&] { return server.connections() == 0; }));
}

}  // namespace
}  // namespace kgai::http
