// The fixture of the gateway's end-to-end tests: `kgai gateway` in front of real `kgai sim`
// replicas on loopback ports, and a client for it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "integration/process.h"

namespace kgai {

// `kgai sim` with `replicas` replicas on free loopback ports (time scale 10, seed 1, then
// `extra` flags); their ports go to `ports` (fewer than asked when it failed to start).
inline std::unique_ptr<testing::KgaiProcess> start_sims(int replicas,
                                                        const std::vector<std::string>& extra,
                                                        std::vector<uint16_t>& ports) {
  std::vector<std::string> args = {
      "sim",          "--host", "127.0.0.1", "--port", "0", "--replicas", std::to_string(replicas),
      "--time-scale", "10",     "--seed",    "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto sim = std::make_unique<testing::KgaiProcess>(args);
  ports = sim->wait_for_ports(static_cast<size_t>(replicas));
  return sim;
}

class GatewayE2E : public ::testing::Test {
 protected:
  // Starts `replicas` simulated servers and a gateway in front of them (plus `extra` endpoints).
  void start(int replicas, std::vector<std::string> sim_args = {},
             std::vector<std::string> gateway_args = {}, std::string extra = "") {
    sim_ = start_sims(replicas, sim_args, sim_ports_);
    ASSERT_EQ(sim_ports_.size(), static_cast<size_t>(replicas)) << sim_->output();
    std::string endpoints = extra;
    for (uint16_t p : sim_ports_) {
      endpoints += fmt::format("{}127.0.0.1:{}", endpoints.empty() ? "" : ",", p);
    }
    std::vector<std::string> g = {
        "gateway",     "--listen",    "127.0.0.1:0", "--metrics-listen",
        "127.0.0.1:0", "--endpoints", endpoints,     "--scrape-interval-ms",
        "20"};
    // Most tests check where requests went, which clients may only learn when allowed.
    if (expose_debug_) g.push_back("--expose-debug");
    g.insert(g.end(), gateway_args.begin(), gateway_args.end());
    gateway_ = std::make_unique<testing::KgaiProcess>(g);
    auto ports = gateway_->wait_for_ports(2);
    ASSERT_EQ(ports.size(), 2u) << gateway_->output();
    metrics_port_ = ports[0];
    port_ = ports[1];
    client_ = std::make_unique<http::Client>("127.0.0.1", port_);
    // Wait until the gateway knows the served model (its /v1/models).
    for (int i = 0; i < 100; ++i) {
      auto r = client_->send({"GET", "/v1/models", {}, ""});
      if (r && r->status == 200 && nlohmann::json::parse(r->body)["data"].size() > 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "the gateway never listed a model\n" << gateway_->output();
  }

  Result<http::Response> post(const std::string& path, const nlohmann::json& body,
                              std::vector<http::Header> headers = {}) {
    http::Request r{"POST", path, std::move(headers), body.dump()};
    r.headers.push_back({"Content-Type", "application/json"});
    return client_->send(r);
  }

  static nlohmann::json completion(const std::string& prompt, int max_tokens = 4,
                                   bool stream = false) {
    return {{"model", "meta-llama/Llama-3.1-8B-Instruct"},
            {"prompt", prompt},
            {"max_tokens", max_tokens},
            {"stream", stream}};
  }

  bool expose_debug_ = true;
  std::unique_ptr<testing::KgaiProcess> sim_, gateway_;
  std::vector<uint16_t> sim_ports_;
  uint16_t port_ = 0, metrics_port_ = 0;
  std::unique_ptr<http::Client> client_;
};

// Keeps the simulator busy: `n` long requests on their own connections, so it runs one and
// queues the rest (started with --max-num-seqs 1), until the returned threads are joined.
inline std::vector<std::thread> saturate(uint16_t port, int n) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([port, i] {
      http::Client c("127.0.0.1", port);
      nlohmann::json body = {{"model", "meta-llama/Llama-3.1-8B-Instruct"},
                             {"prompt", "busy " + std::to_string(i)},
                             {"max_tokens", 60},
                             {"ignore_eos", true}};
      (void)c.send(
          {"POST", "/v1/completions", {{"Content-Type", "application/json"}}, body.dump()});
    });
  }
  return threads;
}

// Polls the gateway's /metrics until the pool's saturation reaches 1.
inline bool wait_saturated(uint16_t metrics_port) {
  for (int i = 0; i < 200; ++i) {
    auto m = http::get(fmt::format("http://127.0.0.1:{}/metrics", metrics_port));
    if (m) {
      auto at = m->body.find("\nkgai_gateway_pool_saturation ");
      if (at != std::string::npos && std::stod(m->body.substr(at + 30)) >= 1.0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace kgai
