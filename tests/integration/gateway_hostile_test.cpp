// `kgai gateway` probed as an attacker or a careless client would: bytes that are not UTF-8
// in headers and paths, deeply nested bodies, wrong methods, made-up objectives, endpoints
// that answer 500s or hang, headers an endpoint should not set. The gateway must answer each
// with a clear 4xx or serve it, keep /metrics valid, and keep serving.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/event_loop.h"
#include "common/http_server.h"
#include "common/prometheus.h"
#include "integration/gateway_fixture.h"
#include "integration/raw_socket.h"

namespace kgai {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string metrics_page(uint16_t port) {
  auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", port));
  return m ? m->body : std::string();
}

// The page must be what Prometheus accepts: our strict parser, and promtool when installed.
void expect_valid_exposition(const std::string& page) {
  auto parsed = prom::parse_text(page);
  ASSERT_TRUE(parsed) << parsed.error().message;
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return;
  char path[] = "/tmp/kgai-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << page;
  // promtool's lint warnings (exit 3 in some versions) are style; a parse error is exit 1.
  const int rc =
      std::system(fmt::format("promtool check metrics < {} >/dev/null 2>&1", path).c_str());
  std::remove(path);
  EXPECT_NE(WEXITSTATUS(rc), 1) << "promtool rejected the page";
}

json parse_json(std::string_view text) { return json::parse(text, nullptr, false); }

TEST_F(GatewayE2E, BytesThatAreNotUtf8GetClearAnswersAndMetricsStayValid) {
  start(1, {}, {"--config", KGAI_SOURCE_DIR "/tests/integration/data/shedding.yaml"});
  // A rewrite header that is not UTF-8, or holds control characters: 400 in valid JSON.
  for (std::string bad : {std::string("\xff\xfe"), std::string("a\x01z"), std::string(5000, 'm')}) {
    auto r = post("/v1/completions", completion("x"), {{"x-gateway-model-name-rewrite", bad}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 400) << r->body;
    auto j = parse_json(r->body);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    // (A control character is refused already by the HTTP parser: a 400 of its own.)
    if (bad.find('\x01') == std::string::npos) {
      EXPECT_NE(j["error"]["message"].get<std::string>().find("x-gateway-model-name-rewrite"),
                std::string::npos)
          << r->body;
    }
  }
  // A rewrite to a model nobody serves: 404 that quotes it safely.
  auto unknown = post("/v1/completions", completion("x"),
                      {{"x-gateway-model-name-rewrite", "no-such-\xc3\xa9-model"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_FALSE(parse_json(unknown->body).is_discarded()) << unknown->body;
  // Objectives made up by clients, some not UTF-8, some with quotes and newlines in them:
  // served at priority 0, never a label value of their own.
  for (int i = 0; i < 300; ++i) {
    std::string objective = fmt::format("made-up-{}-\xff\"\\", i);
    auto r =
        post("/v1/completions", completion("hi"), {{"x-gateway-inference-objective", objective}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
  }
  // A path that is not UTF-8 (sent raw: client libraries would refuse).
  const std::string answer = testing::raw_exchange(
      port_, "GET /v1/\xff\xfe\x80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(answer.find(" 404 "), std::string::npos) << answer;
  EXPECT_FALSE(parse_json(testing::response_body(answer)).is_discarded()) << answer;

  const std::string page = metrics_page(metrics_port_);
  expect_valid_exposition(page);
  EXPECT_EQ(page.find("made-up"), std::string::npos);
  EXPECT_NE(page.find(R"(objective="other")"), std::string::npos);
  EXPECT_LT(page.size(), 200'000u);
  auto fine = post("/v1/completions", completion("still serving"));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
}

TEST_F(GatewayE2E, DeeplyNestedBodiesNeverCrashTheGateway) {
  start(1);
  std::string deep = R"({"model":"meta-llama/Llama-3.1-8B-Instruct","messages":)";
  deep.append(100'000, '[');
  deep.append(100'000, ']');
  deep += "}";
  std::string deep_prompt = R"({"model":"meta-llama/Llama-3.1-8B-Instruct","prompt":)";
  deep_prompt.append(100'000, '[');
  deep_prompt.append(100'000, ']');
  deep_prompt += "}";
  std::string deep_extra = R"({"model":"meta-llama/Llama-3.1-8B-Instruct","prompt":"x","extra":)";
  deep_extra.append(100'000, '{');  // unbalanced too
  for (const auto& [path, body] :
       std::vector<std::pair<std::string, std::string>>{{"/v1/chat/completions", deep},
                                                        {"/v1/completions", deep_prompt},
                                                        {"/v1/completions", deep_extra}}) {
    for (bool rewrite : {false, true}) {
      std::vector<http::Header> headers = {{"Content-Type", "application/json"}};
      if (rewrite) {
        headers.push_back({"x-gateway-model-name-rewrite", "meta-llama/Llama-3.1-8B-Instruct"});
      }
      auto r = client_->send({"POST", path, headers, body});
      ASSERT_TRUE(r) << r.error().message << "\n" << gateway_->output();
      // The gateway rejects it, or the model server does: a 4xx in the OpenAI shape.
      EXPECT_GE(r->status, 400) << r->body;
      EXPECT_LT(r->status, 500) << r->body;
      EXPECT_FALSE(parse_json(r->body).is_discarded()) << r->body;
    }
  }
  auto fine = post("/v1/completions", completion("still serving"));
  ASSERT_TRUE(fine) << gateway_->output();
  EXPECT_EQ(fine->status, 200);
}

TEST_F(GatewayE2E, WrongMethodsOnKnownRoutesGet405) {
  start(1);
  for (const auto& [method, path, allow] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/v1/completions", "POST"},
           {"PUT", "/v1/chat/completions", "POST"},
           {"POST", "/v1/models", "GET, HEAD"},
           {"DELETE", "/healthz", "GET, HEAD"}}) {
    auto r = client_->send({method, path, {{"Content-Type", "application/json"}}, "{}"});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 405) << method << " " << path;
    EXPECT_EQ(r->header("Allow"), allow);
    EXPECT_EQ(parse_json(r->body)["error"]["code"], 405) << r->body;
  }
}

// A model server that sets the gateway's own headers on its answers, as a compromised or
// misconfigured one might.
class ForgingServer {
 public:
  ForgingServer() {
    http::ServerOptions options;
    server_ = std::make_unique<http::Server>(
        loop_, options, [](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
          http::Response r;
          r.headers.push_back({"Content-Type", "application/json"});
          if (request.path() == "/metrics") {
            r.headers[0].value = "text/plain";
            r.body =
                "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting 0\n"
                "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n";
          } else if (request.path() == "/v1/models") {
            r.body = R"({"object":"list","data":[{"id":"m","object":"model"}]})";
          } else {
            r.headers.push_back({"x-gateway-destination-endpoint-served", "10.9.9.9:1"});
            r.headers.push_back({"X-Kgai-Decision", "forged"});
            r.body =
                R"({"choices":[{"text":"ok"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})";
          }
          stream->respond(std::move(r));
        });
    auto port = server_->listen();
    port_ = port ? *port : 0;
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~ForgingServer() {
    loop_.post([this] {
      server_->stop();
      loop_.stop();
    });
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  EventLoop loop_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(GatewayE2E, ClientsLearnThePoolsLayoutOnlyWhenAllowed) {
  ForgingServer forger;
  ASSERT_NE(forger.port(), 0);
  expose_debug_ = false;
  testing::KgaiProcess doomed({"sim", "--host", "127.0.0.1", "--port", "0", "--seed", "2"});
  auto doomed_ports = doomed.wait_for_ports(1);
  ASSERT_EQ(doomed_ports.size(), 1u) << doomed.output();
  // Round robin over the forger, a live sim, and one that dies after its first scrape.
  start(1, {},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/round_robin.yaml",
         "--scrape-interval-ms", "60000", "--stale-after", "300", "--max-attempts", "1",
         "--outlier-failures", "0"},
        fmt::format("127.0.0.1:{},127.0.0.1:{}", forger.port(), doomed_ports[0]));
  doomed.stop();
  int forged_seen = 0, failures_seen = 0;
  for (int i = 0; i < 12; ++i) {
    json body = completion("where am I", 2);
    auto r = post("/v1/completions", body, {{"x-kgai-debug", "1"}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->header("x-kgai-decision"), "") << "trace without --expose-debug";
    EXPECT_EQ(r->header("x-gateway-destination-endpoint-served"), "");
    if (r->body.find("\"ok\"") != std::string::npos) ++forged_seen;
    if (r->status >= 500) {
      ++failures_seen;
      EXPECT_EQ(r->body.find("127.0.0.1"), std::string::npos) << r->body;
      EXPECT_FALSE(parse_json(r->body).is_discarded()) << r->body;
    }
  }
  EXPECT_GT(forged_seen, 0);
  EXPECT_GT(failures_seen, 0);
}

TEST_F(GatewayE2E, AnEndpointAnswering5xxIsEjectedAndItsRequestsServedElsewhere) {
  // Every request to the second simulator fails with 429, 500 or 503.
  testing::KgaiProcess failing(
      {"sim", "--host", "127.0.0.1", "--port", "0", "--seed", "3", "--failure-rate", "1"});
  auto failing_ports = failing.wait_for_ports(1);
  ASSERT_EQ(failing_ports.size(), 1u) << failing.output();
  start(1, {},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/round_robin.yaml",
         "--outlier-failures", "3", "--outlier-base-ejection", "60"},
        fmt::format("127.0.0.1:{}", failing_ports[0]));
  for (int i = 0; i < 40; ++i) {
    auto r = post("/v1/completions", completion("ejection " + std::to_string(i)));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("x-gateway-destination-endpoint-served"),
              fmt::format("127.0.0.1:{}", sim_ports_[0]));
  }
  const std::string page = metrics_page(metrics_port_);
  const std::string bad = fmt::format("127.0.0.1:{}", failing_ports[0]);
  EXPECT_NE(page.find(fmt::format("kgai_gateway_endpoint_ejected{{endpoint=\"{}\"}} 1", bad)),
            std::string::npos)
      << page;
  // Round robin sends every other request there until it is ejected after 3 failures (429s
  // are retried but do not count): far fewer than the 20 it would get otherwise.
  auto exposition = prom::parse_text(page);
  ASSERT_TRUE(exposition);
  const prom::Sample* retries =
      exposition->find_sample("kgai_gateway_retries_total", {{"endpoint", bad}});
  ASSERT_NE(retries, nullptr) << page;
  EXPECT_LE(retries->value, 12);
}

TEST_F(GatewayE2E, AHungEndpointIsBypassedAndReadinessFollowsThePool) {
  testing::KgaiProcess hung({"sim", "--host", "127.0.0.1", "--port", "0", "--seed", "4"});
  auto hung_ports = hung.wait_for_ports(1);
  ASSERT_EQ(hung_ports.size(), 1u) << hung.output();
  start(1, {},
        {"--config", KGAI_SOURCE_DIR "/tests/integration/data/round_robin.yaml", "--ttfb-timeout",
         "0.5"},
        fmt::format("127.0.0.1:{}", hung_ports[0]));
  auto ready = client_->send({"GET", "/readyz", {}, ""});
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  hung.signal(SIGSTOP);
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    auto r = post("/v1/completions", completion("hang " + std::to_string(i)));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
  }
  // At most a few requests wait out the 0.5 s TTFB timeout before the scrapes (1 s timeout)
  // or outlier detection take the hung endpoint out.
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 8s);
  hung.signal(SIGCONT);
  hung.stop();
  // The live replica goes too: nothing is ready, but the process is alive.
  sim_->stop();
  int status = 0;
  for (int i = 0; i < 100 && status != 503; ++i) {
    std::this_thread::sleep_for(50ms);
    auto r = client_->send({"GET", "/readyz", {}, ""});
    if (r) status = r->status;
  }
  EXPECT_EQ(status, 503);
  auto health = client_->send({"GET", "/health", {}, ""});
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  auto live = client_->send({"GET", "/healthz", {}, ""});
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
}

}  // namespace
}  // namespace kgai
