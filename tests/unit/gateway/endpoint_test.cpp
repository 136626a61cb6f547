#include "gateway/endpoint.h"

#include <cmath>

#include <gtest/gtest.h>

namespace kgai::gateway {
namespace {

TEST(Endpoint, ParsesHostPort) {
  auto e = parse_endpoint_address("10.0.0.7:8000");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->host, "10.0.0.7");
  EXPECT_EQ(e->port, 8000);
  EXPECT_EQ(e->address, "10.0.0.7:8000");
  EXPECT_EQ(e->engine, EngineType::kVllm);
  auto v6 = parse_endpoint_address("[::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
}

TEST(Endpoint, RejectsBadAddresses) {
  for (const char* bad : {"", "host", ":80", "host:", "host:0", "host:65536", "host:8x", "::1:80",
                          "[::1]80", "[::1", "host:-1"}) {
    auto e = parse_endpoint_address(bad);
    EXPECT_FALSE(e) << bad;
    if (!e) {
      EXPECT_NE(e.error().message.find("endpoint '"), std::string::npos) << bad;
    }
  }
}

TEST(Endpoint, EngineNames) {
  EXPECT_EQ(parse_engine("SGLang"), EngineType::kSglang);
  EXPECT_EQ(parse_engine("triton"), EngineType::kTriton);
  EXPECT_EQ(parse_engine("trtllm"), EngineType::kTrtllm);
  EXPECT_EQ(parse_engine("vllm"), EngineType::kVllm);
  EXPECT_FALSE(parse_engine("tgi"));
  EXPECT_EQ(engine_name(EngineType::kSglang), "sglang");
}

TEST(Endpoint, MetricsAge) {
  EndpointState s;
  EXPECT_TRUE(std::isinf(s.metrics_age(SteadyTime::clock::now())));
  s.scraped_at = SteadyTime::clock::now();
  EXPECT_NEAR(s.metrics_age(s.scraped_at + std::chrono::milliseconds(250)), 0.25, 1e-9);
}

}  // namespace
}  // namespace kgai::gateway
