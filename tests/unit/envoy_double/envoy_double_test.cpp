// The Envoy double against a small fake processor and a fake endpoint: proof that the double
// speaks the protocol as Envoy does (what it sends, in which order, and how it reads the
// answers), and that it catches a processor that does not.
#include "envoy_double/envoy_double.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "unit/common/http_test_util.h"
#include "unit/envoy_double/fake_endpoint.h"
#include "unit/envoy_double/fake_ext_proc.h"

namespace kgai::envoy_double {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeEndpoint;
using testing::FakeProcessor;
using testing::FakeProcessorConfig;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string big_body(std::size_t size) {
  std::string body = R"({"model":"model-a","prompt":")";
  while (body.size() + 2 < size) body.push_back(static_cast<char>('a' + body.size() % 26));
  return body + "\"}";
}

HttpRequest post(std::string body, std::string path = "/v1/completions") {
  HttpRequest request;
  request.path = std::move(path);
  request.body = std::move(body);
  return request;
}

ExchangeOptions quick(BodyMode mode = BodyMode::kFullDuplexStreamed) {
  ExchangeOptions options;
  options.mode = mode;
  options.timeout = 10s;
  return options;
}

bool has_header(const std::vector<http::Header>& headers, std::string_view name,
                std::string_view value) {
  return http::find_header(headers, name) == value;
}

class EnvoyDoubleTest : public ::testing::Test {
 protected:
  void start(FakeProcessorConfig config = {}) {
    config.destination = endpoint_.address();
    processor_ = std::make_unique<FakeProcessor>(config);
    double_ = std::make_unique<EnvoyDouble>(processor_->target());
  }

  FakeEndpoint endpoint_;
  std::unique_ptr<FakeProcessor> processor_;
  std::unique_ptr<EnvoyDouble> double_;
};

TEST_F(EnvoyDoubleTest, FullDuplexStreamsTheBodyWithoutWaitingAndForwards) {
  // The fake answers the headers only once the whole body is in, as the endpoint picker does:
  // a double that waited for the headers answer before sending the body would time out here.
  start();
  const std::string body = big_body(100'000);
  ExchangeOptions options = quick();
  options.forward = true;
  const Exchange ex = double_->run(post(body), options);
  ASSERT_TRUE(ex.ok()) << ex.summary();

  const auto record = processor_->record();
  EXPECT_TRUE(record.protocol_config);
  EXPECT_EQ(record.protocol_request_body_mode, 4);  // FULL_DUPLEX_STREAMED
  // 100,000 bytes in 16 KiB chunks: 7 messages, end_of_stream on the last only.
  std::vector<std::string> expected = {"request_headers eos=0"};
  for (int i = 0; i < 6; ++i) expected.push_back("request_body 16384 eos=0");
  expected.push_back("request_body 1696 eos=1");
  expected.push_back("answer request_headers");
  expected.push_back("response_headers eos=0");
  ASSERT_GE(record.events.size(), expected.size());
  EXPECT_EQ(std::vector<std::string>(record.events.begin(), record.events.begin() + 10), expected);
  EXPECT_EQ(record.events.back(), "half-close");
  EXPECT_EQ(record.request_body, body);
  EXPECT_THAT(record.request_headers, Contains(Pair(":method", "POST")));
  EXPECT_THAT(record.request_headers, Contains(Pair(":path", "/v1/completions")));
  EXPECT_THAT(record.request_headers, Contains(Pair(":authority", "gateway")));
  EXPECT_THAT(record.request_headers, Contains(Pair(":scheme", "http")));
  EXPECT_THAT(record.request_headers, Contains(Pair("content-type", "application/json")));
  EXPECT_THAT(record.request_headers, Contains(Pair("content-length", "100000")));
  EXPECT_TRUE(record.request_headers.contains("x-request-id"));
  EXPECT_EQ(record.served_endpoint, endpoint_.address());

  // The picker's decision as Envoy applies it.
  EXPECT_TRUE(ex.headers_response);
  EXPECT_TRUE(ex.clear_route_cache);
  EXPECT_EQ(ex.destination, endpoint_.address());
  EXPECT_THAT(ex.destinations, ElementsAre(endpoint_.address()));
  EXPECT_EQ(ex.lb_destination, endpoint_.address());
  EXPECT_THAT(ex.dynamic_metadata_json, HasSubstr("envoy.lb"));
  EXPECT_EQ(ex.forwarded_body, body);
  EXPECT_EQ(ex.streamed_chunks_received, 2u);  // 62,000 + 38,000
  EXPECT_EQ(ex.largest_streamed_chunk, 62'000u);

  // The forward and the response through the processor.
  const auto requests = endpoint_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Request& upstream = requests[0];
  EXPECT_EQ(upstream.body, body);
  EXPECT_EQ(upstream.target, "/v1/completions");
  EXPECT_EQ(upstream.header("host"), "gateway");
  EXPECT_EQ(upstream.header("x-gateway-destination-endpoint"), endpoint_.address());
  EXPECT_TRUE(ex.forwarded);
  EXPECT_EQ(ex.served_endpoint, endpoint_.address());
  EXPECT_EQ(ex.upstream_status, 200);
  EXPECT_EQ(ex.response_status, 200);
  EXPECT_EQ(ex.response_body, body);  // the endpoint echoes, the processor echoes
  EXPECT_TRUE(has_header(ex.response_headers, "x-fake-processor", "seen"));
  EXPECT_TRUE(has_header(ex.response_headers, "x-endpoint", endpoint_.address()));

  const auto& t = ex.times;
  EXPECT_LE(t.start, t.request_headers_sent);
  EXPECT_LE(t.request_headers_sent, t.request_body_sent);
  EXPECT_LE(t.request_body_sent, t.headers_response_received);
  EXPECT_LE(t.headers_response_received, t.request_body_done);
  EXPECT_LE(t.request_body_done, t.upstream_head_received);
  EXPECT_LE(t.upstream_head_received, t.first_response_body);
  EXPECT_LE(t.first_response_body, t.done);
  EXPECT_GT(ex.decision_latency(), 0ns);
}

TEST_F(EnvoyDoubleTest, BufferedSendsTheWholeBodyAfterTheHeadersAnswer) {
  start({.buffered = true, .rewrite_from = "model-a", .rewrite_to = "model-b"});
  const std::string body = big_body(50'000);
  ExchangeOptions options = quick(BodyMode::kBuffered);
  options.forward = true;
  const Exchange ex = double_->run(post(body), options);
  ASSERT_TRUE(ex.ok()) << ex.summary();

  const auto record = processor_->record();
  EXPECT_EQ(record.protocol_request_body_mode, 2);  // BUFFERED
  ASSERT_GE(record.events.size(), 4u);
  EXPECT_THAT(std::vector<std::string>(record.events.begin(), record.events.begin() + 4),
              ElementsAre("request_headers eos=0", "answer request_headers",
                          "request_body 50000 eos=1", "answer request_body"));
  std::string rewritten = body;
  rewritten.replace(rewritten.find("model-a"), 7, "model-b");
  EXPECT_EQ(ex.forwarded_body, rewritten);
  ASSERT_EQ(endpoint_.requests().size(), 1u);
  EXPECT_EQ(endpoint_.requests()[0].body, rewritten);
  // Buffered, the response body goes to the processor whole and comes back unchanged.
  EXPECT_THAT(record.events, Contains("response_body 50000 eos=1"));
  EXPECT_EQ(ex.response_body, rewritten);
  EXPECT_EQ(ex.response_chunks, 1u);
  EXPECT_TRUE(has_header(ex.response_headers, "x-fake-processor", "seen"));
}

TEST_F(EnvoyDoubleTest, RequestWithoutBodyEndsWithTheHeaders) {
  start();
  HttpRequest request;
  request.method = "GET";
  request.path = "/v1/models";
  ExchangeOptions options = quick();
  options.forward = true;
  const Exchange ex = double_->run(request, options);
  ASSERT_TRUE(ex.ok()) << ex.summary();
  const auto record = processor_->record();
  EXPECT_EQ(record.events.front(), "request_headers eos=1");
  EXPECT_FALSE(record.request_headers.contains("content-length"));
  // The request headers, then the response headers (the echo of an empty body has
  // Content-Length: 0, so end_of_stream is on the headers and no body message follows).
  EXPECT_EQ(ex.request_messages_sent, 2u);
  EXPECT_THAT(record.events, Contains("response_headers eos=1"));
  ASSERT_EQ(endpoint_.requests().size(), 1u);
  EXPECT_EQ(endpoint_.requests()[0].method, "GET");
}

TEST_F(EnvoyDoubleTest, ImmediateResponse) {
  start({.immediate_429 = true});
  ExchangeOptions options = quick();
  options.forward = true;
  const Exchange ex = double_->run(post(big_body(1'000)), options);
  ASSERT_TRUE(ex.ok()) << ex.summary();
  ASSERT_TRUE(ex.immediate.has_value());
  EXPECT_EQ(ex.immediate->status, 429);
  EXPECT_EQ(ex.immediate->body, "busy");
  EXPECT_EQ(ex.immediate->details, "shed");
  EXPECT_TRUE(has_header(ex.immediate->headers, "retry-after", "1"));
  EXPECT_FALSE(ex.forwarded);
  EXPECT_TRUE(endpoint_.requests().empty());
}

TEST_F(EnvoyDoubleTest, HeaderValuesInValueAndSubsetHint) {
  start({.destination_in_value = true});
  ExchangeOptions options = quick();
  options.raw_header_values = false;
  options.subset_hint = {"10.0.0.1:8000", "10.0.0.2:8000"};
  options.send_protocol_config = false;
  const Exchange ex = double_->run(post("{}"), options);
  ASSERT_TRUE(ex.ok()) << ex.summary();
  EXPECT_EQ(ex.destination, endpoint_.address());
  const auto record = processor_->record();
  EXPECT_THAT(record.request_headers, Contains(Pair(":path", "/v1/completions")));
  EXPECT_THAT(record.subset_hint, ElementsAre("10.0.0.1:8000", "10.0.0.2:8000"));
  EXPECT_FALSE(record.protocol_config);
}

TEST_F(EnvoyDoubleTest, ServerSentEventsReachTheClientAsTheyCome) {
  start();
  ExchangeOptions options = quick();
  options.forward = true;
  int head_status = 0;
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  std::string streamed;
  options.on_response_head = [&](int status, const std::vector<http::Header>&) {
    head_status = status;
  };
  options.on_response_body = [&](std::string_view chunk) {
    arrivals.push_back(std::chrono::steady_clock::now());
    streamed += chunk;
    return true;
  };
  const Exchange ex = double_->run(post(R"({"stream":true})", "/sse"), options);
  ASSERT_TRUE(ex.ok()) << ex.summary();
  EXPECT_EQ(head_status, 200);
  EXPECT_EQ(streamed, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: [DONE]\n\n");
  EXPECT_EQ(ex.response_body, streamed);
  // Each event is its own chunk, the first long before the end (the events are 100 ms apart).
  EXPECT_GE(arrivals.size(), 5u);
  EXPECT_LT(ex.times.first_response_body + 200ms, ex.times.done);
  // The chunked body's end: an empty last message with end_of_stream.
  EXPECT_THAT(processor_->record().events, Contains("response_body 0 eos=1"));
}

TEST_F(EnvoyDoubleTest, ClientGoingAwayCancelsTheStream) {
  start();
  ExchangeOptions options = quick();
  options.forward = true;
  options.on_response_body = [](std::string_view) { return false; };
  const Exchange ex = double_->run(post("{}", "/sse"), options);
  EXPECT_EQ(ex.grpc_code, 1) << ex.summary();  // CANCELLED
  EXPECT_EQ(ex.response_body, "data: 0\n\n");
  EXPECT_TRUE(testing::wait_until([&] { return processor_->record().cancelled; }));
}

TEST_F(EnvoyDoubleTest, NoDestinationAndUnreachableEndpoint) {
  start();
  processor_->set_destination("");
  ExchangeOptions options = quick();
  options.forward = true;
  Exchange ex = double_->run(post("{}"), options);
  EXPECT_EQ(ex.error, "no x-gateway-destination-endpoint to forward to");
  EXPECT_FALSE(ex.forwarded);

  processor_->set_destination("127.0.0.1:1, 127.0.0.1:2");
  ex = double_->run(post("{}"), options);
  EXPECT_THAT(ex.destinations, ElementsAre("127.0.0.1:1", "127.0.0.1:2"));
  EXPECT_EQ(ex.served_endpoint, "127.0.0.1:1");  // the first; the rest are fallbacks
  EXPECT_THAT(ex.error, HasSubstr("forward to 127.0.0.1:1"));
}

// Breaks by the processor, each reported as a violation.
TEST_F(EnvoyDoubleTest, OversizedStreamedChunkIsAViolation) {
  start({.echo_chunk = 70'000});
  const Exchange ex = double_->run(post(big_body(100'000)), quick());
  EXPECT_THAT(ex.violations, Contains("a streamed_response chunk of 70000 bytes (at most 62000)"));
}

TEST_F(EnvoyDoubleTest, BodyAnswerBeforeHeadersAnswerIsAViolation) {
  start({.body_before_headers_answer = true});
  const Exchange ex = double_->run(post(big_body(1'000)), quick());
  EXPECT_THAT(ex.violations, Contains("a request_body answer before the request_headers answer"));
}

TEST_F(EnvoyDoubleTest, SecondHeadersAnswerIsAViolation) {
  start({.two_headers_answers = true});
  const Exchange ex = double_->run(post(big_body(1'000)), quick());
  EXPECT_THAT(ex.violations, Contains("a second request_headers answer"));
}

TEST_F(EnvoyDoubleTest, MissingEndOfStreamIsAViolation) {
  start({.no_end_of_stream = true});
  const Exchange ex = double_->run(post(big_body(1'000)), quick());
  EXPECT_EQ(ex.grpc_code, 0);
  EXPECT_THAT(ex.violations,
              Contains("the stream ended before the end of the request body (no end_of_stream)"));
}

TEST_F(EnvoyDoubleTest, StreamLeftOpenAfterHalfCloseIsAViolation) {
  start({.linger_after_half_close = true});
  ExchangeOptions options = quick();
  options.close_grace = 200ms;
  const Exchange ex = double_->run(post("{}"), options);
  EXPECT_THAT(ex.violations,
              Contains("the processor did not end the stream within 200 ms of Envoy's half-close"));
  EXPECT_EQ(ex.grpc_code, 1);  // the double cancelled it, as Envoy resets it
}

TEST_F(EnvoyDoubleTest, DeadlineEndsAStuckExchange) {
  start({.linger_after_half_close = true});
  ExchangeOptions options = quick();
  options.fault = Fault::kNoEndOfStream;  // the fake waits for a body end that never comes
  options.timeout = 300ms;
  options.close_grace = 5s;
  const Exchange ex = double_->run(post("{}"), options);
  EXPECT_EQ(ex.grpc_code, 4) << ex.summary();  // DEADLINE_EXCEEDED
  EXPECT_EQ(ex.error, "no end within 300 ms");
  EXPECT_LT(ex.times.done - ex.times.start, 3s);
}

// Broken streams sent on purpose, for a processor's error paths.
TEST_F(EnvoyDoubleTest, FaultBodyBeforeHeaders) {
  start();
  ExchangeOptions options = quick();
  options.fault = Fault::kBodyBeforeHeaders;
  const Exchange ex = double_->run(post(big_body(1'000)), options);
  EXPECT_EQ(ex.grpc_code, 3) << ex.summary();  // INVALID_ARGUMENT from the fake
  EXPECT_EQ(processor_->record().events.front(), "request_body 1000 eos=1");
}

TEST_F(EnvoyDoubleTest, FaultTwoHeaderMessages) {
  start();
  ExchangeOptions options = quick();
  options.fault = Fault::kTwoHeaderMessages;
  const Exchange ex = double_->run(post(big_body(1'000)), options);
  EXPECT_EQ(ex.grpc_code, 3) << ex.summary();
  EXPECT_THAT(processor_->record().events,
              ElementsAre("request_headers eos=0", "request_headers eos=0"));
}

TEST_F(EnvoyDoubleTest, FaultNoEndOfStreamThenHalfClose) {
  start();
  ExchangeOptions options = quick();
  options.fault = Fault::kNoEndOfStream;
  options.chunk_size = 400;
  const Exchange ex = double_->run(post(big_body(1'000)), options);
  EXPECT_EQ(ex.grpc_code, 9) << ex.summary();  // FAILED_PRECONDITION from the fake
  EXPECT_THAT(processor_->record().events,
              ElementsAre("request_headers eos=0", "request_body 400 eos=0",
                          "request_body 400 eos=0", "request_body 200 eos=0", "half-close"));
}

TEST_F(EnvoyDoubleTest, FaultCancelMidway) {
  start();
  ExchangeOptions options = quick();
  options.fault = Fault::kCancelMidway;
  const Exchange ex = double_->run(post(big_body(100'000)), options);
  EXPECT_EQ(ex.grpc_code, 1) << ex.summary();  // CANCELLED
  EXPECT_TRUE(testing::wait_until([&] { return processor_->record().cancelled; }));
}

TEST_F(EnvoyDoubleTest, FaultUnknownFieldsAreCarriedAndTolerated) {
  start();
  ExchangeOptions options = quick();
  options.fault = Fault::kUnknownFields;
  const Exchange ex = double_->run(post(big_body(20'000)), options);
  ASSERT_TRUE(ex.ok()) << ex.summary();
  // Headers and two body chunks, each with two unknown fields outside and one inside.
  EXPECT_EQ(processor_->record().unknown_fields, 3 * 3);
  EXPECT_EQ(ex.forwarded_body.size(), 20'000u);
}

TEST_F(EnvoyDoubleTest, ManyExchangesAtOnce) {
  start();
  constexpr int kThreads = 16;
  constexpr int kEach = 8;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        ExchangeOptions options = quick();
        options.forward = true;
        const Exchange ex = double_->run(post(big_body(3'000)), options);
        if (ex.ok() && ex.response_body.size() == 3'000) good.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kEach);
}

}  // namespace
}  // namespace kgai::envoy_double
