// `kgai gateway` in front of real `kgai sim` replicas on loopback: streaming through, errors,
// retries past a dead endpoint, prefix affinity, shedding, client disconnects, /metrics.
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/event_loop.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "integration/gateway_fixture.h"
#include "unit/common/http_test_util.h"

namespace kgai {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST_F(GatewayE2E, StreamsChatThroughAndReportsTheEndpoint) {
  start(2);
  http::Request request{"POST",
                        "/v1/chat/completions",
                        {{"Content-Type", "application/json"}},
                        json{{"model", "meta-llama/Llama-3.1-8B-Instruct"},
                             {"messages", {{{"role", "user"}, {"content", "Hello there"}}}},
                             {"max_tokens", 8},
                             {"stream", true},
                             {"stream_options", {{"include_usage", true}}}}
                            .dump()};
  std::string body;
  int pieces = 0;
  auto r = client_->send_streaming(request, [&](std::string_view piece) {
    body.append(piece);
    ++pieces;
    return true;
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->header("content-type").find("text/event-stream"), std::string::npos);
  const std::string served(r->header("x-gateway-destination-endpoint-served"));
  EXPECT_TRUE(served == fmt::format("127.0.0.1:{}", sim_ports_[0]) ||
              served == fmt::format("127.0.0.1:{}", sim_ports_[1]))
      << served;
  EXPECT_GT(pieces, 1);  // streamed, not buffered into one piece
  EXPECT_NE(body.find("\"usage\""), std::string::npos);
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);

  // Non-streamed completion, and the decision trace on request.
  auto plain = post("/v1/completions", completion("Say hi"), {{"x-kgai-debug", "1"}});
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->status, 200) << plain->body;
  EXPECT_EQ(json::parse(plain->body)["usage"]["completion_tokens"], 4);
  EXPECT_NE(plain->header("x-kgai-decision").find("queue-scorer (x2)"), std::string::npos)
      << plain->header("x-kgai-decision");

  // The gateway's own metrics count them.
  auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", metrics_port_));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_NE(m->body.find("kgai_gateway_requests_total"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("kgai_gateway_pool_saturation"), std::string::npos);
}

TEST_F(GatewayE2E, ClearErrorsInOpenAiShape) {
  start(1, {}, {"--max-body-bytes", "100000"});
  struct Case {
    std::string path;
    std::string body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, "not valid JSON"},
      {"/v1/completions", R"({"prompt":"x"})", 400, "model"},
      {"/v1/chat/completions", R"({"model":"m"})", 400, "messages"},
      {"/v1/completions", R"({"model":"no-such-model","prompt":"x"})", 404, "no-such-model"},
      {"/v1/nothing", "{}", 404, "no route"},
  };
  for (const auto& c : cases) {
    auto r = client_->send({"POST", c.path, {{"Content-Type", "application/json"}}, c.body});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, c.status) << c.body << " -> " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.message), std::string::npos)
        << r->body;
    EXPECT_EQ(j["error"]["code"], c.status);
  }
  auto big = post("/v1/completions", completion(std::string(200'000, 'a')));
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body, nullptr, false)["error"]["code"], 413) << big->body;
}

TEST_F(GatewayE2E, RetriesWhenAReplicaDiesBetweenScrapes) {
  // A second simulator the gateway sees healthy at its first scrape and then never rescrapes
  // (a minute apart, stale after five): once it is killed, requests picked for it are refused
  // and must move on to the live replica.
  testing::KgaiProcess doomed({"sim", "--host", "127.0.0.1", "--port", "0", "--seed", "2"});
  auto doomed_ports = doomed.wait_for_ports(1);
  ASSERT_EQ(doomed_ports.size(), 1u) << doomed.output();
  start(1, {},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/round_robin.yaml",
         "--scrape-interval-ms", "60000", "--stale-after", "300"},
        fmt::format("127.0.0.1:{}", doomed_ports[0]));
  doomed.stop();
  for (int i = 0; i < 12; ++i) {
    auto r = post("/v1/completions", completion("retry " + std::to_string(i)));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("x-gateway-destination-endpoint-served"),
              fmt::format("127.0.0.1:{}", sim_ports_[0]));
  }
  auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", metrics_port_));
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find(fmt::format("kgai_gateway_retries_total{{endpoint=\"127.0.0.1:{}\"}}",
                                     doomed_ports[0])),
            std::string::npos)
      << m->body;
}

TEST_F(GatewayE2E, SharedPrefixGroupsStayOnOneReplica) {
  start(4);
  std::map<int, std::set<std::string>> served_by_group;
  for (int round = 0; round < 5; ++round) {
    for (int g = 0; g < 4; ++g) {
      // A long system prompt per group, then a short question: the prefix scorer's case.
      std::string prompt(1500, static_cast<char>('a' + g));
      prompt += fmt::format(" question {} of group {}", round, g);
      auto r = post("/v1/completions", completion(prompt, 2));
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_EQ(r->status, 200) << r->body;
      served_by_group[g].insert(std::string(r->header("x-gateway-destination-endpoint-served")));
    }
  }
  for (const auto& [g, served] : served_by_group) {
    EXPECT_EQ(served.size(), 1u) << "group " << g << " went to " << served.size() << " replicas";
  }
}

TEST_F(GatewayE2E, ClientDisconnectCancelsTheUpstreamRequest) {
  start(1, {"--time-scale", "0.5"});
  {
    http::Client impatient("127.0.0.1", port_);
    http::Request request{"POST",
                          "/v1/completions",
                          {{"Content-Type", "application/json"}},
                          completion("a long story", 2000, true).dump()};
    int pieces = 0;
    auto r = impatient.send_streaming(request, [&](std::string_view) { return ++pieces < 3; });
    (void)r;  // stopped by us after a few pieces: the connection is dropped
  }
  // The simulator stops running it (vllm:num_requests_running back to 0).
  const std::string metrics_url = fmt::format("http://127.0.0.1:{}/metrics", sim_ports_[0]);
  bool idle = false;
  for (int i = 0; i < 100 && !idle; ++i) {
    auto m = http::get(metrics_url);
    ASSERT_TRUE(m);
    idle = m->body.find("vllm:num_requests_running{") != std::string::npos &&
           m->body.find(
               "num_requests_running{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} "
               "0") != std::string::npos;
    if (!idle) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(idle) << "the upstream request kept running after the client left";
}

TEST_F(GatewayE2E, ShedsSheddableRequestsWhenThePoolIsSaturated) {
  start(1, {"--max-num-seqs", "1", "--time-scale", "1"},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/shedding.yaml"});
  auto busy = saturate(sim_ports_[0], 4);
  ASSERT_TRUE(wait_saturated(metrics_port_)) << gateway_->output();
  auto batch =
      post("/v1/completions", completion("later"), {{"x-gateway-inference-objective", "batch"}});
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->status, 429) << batch->body;
  EXPECT_NE(batch->body.find("sheddable"), std::string::npos) << batch->body;
  // Not sheddable: served, late but served (flow control is off).
  auto chat =
      post("/v1/completions", completion("now"), {{"x-gateway-inference-objective", "chat"}});
  ASSERT_TRUE(chat) << chat.error().message;
  EXPECT_EQ(chat->status, 200) << chat->body;
  for (auto& t : busy) t.join();
  auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", metrics_port_));
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("kgai_gateway_shed_total"), std::string::npos);
}

TEST_F(GatewayE2E, FlowControlQueuesThenExpiresOrRejects) {
  start(1, {"--max-num-seqs", "1", "--time-scale", "1"},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/flow_control.yaml"});
  auto busy = saturate(sim_ports_[0], 4);
  ASSERT_TRUE(wait_saturated(metrics_port_)) << gateway_->output();
  // Waits in the queue while the pool stays saturated, then gives up after the 0.5 s TTL.
  const auto start_time = std::chrono::steady_clock::now();
  auto waited = post("/v1/completions", completion("patient"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  ASSERT_TRUE(waited) << waited.error().message;
  EXPECT_EQ(waited->status, 503) << waited->body;
  EXPECT_NE(waited->body.find("TTL"), std::string::npos) << waited->body;
  EXPECT_GE(seconds, 0.45);
  // A body larger than the queues' 2 KB cannot wait at all: 429 at once.
  auto huge = post("/v1/completions", completion(std::string(4096, 'x')));
  ASSERT_TRUE(huge) << huge.error().message;
  EXPECT_EQ(huge->status, 429) << huge->body;
  for (auto& t : busy) t.join();
  // Capacity is back: requests go through the (empty) queue at once.
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    auto r = post("/v1/completions", completion("free again"));
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(GatewayE2E, FlowControlReleasesHigherPriorityFirst) {
  start(1, {"--max-num-seqs", "1", "--time-scale", "1"},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/flow_priority.yaml"});
  auto busy = saturate(sim_ports_[0], 4);
  ASSERT_TRUE(wait_saturated(metrics_port_)) << gateway_->output();
  std::mutex mutex;
  std::vector<std::string> finished;
  auto send = [&](const std::string& objective) {
    return std::thread([&, objective] {
      http::Client c("127.0.0.1", port_);
      http::Request r{
          "POST",
          "/v1/completions",
          {{"Content-Type", "application/json"}, {"x-gateway-inference-objective", objective}},
          completion(objective, 2).dump()};
      auto answer = c.send(r);
      std::lock_guard lock(mutex);
      finished.push_back(answer && answer->status == 200 ? objective : objective + " failed");
    });
  };
  std::thread low = send("low");
  std::this_thread::sleep_for(150ms);  // queued first
  std::thread high = send("high");
  low.join();
  high.join();
  for (auto& t : busy) t.join();
  EXPECT_EQ(finished, (std::vector<std::string>{"high", "low"}));
}

TEST_F(GatewayE2E, SeveralProxyThreadsShareOnePort) {
  start(2, {}, {"--threads", "3"});
  // Fresh connections, so the kernel spreads them over the threads' listeners.
  std::set<std::string> served;
  for (int i = 0; i < 24; ++i) {
    http::Client c("127.0.0.1", port_);
    http::Request r{"POST",
                    "/v1/completions",
                    {{"Content-Type", "application/json"}},
                    completion("thread " + std::to_string(i)).dump()};
    auto answer = c.send(r);
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, 200) << answer->body;
    served.insert(std::string(answer->header("x-gateway-destination-endpoint-served")));
  }
  EXPECT_EQ(served.size(), 2u);
  // A request is counted when its proxy thread finishes it, which can be just after the client
  // has the last byte: wait (boundedly) for the last one.
  const std::string counted =
      "kgai_gateway_requests_total{model=\"meta-llama/Llama-3.1-8B-Instruct\","
      "objective=\"\",code=\"200\"} 24";
  std::string body;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", metrics_port_));
    ASSERT_TRUE(m);
    body = m->body;
    if (body.find(counted) != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(body.find(counted), std::string::npos) << body;
}

// Rejections before the handler (framing, body and header limits) come out in the OpenAI error
// shape and close the connection; what was pipelined behind them is not served.
TEST_F(GatewayE2E, RejectionsAreOpenAiShapedAndClose) {
  start(1, {}, {"--max-body-bytes", "1000"});
  const std::string next = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      {"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST /v1/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400},
      {"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413},
      {"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20'000, 'h') +
           "\r\n\r\n",
       431},
  };
  for (const auto& [request, status] : cases) {
    SCOPED_TRACE(status);
    testing::RawSocket socket(port_);
    socket.send_all(request + next);
    bool closed = false;
    const std::string reply = socket.read_until_close(10s, &closed);
    EXPECT_TRUE(closed);
    ASSERT_EQ(reply.rfind(fmt::format("HTTP/1.1 {} ", status), 0), 0u) << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
    EXPECT_EQ(reply.find("HTTP/1.1", 1), std::string::npos) << reply;  // /health not served
    const auto j = json::parse(reply.substr(reply.find("\r\n\r\n") + 4), nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << reply;
    EXPECT_EQ(j["error"]["code"], status);
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
}

// A model server that answers a completion with `total` bytes as fast as the gateway takes
// them, counting what its socket took.
class FloodingModelServer {
 public:
  explicit FloodingModelServer(size_t total)
      : total_(total),
        server_(loop_, http::ServerOptions{},
                [this](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
                  handle(std::move(request), std::move(stream));
                }) {
    port_ = server_.listen().value_or(0);
    runner_ = std::make_unique<testing::LoopThread>(loop_);
  }
  ~FloodingModelServer() {
    testing::on_loop(loop_, [this] { stream_.reset(); });
    runner_.reset();
  }

  uint16_t port() const { return port_; }
  static char byte_at(size_t i) { return static_cast<char>('a' + i % 23); }
  // Bytes the socket took (not those queued in this process).
  size_t taken() {
    return testing::on_loop(loop_,
                            [this] { return stream_ ? sent_ - stream_->buffered_bytes() : sent_; });
  }

 private:
  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
    if (request.path() == "/metrics") {
      return stream->respond({200,
                              {},
                              "vllm:num_requests_waiting{model_name=\"m\"} 0\n"
                              "vllm:num_requests_running{model_name=\"m\"} 0\n"
                              "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.1\n"});
    }
    if (request.path() == "/v1/models") {
      return stream->respond({200, {}, R"({"object":"list","data":[{"id":"m"}]})"});
    }
    stream->start_sized(200, {{"Content-Type", "application/octet-stream"}}, total_);
    stream_ = std::move(stream);
    produce();
  }
  // Writes while the gateway keeps up, so that this process queues little itself.
  void produce() {
    std::string piece(64 * 1024, '\0');
    while (sent_ < total_ && !stream_->congested()) {
      const size_t n = std::min(piece.size(), total_ - sent_);
      for (size_t i = 0; i < n; ++i) piece[i] = byte_at(sent_ + i);
      if (!stream_->write(std::string_view(piece).substr(0, n))) return;
      sent_ += n;
    }
    if (sent_ == total_) return stream_->finish();
    stream_->on_drained([this] { produce(); });
  }

  size_t total_;
  size_t sent_ = 0;  // loop thread
  EventLoop loop_;
  http::Server server_;
  uint16_t port_ = 0;
  std::shared_ptr<http::ResponseStream> stream_;
  std::unique_ptr<testing::LoopThread> runner_;
};

// A client that reads nothing for a while: the gateway stops reading the model server (which
// then stalls far short of its body) instead of queueing the response, and the client still
// gets every byte once it reads.
TEST(GatewayBackpressureE2E, SlowClientHoldsBackTheModelServer) {
  constexpr size_t kTotal = 128u << 20;
  FloodingModelServer model(kTotal);
  ASSERT_NE(model.port(), 0);
  testing::KgaiProcess gateway(
      {"gateway", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--endpoints",
       fmt::format("127.0.0.1:{}", model.port()), "--scrape-interval-ms", "20"});
  const auto ports = gateway.wait_for_ports(2);
  ASSERT_EQ(ports.size(), 2u) << gateway.output();
  http::Client probe("127.0.0.1", ports[1]);
  bool listed = false;
  for (int i = 0; i < 100 && !listed; ++i) {
    auto r = probe.send({"GET", "/v1/models", {}, ""});
    listed = r && r->status == 200 && r->body.find("\"m\"") != std::string::npos;
    if (!listed) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(listed) << gateway.output();

  testing::RawSocket client(ports[1]);
  const std::string body = R"({"model":"m","prompt":"flood","max_tokens":1})";
  ASSERT_TRUE(client.send_all(
      fmt::format("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: {}\r\n\r\n{}",
                  body.size(), body)));
  // Not reading: the model server's progress must stop, bounded by the socket buffers of the
  // two hops plus the gateway's queue (tens of MiB at most on loopback), far from 128 MiB.
  ASSERT_TRUE(testing::wait_until([&] { return model.taken() > 0; })) << gateway.output();
  size_t before = 0;
  size_t after = model.taken();
  for (int i = 0; i < 50 && after != before; ++i) {
    before = after;
    std::this_thread::sleep_for(200ms);
    after = model.taken();
  }
  EXPECT_EQ(after, before) << "the model server never stalled";
  EXPECT_LT(after, kTotal / 2);

  const std::string head = client.read_until("\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  const size_t body_at = head.find("\r\n\r\n") + 4;
  size_t received = 0;
  size_t mismatches = 0;
  auto check = [&](const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (data[i] != FloodingModelServer::byte_at(received + i)) ++mismatches;
    }
    received += n;
  };
  check(head.data() + body_at, head.size() - body_at);
  char buffer[64 * 1024];
  while (received < kTotal) {
    pollfd poll_fd{client.fd(), POLLIN, 0};
    if (::poll(&poll_fd, 1, 10'000) <= 0) break;
    const ssize_t n = ::recv(client.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    check(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(received, kTotal) << gateway.output();
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace kgai
