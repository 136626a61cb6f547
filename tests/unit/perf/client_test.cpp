#include "perf/client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/event_loop.h"
#include "common/http_server.h"
#include "unit/common/http_test_util.h"

namespace kgai::perf {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::LoopThread;
using testing::on_loop;

// A kgai HTTP server on 127.0.0.1 with its loop on a thread. Handler state that lives on the
// loop (timers, open streams) is dropped on the loop at tear-down.
struct TestServer {
  explicit TestServer(http::Handler handler) : server(loop, {}, std::move(handler)) {
    auto bound = server.listen();
    EXPECT_TRUE(bound) << bound.error().message;
    port = bound.value_or(0);
    runner = std::make_unique<LoopThread>(loop);
  }
  ~TestServer() {
    on_loop(loop, [this] {
      keep.clear();
      server.stop();
    });
    runner->stop();
  }

  EventLoop loop;
  http::Server server;
  uint16_t port = 0;
  std::unique_ptr<LoopThread> runner;
  std::vector<std::shared_ptr<void>> keep;  // loop thread only
};

std::string event(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }

constexpr std::string_view kUsageChunk =
    R"({"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16,)"
    R"("prompt_tokens_details":{"cached_tokens":3}}})";

std::string text_chunk(std::string_view text) {
  return fmt::format(R"({{"choices":[{{"index":0,"text":"{}","finish_reason":null}}]}})", text);
}

// Writes `chunks` one per `interval` from a timer, then finishes.
struct TimedStream : std::enable_shared_from_this<TimedStream> {
  TimedStream(EventLoop& loop, std::shared_ptr<http::ResponseStream> stream,
              std::vector<std::string> chunks, std::chrono::milliseconds interval)
      : timer(loop), stream(std::move(stream)), chunks(std::move(chunks)), interval(interval) {}

  void start() {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    arm();
  }
  void arm() {
    timer.arm(std::chrono::steady_clock::now() + interval, [self = shared_from_this()] {
      if (self->next == self->chunks.size()) return self->stream->finish();
      self->stream->write(self->chunks[self->next++]);
      self->arm();
    });
  }

  Timer timer;
  std::shared_ptr<http::ResponseStream> stream;
  std::vector<std::string> chunks;
  size_t next = 0;
  std::chrono::milliseconds interval;
};

// Answers after `delay` from a timer.
void respond_later(TestServer& s, std::shared_ptr<http::ResponseStream> stream,
                   std::chrono::milliseconds delay, http::Response response,
                   std::function<void()> after = {}) {
  auto timer = std::make_shared<Timer>(s.loop);
  s.keep.push_back(timer);
  timer->arm(std::chrono::steady_clock::now() + delay,
             [stream, response = std::move(response), after = std::move(after)]() mutable {
               if (after) after();
               stream->respond(std::move(response));
             });
}

http::Response json_response(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

std::unique_ptr<Client> make_client(uint16_t port, bool stream, int workers = 1,
                                    std::string path = "/v1/completions") {
  ClientOptions options;
  options.port = port;
  options.stream = stream;
  options.num_workers = workers;
  options.path = std::move(path);
  auto client = Client::create(options);
  EXPECT_TRUE(client) << client.error().message;
  return client ? std::move(*client) : nullptr;
}

RequestSource fixed_source(int input_tokens = 7) {
  return [input_tokens](uint64_t index) {
    OutgoingRequest r;
    r.body = fmt::format(R"({{"prompt":"p{}","max_tokens":5}})", index);
    r.input_tokens = input_tokens;
    return r;
  };
}

StageRun open_loop(std::vector<double> offsets) {
  StageRun stage;
  stage.offsets = std::move(offsets);
  return stage;
}

std::vector<RequestRecord> run(Client& client, const StageRun& stage,
                               const RequestSource& source = fixed_source(),
                               std::function<void(const Progress&)> progress = {}) {
  const auto start = std::chrono::steady_clock::now();
  auto records = client.run_stage(stage, source, start, start, progress);
  EXPECT_TRUE(records) << records.error().message;
  return records ? std::move(*records) : std::vector<RequestRecord>{};
}

TEST(ClientTest, NonStreamedCompletionWithUsage) {
  std::string seen_body, seen_type, seen_auth;
  TestServer s([&](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
    seen_body = request.body;
    seen_type = request.header("content-type");
    seen_auth = request.header("authorization");
    stream->respond(json_response(
        200, R"({"choices":[{"text":"hello world"}],"usage":{"prompt_tokens":12,)"
             R"("completion_tokens":4,"prompt_tokens_details":{"cached_tokens":8}}})"));
  });
  ClientOptions options;
  options.port = s.port;
  options.headers = {{"Authorization", "Bearer x"}};
  auto client = Client::create(options);
  ASSERT_TRUE(client);
  auto records = run(**client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  const RequestRecord& r = records[0];
  EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.input_tokens, 12);
  EXPECT_EQ(r.output_tokens, 4);
  EXPECT_EQ(r.cached_tokens, 8);
  EXPECT_EQ(r.first_token, r.end);
  EXPECT_TRUE(r.token_times.empty());
  EXPECT_GE(r.sent, r.scheduled);
  EXPECT_GE(r.end, r.sent);
  EXPECT_EQ(seen_body, R"({"prompt":"p0","max_tokens":5})");
  EXPECT_EQ(seen_type, "application/json");
  EXPECT_EQ(seen_auth, "Bearer x");
}

TEST(ClientTest, NonStreamedWithoutUsageCountsFourBytesAToken) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    stream->respond(json_response(200, R"({"choices":[{"message":{"content":"123456789"}}]})"));
  });
  auto client = make_client(s.port, false, 1, "/v1/chat/completions");
  auto records = run(*client, open_loop({0}), fixed_source(33));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].ok()) << records[0].error_message;
  EXPECT_FALSE(records[0].usage_reported);
  EXPECT_EQ(records[0].output_tokens, 3);
  EXPECT_EQ(records[0].input_tokens, 33);
}

TEST(ClientTest, StreamedCompletionTimesEveryToken) {
  constexpr int kTokens = 4;
  constexpr auto kInterval = 50ms;
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    std::vector<std::string> chunks;
    for (int i = 0; i < kTokens; ++i) chunks.push_back(event(text_chunk("t" + std::to_string(i))));
    chunks.push_back(event(kUsageChunk) + event("[DONE]"));
    auto timed = std::make_shared<TimedStream>(s.loop, stream, chunks, kInterval);
    s.keep.push_back(timed);
    timed->start();
  });
  auto client = make_client(s.port, true);
  auto records = run(*client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  const RequestRecord& r = records[0];
  ASSERT_TRUE(r.ok()) << r.error_message;
  ASSERT_EQ(r.token_times.size(), static_cast<size_t>(kTokens));
  for (int i = 0; i < kTokens; ++i) {
    EXPECT_NEAR(r.token_times[static_cast<size_t>(i)], 0.05 * (i + 1), 0.02) << i;
  }
  EXPECT_NEAR(r.first_token - r.sent, 0.05, 0.02);
  EXPECT_NEAR(r.end - r.sent, 0.05 * (kTokens + 2), 0.03);  // usage + [DONE], then the last chunk
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.input_tokens, 11);
  EXPECT_EQ(r.output_tokens, 5);
  EXPECT_EQ(r.cached_tokens, 3);
}

TEST(ClientTest, StreamWithoutUsageCountsContentChunks) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write(event(text_chunk("a")) + event(text_chunk("")) + event(text_chunk("b")));
    stream->write(event(text_chunk("c")) + event("[DONE]"));
    stream->finish();
  });
  auto client = make_client(s.port, true);
  auto records = run(*client, open_loop({0}), fixed_source(9));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].ok()) << records[0].error_message;
  EXPECT_FALSE(records[0].usage_reported);
  EXPECT_EQ(records[0].output_tokens, 3);
  EXPECT_EQ(records[0].input_tokens, 9);
  EXPECT_EQ(records[0].token_times.size(), 3u);
}

TEST(ClientTest, ChatRoleOnlyChunkIsNotTheFirstToken) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    auto timed = std::make_shared<TimedStream>(
        s.loop, stream,
        std::vector<std::string>{
            event(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})"),
            event(R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})"),
            event(R"({"choices":[{"index":0,"delta":{"content":" there"}}]})") + event("[DONE]")},
        40ms);
    s.keep.push_back(timed);
    timed->start();
  });
  auto client = make_client(s.port, true, 1, "/v1/chat/completions");
  auto records = run(*client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  const RequestRecord& r = records[0];
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.output_tokens, 2);
  EXPECT_NEAR(r.first_token - r.sent, 0.08, 0.02);  // the second chunk, not the role-only one
}

TEST(ClientTest, HttpErrorKeepsTheOpenAiMessage) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    stream->respond(json_response(
        429, R"({"error":{"message":"too many requests, slow down","type":"rate_limit"}})"));
  });
  auto client = make_client(s.port, true);
  auto records = run(*client, open_loop({0, 0.01}));
  ASSERT_EQ(records.size(), 2u);
  for (const RequestRecord& r : records) {
    EXPECT_EQ(r.error, ErrorKind::kHttpStatus);
    EXPECT_EQ(r.http_status, 429);
    EXPECT_EQ(r.error_message, "too many requests, slow down");
  }
}

TEST(ClientTest, StreamWithoutDoneIsBroken) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write(event(text_chunk("a")));
    stream->finish();
  });
  auto client = make_client(s.port, true);
  auto records = run(*client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error, ErrorKind::kBrokenStream);
  EXPECT_THAT(records[0].error_message, HasSubstr("[DONE]"));
  EXPECT_EQ(records[0].token_times.size(), 1u);
}

TEST(ClientTest, ErrorEventInAStreamIsBroken) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write(event(text_chunk("a")) + event(R"({"error":{"message":"engine died"}})"));
    stream->finish();
  });
  auto client = make_client(s.port, true);
  auto records = run(*client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error, ErrorKind::kBrokenStream);
  EXPECT_THAT(records[0].error_message, HasSubstr("engine died"));
}

// A raw server that answers the first request on each connection with `reply`, then closes.
class ClosingServer {
 public:
  explicit ClosingServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 16);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      const int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      char buffer[4096];
      std::string got;
      while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(conn, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        got.append(buffer, static_cast<size_t>(n));
      }
      ::send(conn, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::close(conn);
    });
  }
  ~ClosingServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port = 0;

 private:
  std::string reply_;
  int fd_ = -1;
  std::thread thread_;
};

TEST(ClientTest, ConnectionClosedMidStreamIsBroken) {
  ClosingServer s(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
      fmt::format("{:x}\r\n{}\r\n", event(text_chunk("a")).size(), event(text_chunk("a"))));
  auto client = make_client(s.port, true);
  auto records = run(*client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error, ErrorKind::kBrokenStream);
  EXPECT_THAT(records[0].error_message, HasSubstr("closed"));
  EXPECT_EQ(records[0].token_times.size(), 1u);
}

TEST(ClientTest, NoAnswerTimesOut) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    s.keep.push_back(stream);  // never answered
  });
  ClientOptions options;
  options.port = s.port;
  options.request_timeout = 0.2;
  auto client = Client::create(options);
  ASSERT_TRUE(client);
  auto records = run(**client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error, ErrorKind::kTimeout);
  EXPECT_NEAR(records[0].end - records[0].sent, 0.2, 0.05);
}

TEST(ClientTest, RefusedConnectionIsAConnectError) {
  auto client = make_client(testing::unused_port(), false);
  auto records = run(*client, open_loop({0}));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error, ErrorKind::kConnect);
  EXPECT_THAT(records[0].error_message, HasSubstr("refused"));
}

TEST(ClientTest, OpenLoopHonoursSendTimes) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    stream->respond(json_response(200, R"({"choices":[{"text":"x"}]})"));
  });
  auto client = make_client(s.port, false, 2);
  std::vector<double> offsets;
  for (int i = 0; i < 60; ++i) offsets.push_back(0.005 * i);
  std::vector<Progress> progress;
  auto records = run(*client, open_loop(offsets), fixed_source(),
                     [&](const Progress& p) { progress.push_back(p); });
  ASSERT_EQ(records.size(), offsets.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].index, i);
    EXPECT_TRUE(records[i].ok()) << records[i].error_message;
    EXPECT_NEAR(records[i].scheduled, offsets[i], 1e-6);
    EXPECT_GE(records[i].schedule_delay(), 0);
    EXPECT_LT(records[i].schedule_delay(), 0.02) << i;
  }
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().done, offsets.size());
  EXPECT_EQ(progress.back().errors, 0u);
}

TEST(ClientTest, MaxInFlightMakesRequestsWait) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    respond_later(s, stream, 50ms, json_response(200, R"({"choices":[{"text":"x"}]})"));
  });
  auto client = make_client(s.port, false, 2);
  StageRun stage = open_loop({0, 0.01, 0.02, 0.03, 0.04});
  stage.max_in_flight = 1;
  auto records = run(*client, stage);
  ASSERT_EQ(records.size(), 5u);
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_TRUE(records[i].ok());
    EXPECT_GE(records[i].sent, records[i - 1].end - 1e-6);  // one at a time
  }
  EXPECT_GT(records[4].schedule_delay(), 0.12);  // ~4 x (50 - 10) ms
}

struct ConcurrencyProbe {
  int active = 0;
  int max_active = 0;
  int total = 0;
  size_t max_connections = 0;
};

TEST(ClientTest, ClosedLoopKeepsConcurrencyAndReusesConnections) {
  ConcurrencyProbe probe;  // loop thread only
  TestServer* server = nullptr;
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    ++probe.total;
    probe.max_active = std::max(probe.max_active, ++probe.active);
    probe.max_connections = std::max(probe.max_connections, server->server.open_connections());
    respond_later(*server, stream, 10ms, json_response(200, R"({"choices":[{"text":"x"}]})"),
                  [&] { --probe.active; });
  });
  server = &s;
  auto client = make_client(s.port, false, 2);
  StageRun stage;
  stage.concurrency = 6;
  stage.num_requests = 120;
  auto records = run(*client, stage);
  ASSERT_EQ(records.size(), 120u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].index, i);
    EXPECT_TRUE(records[i].ok()) << records[i].error_message;
  }
  on_loop(s.loop, [&] {
    EXPECT_EQ(probe.total, 120);
    EXPECT_EQ(probe.max_active, 6);
    EXPECT_EQ(probe.max_connections, 6u);  // keep-alive: no connection beyond the streams
  });
}

TEST(ClientTest, ClosedLoopStopsAtMaxDuration) {
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    respond_later(s, stream, 20ms, json_response(200, R"({"choices":[{"text":"x"}]})"));
  });
  auto client = make_client(s.port, false, 1);
  StageRun stage;
  stage.concurrency = 2;
  stage.max_duration = 0.2;
  auto records = run(*client, stage);
  EXPECT_GE(records.size(), 10u);
  EXPECT_LE(records.size(), 24u);
  for (const auto& r : records) EXPECT_LT(r.sent, 0.21);
}

TEST(ClientTest, MaxConnectionsQueuesRequests) {
  TestServer* server = nullptr;
  size_t max_connections = 0;
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    max_connections = std::max(max_connections, server->server.open_connections());
    respond_later(*server, stream, 20ms, json_response(200, R"({"choices":[{"text":"x"}]})"));
  });
  server = &s;
  ClientOptions options;
  options.port = s.port;
  options.max_connections = 2;
  options.num_workers = 4;
  auto client = Client::create(options);
  ASSERT_TRUE(client);
  auto records = run(**client, open_loop(std::vector<double>(10, 0.0)));
  ASSERT_EQ(records.size(), 10u);
  for (const auto& r : records) EXPECT_TRUE(r.ok()) << r.error_message;
  on_loop(s.loop, [&] { EXPECT_LE(max_connections, 2u); });
  EXPECT_GT(records[9].schedule_delay(), 0.05);  // five rounds of 20 ms on two connections
}

TEST(ClientTest, ManyWorkers) {
  TestServer s([&](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
    stream->respond(json_response(
        200, R"({"choices":[{"text":")" + std::string(request.body.size() % 7, 'y') + R"("}]})"));
  });
  auto client = make_client(s.port, false, 8);
  std::vector<double> offsets;
  for (int i = 0; i < 400; ++i) offsets.push_back(0.0005 * i);
  auto records = run(*client, open_loop(offsets));
  ASSERT_EQ(records.size(), 400u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].index, i);
    EXPECT_TRUE(records[i].ok()) << records[i].error_message;
  }
}

TEST(ClientTest, TwoThousandConcurrentStreams) {
  constexpr int kStreams = 2000;
  std::atomic<int> handled{0};
  TestServer s([&](http::Request&&, std::shared_ptr<http::ResponseStream> stream) {
    ++handled;
    std::vector<std::string> chunks;
    for (int i = 0; i < 5; ++i) chunks.push_back(event(text_chunk("tok")));
    chunks.push_back(event("[DONE]"));
    auto timed = std::make_shared<TimedStream>(s.loop, stream, chunks, 30ms);
    s.keep.push_back(timed);
    timed->start();
  });
  auto client = make_client(s.port, true, 2);
  StageRun stage;
  stage.concurrency = kStreams;
  stage.num_requests = kStreams;
  auto records = run(*client, stage);
  ASSERT_EQ(records.size(), static_cast<size_t>(kStreams));
  int errors = 0;
  for (const auto& r : records) {
    if (!r.ok()) {
      if (++errors < 5) ADD_FAILURE() << error_kind_name(r.error) << ": " << r.error_message;
      continue;
    }
    EXPECT_EQ(r.output_tokens, 5);
  }
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(handled.load(), kStreams);
}

TEST(ClientTest, BadStagesAndOptionsAreErrors) {
  ClientOptions options;
  options.path = "v1/completions";
  EXPECT_FALSE(Client::create(options));
  options.path = "/v1/completions";
  options.headers = {{"X-Bad", "a\r\nb"}};
  EXPECT_FALSE(Client::create(options));
  auto client = make_client(testing::unused_port(), false);
  const auto now = std::chrono::steady_clock::now();
  EXPECT_FALSE(client->run_stage(StageRun{}, fixed_source(), now, now, {}));
  StageRun unbounded;
  unbounded.concurrency = 2;
  EXPECT_FALSE(client->run_stage(unbounded, fixed_source(), now, now, {}));
  EXPECT_FALSE(client->run_stage(open_loop({-1}), fixed_source(), now, now, {}));
}

}  // namespace
}  // namespace kgai::perf
