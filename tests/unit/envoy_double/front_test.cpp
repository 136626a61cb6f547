// kgai-envoy-double's HTTP front, in process: a client's request through the fake processor to
// the fake endpoint and back, the failure answers, and a few hundred requests at once.
#include "envoy_double/front.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "unit/common/http_test_util.h"
#include "unit/envoy_double/fake_endpoint.h"
#include "unit/envoy_double/fake_ext_proc.h"

namespace kgai::envoy_double {
namespace {

using namespace std::chrono_literals;
using testing::FakeEndpoint;
using testing::FakeProcessor;
using testing::FakeProcessorConfig;
using ::testing::HasSubstr;

class FrontTest : public ::testing::Test {
 protected:
  void start(FakeProcessorConfig config = {}, BodyMode mode = BodyMode::kFullDuplexStreamed,
             std::string ext_proc = "") {
    config.destination = endpoint_.address();
    processor_ = std::make_unique<FakeProcessor>(config);
    FrontOptions options;
    options.ext_proc = ext_proc.empty() ? processor_->target() : ext_proc;
    options.exchange.mode = mode;
    options.exchange.timeout = 10s;
    front_ = std::make_unique<Front>(loop_, options);
    auto port = front_->listen();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    runner_ = std::make_unique<testing::LoopThread>(loop_);
  }
  void TearDown() override {
    runner_.reset();  // the server stops after its loop
    front_.reset();
  }

  Result<http::Response> post(std::string body, std::string path = "/v1/completions") {
    http::Client client("127.0.0.1", port_);
    http::Request request;
    request.method = "POST";
    request.target = std::move(path);
    request.headers = {{"Content-Type", "application/json"}};
    request.body = std::move(body);
    return client.send(request);
  }

  FakeEndpoint endpoint_;
  std::unique_ptr<FakeProcessor> processor_;
  EventLoop loop_;
  std::unique_ptr<Front> front_;
  std::unique_ptr<testing::LoopThread> runner_;
  uint16_t port_ = 0;
};

TEST_F(FrontTest, ForwardsThroughTheProcessor) {
  start();
  const std::string body = R"({"model":"m","prompt":")" + std::string(70'000, 'x') + "\"}";
  auto response = post(body);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, body);
  EXPECT_EQ(response->header("x-fake-processor"), "seen");
  EXPECT_EQ(response->header("x-endpoint"), endpoint_.address());
  EXPECT_EQ(processor_->record().served_endpoint, endpoint_.address());
  EXPECT_EQ(front_->stats().requests.load(), 1u);
  EXPECT_EQ(front_->stats().failed.load(), 0u);
}

TEST_F(FrontTest, BufferedModeForwardsTheRewrittenBody) {
  start({.buffered = true, .rewrite_from = "model-a", .rewrite_to = "model-b"},
        BodyMode::kBuffered);
  auto response = post(R"({"model":"model-a"})");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"model":"model-b"})");
}

TEST_F(FrontTest, ImmediateResponseReachesTheClient) {
  start({.immediate_429 = true});
  auto response = post("{}");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->body, "busy");
  EXPECT_EQ(response->header("retry-after"), "1");
  EXPECT_EQ(front_->stats().immediate.load(), 1u);
}

TEST_F(FrontTest, ProcessorDownIs500) {
  start({}, BodyMode::kFullDuplexStreamed, "127.0.0.1:1");
  auto response = post("{}");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 500);
  EXPECT_THAT(response->body, HasSubstr("ext_proc stream failed"));
}

TEST_F(FrontTest, NoDestinationIs503) {
  start();
  processor_->set_destination("");
  auto response = post("{}");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 503);
  EXPECT_THAT(response->body, HasSubstr("no x-gateway-destination-endpoint"));
}

TEST_F(FrontTest, ServerSentEventsStreamThrough) {
  start();
  http::Client client("127.0.0.1", port_);
  http::Request request;
  request.method = "POST";
  request.target = "/sse";
  request.body = R"({"stream":true})";
  int pieces = 0;
  std::string got;
  auto response = client.send_streaming(request, [&](std::string_view bytes) {
    ++pieces;
    got += bytes;
    return true;
  });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("content-type"), "text/event-stream");
  EXPECT_EQ(got, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: [DONE]\n\n");
  EXPECT_GE(pieces, 5);  // the events 100 ms apart arrive apart
}

TEST_F(FrontTest, AFewHundredRequestsAtOnce) {
  start();
  constexpr int kClients = 256;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      const std::string body = fmt::format(R"({{"model":"m","prompt":"{}"}})", i);
      auto response = post(body);
      if (response && response->status == 200 && response->body == body) good.fetch_add(1);
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(good.load(), kClients);
  EXPECT_EQ(front_->stats().failed.load(), 0u);
  EXPECT_EQ(front_->stats().violations.load(), 0u);
}

}  // namespace
}  // namespace kgai::envoy_double
