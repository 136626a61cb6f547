// kgai gateway behind Envoy: its ext_proc server driven by the Envoy double (which plays
// Envoy's ext_proc filter from the protocol) in front of real `kgai sim` replicas, each
// request forwarded to the endpoint the picker named.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "envoy_double/envoy_double.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration/gateway_fixture.h"
#include "integration/process.h"

namespace kgai {
namespace {

using envoy_double::BodyMode;
using envoy_double::EnvoyDouble;
using envoy_double::Exchange;
using envoy_double::ExchangeOptions;
using envoy_double::Fault;
using envoy_double::HttpRequest;
using nlohmann::json;
using namespace std::chrono_literals;

const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";

class GatewayExtProcE2E : public ::testing::Test {
 protected:
  // `replicas` sims, and the gateway serving ext_proc only (plus health and metrics).
  void start(int replicas, std::vector<std::string> gateway_args = {},
             std::vector<std::string> sim_args = {}, std::string endpoints = "") {
    if (replicas > 0) {
      sim_ = start_sims(replicas, sim_args, sim_ports_);
      ASSERT_EQ(sim_ports_.size(), static_cast<size_t>(replicas)) << sim_->output();
    }
    for (uint16_t p : sim_ports_) {
      endpoints += fmt::format("{}127.0.0.1:{}", endpoints.empty() ? "" : ",", p);
    }
    std::vector<std::string> g = {
        "gateway",     "--listen",        "off",         "--ext-proc-listen",
        "127.0.0.1:0", "--health-listen", "127.0.0.1:0", "--metrics-listen",
        "127.0.0.1:0", "--endpoints",     endpoints,     "--scrape-interval-ms",
        "20"};
    g.insert(g.end(), gateway_args.begin(), gateway_args.end());
    gateway_ = std::make_unique<testing::KgaiProcess>(g);
    auto ports = gateway_->wait_for_ports(3);
    ASSERT_EQ(ports.size(), 3u) << gateway_->output();
    ext_proc_port_ = ports[0];
    health_port_ = ports[1];
    metrics_port_ = ports[2];
    envoy_ = std::make_unique<EnvoyDouble>(fmt::format("127.0.0.1:{}", ext_proc_port_));
  }

  // Waits until the picker routes (its model list read, endpoints ready).
  void wait_routing() {
    for (int i = 0; i < 100; ++i) {
      Exchange e = envoy_->run(completion("warm up"), forwarding());
      if (e.ok() && !e.immediate && e.response_status == 200) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the picker never routed a request\n" << gateway_->output();
  }

  static HttpRequest completion(const std::string& prompt, int max_tokens = 4,
                                bool stream = false) {
    HttpRequest r;
    r.path = "/v1/completions";
    r.body =
        json{{"model", kModel}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"stream", stream}}
            .dump();
    return r;
  }

  static ExchangeOptions forwarding(BodyMode mode = BodyMode::kFullDuplexStreamed) {
    ExchangeOptions o;
    o.mode = mode;
    o.forward = true;
    return o;
  }

  std::string metrics() {
    auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", metrics_port_));
    return m ? m->body : "";
  }

  // The value of the first sample line starting with `prefix` (-1 when absent).
  double metric(const std::string& prefix) {
    const std::string text = metrics();
    size_t at = text.find("\n" + prefix);
    if (at == std::string::npos) return -1;
    at = text.find(' ', at + 1 + prefix.size() - 1);
    return std::stod(text.substr(at + 1));
  }

  // The sum of the samples of `family` whose line holds `label` (e.g. code="200").
  double sum(const std::string& family, const std::string& label = "") {
    const std::string text = metrics();
    double total = 0;
    size_t at = 0;
    while ((at = text.find("\n" + family, at)) != std::string::npos) {
      const size_t end = text.find('\n', at + 1);
      const std::string line = text.substr(at + 1, end - at - 1);
      at = end;
      if (line.compare(0, family.size() + 1, family + "{") != 0 &&
          line.compare(0, family.size() + 1, family + " ") != 0) {
        continue;
      }
      if (line.find(label) == std::string::npos) continue;
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return total;
  }

  // grpc.health.v1.Health/Check on the health port: "SERVING", "NOT_SERVING" or the error.
  std::string health(const std::string& service = "", uint16_t port = 0) {
    auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", port ? port : health_port_),
                                       grpc::InsecureChannelCredentials());
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    if (!status.ok()) return "error " + std::to_string(status.error_code());
    return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  }

  bool wait_health(const std::string& want) {
    for (int i = 0; i < 150; ++i) {
      if (health() == want) return true;
      std::this_thread::sleep_for(40ms);
    }
    return false;
  }

  std::string sim_address(size_t i) const { return fmt::format("127.0.0.1:{}", sim_ports_[i]); }

  std::unique_ptr<testing::KgaiProcess> sim_, gateway_;
  std::vector<uint16_t> sim_ports_;
  uint16_t ext_proc_port_ = 0, health_port_ = 0, metrics_port_ = 0;
  std::unique_ptr<EnvoyDouble> envoy_;
};

TEST_F(GatewayExtProcE2E, RoutesThroughEnvoyToTheReplicasAndAccountsForTheResponse) {
  start(2);
  wait_routing();
  std::set<std::string> served;
  for (int i = 0; i < 12; ++i) {
    Exchange e = envoy_->run(completion("request " + std::to_string(i)), forwarding());
    ASSERT_TRUE(e.ok()) << e.summary();
    ASSERT_FALSE(e.immediate) << e.immediate->body;
    EXPECT_TRUE(e.clear_route_cache);
    ASSERT_FALSE(e.destinations.empty());
    EXPECT_EQ(e.lb_destination, e.destination);  // the same value in envoy.lb metadata
    EXPECT_EQ(e.destinations.size(), 2u);        // primary, then the fallback
    EXPECT_EQ(e.response_status, 200) << e.response_body;
    EXPECT_EQ(json::parse(e.response_body)["choices"].size(), 1u);
    served.insert(e.served_endpoint);
  }
  EXPECT_EQ(served.size(), 2u);  // both replicas get work
  // Response accounting: statuses, tokens from the usage, nothing left in flight.
  EXPECT_GE(sum("kgai_gateway_requests_total", "code=\"200\""), 12);
  EXPECT_GE(sum("kgai_gateway_output_tokens_total"), 48);
  EXPECT_GE(sum("kgai_gateway_input_tokens_total"), 12);
  for (size_t i = 0; i < sim_ports_.size(); ++i) {
    EXPECT_EQ(metric("kgai_gateway_endpoint_in_flight{endpoint=\"" + sim_address(i) + "\"}"), 0);
  }
  EXPECT_EQ(metric("kgai_gateway_ext_proc_streams "), 0);
}

TEST_F(GatewayExtProcE2E, StreamsResponsesAndLargeBodiesInBoundedChunks) {
  start(1);
  wait_routing();
  Exchange stream = envoy_->run(completion("count to ten", 20, true), forwarding());
  ASSERT_TRUE(stream.ok()) << stream.summary();
  EXPECT_EQ(stream.response_status, 200);
  EXPECT_NE(stream.response_body.find("data: [DONE]"), std::string::npos);
  EXPECT_GT(stream.response_chunks, 1u);
  // A 200 KB prompt comes back in chunks of at most 62,000 bytes, byte for byte.
  HttpRequest big = completion(std::string(200'000, 'x'));
  Exchange e = envoy_->run(big, forwarding());
  ASSERT_TRUE(e.ok()) << e.summary();
  EXPECT_EQ(e.forwarded_body, big.body);
  EXPECT_LE(e.largest_streamed_chunk, 62'000u);
  EXPECT_GE(e.streamed_chunks_received, 4u);
  EXPECT_EQ(e.response_status, 200) << e.response_body;
}

TEST_F(GatewayExtProcE2E, AModelRewriteIsSplicedIntoTheForwardedBody) {
  start(1, {}, {"--lora-modules", "sql-lora"});
  wait_routing();
  HttpRequest r = completion("select");
  r.headers.push_back({"x-gateway-model-name-rewrite", "sql-lora"});
  for (BodyMode mode : {BodyMode::kFullDuplexStreamed, BodyMode::kBuffered}) {
    Exchange e = envoy_->run(r, forwarding(mode));
    ASSERT_TRUE(e.ok()) << e.summary();
    ASSERT_FALSE(e.immediate) << e.immediate->body;
    json sent = json::parse(e.forwarded_body);
    EXPECT_EQ(sent["model"], "sql-lora");
    EXPECT_EQ(e.forwarded_body.find("\"model\""), r.body.find("\"model\""));  // order kept
    EXPECT_EQ(e.response_status, 200) << e.response_body;
  }
}

TEST_F(GatewayExtProcE2E, BufferedBodiesAreRoutedWithOrWithoutProtocolConfig) {
  start(1, {"--ext-proc-body-mode", "buffered"});
  wait_routing();  // full duplex, announced in protocol_config
  ExchangeOptions o = forwarding(BodyMode::kBuffered);
  Exchange announced = envoy_->run(completion("buffered"), o);
  ASSERT_TRUE(announced.ok()) << announced.summary();
  EXPECT_EQ(announced.response_status, 200);
  o.send_protocol_config = false;  // an older Envoy: --ext-proc-body-mode says
  Exchange assumed = envoy_->run(completion("buffered, older envoy"), o);
  ASSERT_TRUE(assumed.ok()) << assumed.summary();
  EXPECT_EQ(assumed.response_status, 200);
  EXPECT_EQ(assumed.destinations.front(), sim_address(0));
}

TEST_F(GatewayExtProcE2E, ImmediateResponsesAreOpenAiShapedErrors) {
  start(1, {"--max-body-bytes", "4096"});
  wait_routing();
  auto expect_error = [&](const HttpRequest& r, int status, const std::string& words) {
    Exchange e = envoy_->run(r, ExchangeOptions{});
    ASSERT_TRUE(e.immediate) << e.summary();
    EXPECT_EQ(e.immediate->status, status) << e.immediate->body;
    json body = json::parse(e.immediate->body);
    EXPECT_NE(body["error"]["message"].get<std::string>().find(words), std::string::npos)
        << e.immediate->body;
    EXPECT_EQ(http::find_header(e.immediate->headers, "content-type"), "application/json");
  };
  HttpRequest malformed = completion("x");
  malformed.body = "{\"model\": \"m\", \"prompt\": ";
  expect_error(malformed, 400, "");
  expect_error(completion(std::string(5000, 'y')), 413, "limit");
  HttpRequest unknown = completion("x");
  unknown.body = json{{"model", "no-such-model"}, {"prompt", "x"}}.dump();
  expect_error(unknown, 404, "no-such-model");
  EXPECT_GE(metric("kgai_gateway_ext_proc_immediate_responses_total "), 3);
}

TEST_F(GatewayExtProcE2E, SheddingIs429AndNoReadyEndpointIs503) {
  start(1, {"--config", KGAI_SOURCE_DIR "/tests/integration/data/shedding.yaml"},
        {"--max-num-seqs", "1", "--time-scale", "1"});
  wait_routing();
  auto busy = saturate(sim_ports_[0], 4);
  ASSERT_TRUE(wait_saturated(metrics_port_)) << gateway_->output();
  HttpRequest batch = completion("later");
  batch.headers.push_back({"x-gateway-inference-objective", "batch"});
  Exchange shed = envoy_->run(batch, ExchangeOptions{});
  ASSERT_TRUE(shed.immediate) << shed.summary();
  EXPECT_EQ(shed.immediate->status, 429);
  for (auto& t : busy) t.join();
  // The only endpoint goes away: 503 once the picker knows, and health says NOT_SERVING.
  sim_->stop();
  EXPECT_TRUE(wait_health("NOT_SERVING"));
  Exchange none = envoy_->run(completion("anyone?"), ExchangeOptions{});
  ASSERT_TRUE(none.immediate) << none.summary();
  EXPECT_EQ(none.immediate->status, 503) << none.immediate->body;
}

TEST_F(GatewayExtProcE2E, HealthFollowsTheEndpointsReadiness) {
  // An endpoint nobody listens on: not ready.
  start(0, {}, {}, "127.0.0.1:1");
  EXPECT_TRUE(wait_health("NOT_SERVING"));
  EXPECT_EQ(health("envoy.service.ext_proc.v3.ExternalProcessor"), "NOT_SERVING");
  EXPECT_EQ(health("no.such.Service"), "error 5");  // NOT_FOUND
  // Also where Envoy talks to the picker: some gateways health-check that port.
  EXPECT_EQ(health("", ext_proc_port_), "NOT_SERVING");
}

// NOT_SERVING while no endpoint is ready; SERVING once the endpoints file names one that is.
TEST_F(GatewayExtProcE2E, HealthTurnsServingWhenAnEndpointBecomesReady) {
  const std::string file = ::testing::TempDir() + "kgai_extproc_endpoints.yaml";
  auto write = [&](const std::string& address) {
    std::ofstream(file) << "endpoints:\n- address: " << address << "\n";
  };
  write("127.0.0.1:1");
  testing::KgaiProcess sim({"sim", "--host", "127.0.0.1", "--port", "0", "--time-scale", "10"});
  auto sim_port = sim.wait_for_ports(1);
  ASSERT_EQ(sim_port.size(), 1u) << sim.output();
  gateway_ = std::make_unique<testing::KgaiProcess>(std::vector<std::string>{
      "gateway", "--listen", "off", "--ext-proc-listen", "127.0.0.1:0", "--health-listen",
      "127.0.0.1:0", "--endpoints-file", file, "--scrape-interval-ms", "20"});
  auto ports = gateway_->wait_for_ports(2);
  ASSERT_EQ(ports.size(), 2u) << gateway_->output();
  health_port_ = ports[1];
  EXPECT_TRUE(wait_health("NOT_SERVING"));
  std::this_thread::sleep_for(1100ms);  // a new modification time for the watcher to see
  write(fmt::format("127.0.0.1:{}", sim_port[0]));
  EXPECT_TRUE(wait_health("SERVING")) << gateway_->output();
  std::remove(file.c_str());
}

TEST_F(GatewayExtProcE2E, TheSubsetHintRestrictsThePick) {
  start(3);
  wait_routing();
  for (int i = 0; i < 10; ++i) {
    ExchangeOptions o = forwarding();
    o.subset_hint = {sim_address(2)};
    Exchange e = envoy_->run(completion("subset " + std::to_string(i)), o);
    ASSERT_TRUE(e.ok()) << e.summary();
    ASSERT_EQ(e.destinations.size(), 1u);
    EXPECT_EQ(e.destinations[0], sim_address(2));
  }
  ExchangeOptions o;
  o.subset_hint = {"10.9.9.9:8000"};
  Exchange none = envoy_->run(completion("nowhere"), o);
  ASSERT_TRUE(none.immediate) << none.summary();
  EXPECT_EQ(none.immediate->status, 503);
}

TEST_F(GatewayExtProcE2E, BrokenStreamsEndCleanlyAndReleaseWhatTheyHeld) {
  start(1);
  wait_routing();
  auto faulty = [&](Fault fault) {
    ExchangeOptions o;
    o.fault = fault;
    o.timeout = 5'000ms;
    return envoy_->run(completion("fault"), o);
  };
  EXPECT_EQ(faulty(Fault::kBodyBeforeHeaders).grpc_code, 3);  // INVALID_ARGUMENT
  EXPECT_EQ(faulty(Fault::kTwoHeaderMessages).grpc_code, 3);
  Exchange half = faulty(Fault::kNoEndOfStream);
  EXPECT_TRUE(half.violations.empty()) << half.summary();
  (void)faulty(Fault::kCancelMidway);
  Exchange unknown = faulty(Fault::kUnknownFields);
  EXPECT_TRUE(unknown.ok()) << unknown.summary();
  EXPECT_FALSE(unknown.destinations.empty());
  // Nothing stays open or in flight.
  double open = -1, in_flight = -1;
  for (int i = 0; i < 100; ++i) {
    open = metric("kgai_gateway_ext_proc_streams ");
    in_flight = metric("kgai_gateway_endpoint_in_flight{endpoint=\"" + sim_address(0) + "\"}");
    if (open == 0 && in_flight == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(open, 0);
  EXPECT_EQ(in_flight, 0);
  EXPECT_GE(metric("kgai_gateway_ext_proc_protocol_errors_total "), 2);
  // The picker still serves.
  Exchange after = envoy_->run(completion("still there"), forwarding());
  EXPECT_TRUE(after.ok()) << after.summary();
  EXPECT_EQ(after.response_status, 200);
}

TEST_F(GatewayExtProcE2E, SigtermDrainsOpenStreams) {
  start(1, {"--drain-timeout", "20"}, {"--time-scale", "1"});
  wait_routing();
  std::atomic<int> status{0};
  std::thread slow([&] {
    Exchange e = envoy_->run(completion("take your time", 40, true), forwarding());
    status = e.ok() ? e.response_status : -1;
  });
  std::this_thread::sleep_for(300ms);  // the stream is open, the answer streaming
  gateway_->signal(SIGTERM);
  slow.join();
  EXPECT_EQ(status, 200) << gateway_->output();
  EXPECT_EQ(gateway_->wait_exit(std::chrono::seconds(20)), 0) << gateway_->output();
}

}  // namespace
}  // namespace kgai
