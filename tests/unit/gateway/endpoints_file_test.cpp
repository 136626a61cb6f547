#include "gateway/endpoints_file.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace kgai::gateway {
namespace {

std::string error_of(std::string_view yaml) {
  auto parsed = parse_endpoints_yaml(yaml, "endpoints.yaml");
  EXPECT_FALSE(parsed) << yaml;
  return parsed ? "" : parsed.error().message;
}

TEST(EndpointsFile, ParsesEndpointsWithEnginesAndLabels) {
  auto parsed = parse_endpoints_yaml(R"(
endpoints:
  - address: 10.0.0.1:8000
    labels: {zone: a, tier: 1}
  - address: pod-b.example:9000
    engine: SGLang
  - address: "[fd00::1]:8000"
    engine: triton
    labels:
)",
                                     "endpoints.yaml");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 3u);
  const auto& e = *parsed;
  EXPECT_EQ(e[0].address, "10.0.0.1:8000");
  EXPECT_EQ(e[0].host, "10.0.0.1");
  EXPECT_EQ(e[0].port, 8000);
  EXPECT_EQ(e[0].engine, EngineType::kVllm);
  EXPECT_EQ(e[0].labels, (std::map<std::string, std::string>{{"tier", "1"}, {"zone", "a"}}));
  EXPECT_EQ(e[1].engine, EngineType::kSglang);
  EXPECT_EQ(e[2].host, "fd00::1");
  EXPECT_EQ(e[2].engine, EngineType::kTriton);
  EXPECT_TRUE(e[2].labels.empty());
}

TEST(EndpointsFile, EmptyListIsAnEmptyPool) {
  for (const char* yaml : {"endpoints: []\n", "endpoints:\n"}) {
    auto parsed = parse_endpoints_yaml(yaml, "e.yaml");
    ASSERT_TRUE(parsed) << yaml << parsed.error().message;
    EXPECT_TRUE(parsed->empty());
  }
}

TEST(EndpointsFile, UnknownKeyNamesPathLineAndSuggestion) {
  EXPECT_EQ(error_of(R"(endpoints:
  - address: 10.0.0.1:8000
    engine: vllm
  - address: 10.0.0.2:8000
    engin: vllm
)"),
            "endpoints.yaml: endpoints[1].engin: unknown key; did you mean 'engine'? (line 5)");
  EXPECT_EQ(error_of("endpoint:\n  - address: a:1\n"),
            "endpoints.yaml: endpoint: unknown key; did you mean 'endpoints'? (line 1)");
  EXPECT_EQ(error_of("endpoints:\n  - address: a:1\n    zone: a\n"),
            "endpoints.yaml: endpoints[0].zone: unknown key (line 3)");
}

TEST(EndpointsFile, BadValues) {
  EXPECT_EQ(error_of("endpoints:\n  - address: 10.0.0.1\n"),
            "endpoints.yaml: endpoints[0].address: endpoint '10.0.0.1': expected HOST:PORT "
            "(line 2)");
  EXPECT_EQ(error_of("endpoints:\n  - address: a:1\n    engine: tgi\n"),
            "endpoints.yaml: endpoints[0].engine: expected vllm, sglang, trtllm or triton, got "
            "'tgi' (line 3)");
  EXPECT_EQ(error_of("endpoints:\n  - engine: vllm\n"),
            "endpoints.yaml: endpoints[0]: missing 'address' (HOST:PORT) (line 2)");
  // Unquoted IPv6: YAML reads a flow list, or fails before the reader sees it.
  EXPECT_NE(error_of("endpoints:\n  - address: [fd00::1]\n").find("quote IPv6"), std::string::npos);
  EXPECT_NE(error_of("endpoints:\n  - address: [::1]:80\n").find("syntax error at line 2"),
            std::string::npos);
  EXPECT_EQ(error_of("endpoints:\n  - address: a:1\n    labels: [a]\n"),
            "endpoints.yaml: endpoints[0].labels: expected a map, got a list (line 3)");
  EXPECT_EQ(error_of("endpoints:\n  - address: a:1\n    labels: {zone: {x: 1}}\n"),
            "endpoints.yaml: endpoints[0].labels.zone: expected a string, got a map (line 3)");
  EXPECT_EQ(error_of("endpoints: a:1\n"),
            "endpoints.yaml: endpoints: expected a list, got 'a:1' (line 1)");
  EXPECT_EQ(error_of("endpoints:\n  - 10.0.0.1:8000\n"),
            "endpoints.yaml: endpoints[0]: expected a map, got '10.0.0.1:8000' (line 2)");
}

TEST(EndpointsFile, DuplicatesAreErrors) {
  EXPECT_EQ(error_of(R"(endpoints:
  - address: 10.0.0.1:8000
  - address: 10.0.0.2:8000
  - address: 10.0.0.1:8000
)"),
            "endpoints.yaml: endpoints[2].address: duplicate address '10.0.0.1:8000' (also "
            "endpoints[0]) (line 4)");
  EXPECT_EQ(error_of("endpoints:\n  - address: a:1\n    address: a:2\n"),
            "endpoints.yaml: endpoints[0].address: duplicate key (line 3)");
}

TEST(EndpointsFile, EmptyGarbageAndSyntaxErrors) {
  EXPECT_EQ(error_of(""), "endpoints.yaml: expected a map with 'endpoints', got an empty document");
  EXPECT_EQ(error_of("- a\n"), "endpoints.yaml: expected a map, got a list (line 1)");
  EXPECT_NE(error_of("endpoints: [\n").find("YAML syntax error at line"), std::string::npos);
  EXPECT_NE(error_of("a: 1\n---\nb: 2\n").find("one YAML document"), std::string::npos);
  EXPECT_NE(error_of(std::string("\0\x01\x02", 3)).find("endpoints.yaml"), std::string::npos);
}

TEST(EndpointsFile, LoadsFromDisk) {
  const std::string path = ::testing::TempDir() + "kgai_endpoints_file_test.yaml";
  std::ofstream(path) << "endpoints:\n  - address: 127.0.0.1:8000\n";
  auto loaded = load_endpoints_file(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->size(), 1u);
  std::ofstream(path) << "endpoints:\n  - adress: 127.0.0.1:8000\n";
  loaded = load_endpoints_file(path);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message.rfind(path + ": endpoints[0].adress: unknown key", 0), 0u)
      << loaded.error().message;
  std::remove(path.c_str());
  loaded = load_endpoints_file(path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("cannot open"), std::string::npos);
}

TEST(EndpointList, ParsesCommaSeparatedAddresses) {
  auto list = parse_endpoint_list("10.0.0.1:8000, 10.0.0.2:8000,[::1]:9000");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].address, "10.0.0.2:8000");
  EXPECT_EQ((*list)[2].host, "::1");
  auto one = parse_endpoint_list("localhost:8000");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
}

TEST(EndpointList, RejectsEmptyItemsBadAddressesAndDuplicates) {
  EXPECT_EQ(parse_endpoint_list("").error().message,
            "--endpoints: item 1 is empty; expected HOST:PORT[,HOST:PORT...]");
  EXPECT_EQ(parse_endpoint_list("a:1,,b:2").error().message,
            "--endpoints: item 2 is empty; expected HOST:PORT[,HOST:PORT...]");
  EXPECT_FALSE(parse_endpoint_list("a:1,"));
  EXPECT_EQ(parse_endpoint_list("a:1,b").error().message,
            "--endpoints: endpoint 'b': expected HOST:PORT");
  EXPECT_EQ(parse_endpoint_list("a:1,b:2,a:1").error().message,
            "--endpoints: duplicate address 'a:1'");
}

// Found by tests/fuzz: a stray token after a value made yaml-cpp's LoadAll loop forever (the
// file watcher would have hung on a broken edit).
TEST(EndpointsFile, StrayTokenIsASyntaxErrorNotAHang) {
  EXPECT_EQ(error_of("endpoints: []\n---\n,\n"),
            "endpoints.yaml: YAML syntax error at line 3, column 1: unexpected token, not valid "
            "YAML here");
}

}  // namespace
}  // namespace kgai::gateway
