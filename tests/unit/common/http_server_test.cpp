#include "common/http_server.h"

#include <sys/resource.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
