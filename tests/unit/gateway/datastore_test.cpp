#include "gateway/datastore.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "fake_metrics_server.h"
#include "gateway/endpoints_file.h"
#include "gateway/endpoints_file_watcher.h"
#include "unit/common/http_test_util.h"

namespace kgai::gateway {
namespace {

using namespace std::chrono_literals;
using kgai::testing::wait_until;
using testing::Behaviour;
using testing::FakeMetricsServer;
using testing::vllm_page;

// Short intervals so the tests run quickly; every wait below has a deadline of seconds.
DatastoreOptions fast_options() {
  DatastoreOptions options;
  options.scrape_interval = 10ms;
  options.scrape_timeout = 500ms;
  options.min_backoff = 20ms;
  options.max_backoff = 100ms;
  return options;
}

Endpoint endpoint(const std::string& address, EngineType engine = EngineType::kVllm) {
  auto parsed = parse_endpoint_address(address);
  EXPECT_TRUE(parsed) << address;
  parsed->engine = engine;
  return *parsed;
}

// The state of `address` in the latest snapshot, or nullopt.
std::optional<EndpointState> state_of(const Datastore& datastore, const std::string& address) {
  auto snapshot = datastore.snapshot();
  for (const EndpointState& state : snapshot->endpoints) {
    if (state.endpoint->address == address) return state;
  }
  return std::nullopt;
}

TEST(Datastore, SnapshotIsEmptyBeforeEndpointsAndFirstRoundWithNoneIsImmediate) {
  Datastore datastore(fast_options());
  ASSERT_NE(datastore.snapshot(), nullptr);
  EXPECT_TRUE(datastore.snapshot()->endpoints.empty());
  EXPECT_TRUE(datastore.wait_first_round(0ms));
  datastore.stop();  // without start: nothing to do
  datastore.start();
  datastore.start();
}

TEST(Datastore, ScrapedValuesAppearInSnapshots) {
  FakeMetricsServer server;
  server.set_page(vllm_page(3, 0.25));
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(server.address())});
  auto before = state_of(datastore, server.address());
  ASSERT_TRUE(before);
  EXPECT_FALSE(before->healthy);  // known but not scraped yet
  EXPECT_EQ(before->metrics_age(std::chrono::steady_clock::now()),
            std::numeric_limits<double>::infinity());

  datastore.start();
  ASSERT_TRUE(datastore.wait_first_round(10s));
  auto state = state_of(datastore, server.address());
  ASSERT_TRUE(state);
  EXPECT_TRUE(state->healthy);
  EXPECT_EQ(state->metrics.waiting, 3);
  EXPECT_EQ(state->metrics.running, 1);
  EXPECT_DOUBLE_EQ(*state->metrics.kv_usage, 0.25);

  server.set_page(vllm_page(7));
  EXPECT_TRUE(wait_until(
      [&] {
        auto s = state_of(datastore, server.address());
        return s && s->metrics.waiting == 7;
      },
      10s));
  // Scraping goes on at the interval, not once.
  const int scrapes = server.scrapes();
  EXPECT_TRUE(wait_until([&] { return server.scrapes() >= scrapes + 3; }, 10s));
}

TEST(Datastore, FailingEndpointBecomesUnhealthyAndRecovers) {
  FakeMetricsServer server;
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(server.address())});
  datastore.start();
  auto healthy = [&] {
    auto s = state_of(datastore, server.address());
    return s && s->healthy;
  };
  ASSERT_TRUE(wait_until(healthy, 10s));

  server.set_behaviour(Behaviour::kError503);
  ASSERT_TRUE(wait_until([&] { return !healthy(); }, 10s));
  // The metrics of the last good scrape stay, with their age.
  EXPECT_EQ(state_of(datastore, server.address())->metrics.waiting, 0);

  server.set_behaviour(Behaviour::kServe);
  ASSERT_TRUE(wait_until(healthy, 10s));

  // An endpoint that stops answering at all: the scrape times out.
  server.set_behaviour(Behaviour::kHang);
  ASSERT_TRUE(wait_until([&] { return !healthy(); }, 10s));
  server.set_behaviour(Behaviour::kServe);
  ASSERT_TRUE(wait_until(healthy, 10s));
}

TEST(Datastore, BadMetricsPageMakesTheEndpointUnhealthy) {
  FakeMetricsServer server;
  server.set_page("this is not prometheus text {\n");
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(server.address())});
  datastore.start();
  ASSERT_TRUE(datastore.wait_first_round(10s));
  EXPECT_FALSE(state_of(datastore, server.address())->healthy);
  server.set_page(vllm_page(2));
  EXPECT_TRUE(wait_until([&] { return state_of(datastore, server.address())->healthy; }, 10s));
}

TEST(Datastore, RefusedEndpointDoesNotHoldBackOthers) {
  FakeMetricsServer server;
  const std::string dead = "127.0.0.1:" + std::to_string(kgai::testing::unused_port());
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(dead), endpoint(server.address())});
  datastore.start();
  ASSERT_TRUE(datastore.wait_first_round(10s));
  EXPECT_FALSE(state_of(datastore, dead)->healthy);
  EXPECT_TRUE(wait_until([&] { return state_of(datastore, server.address())->healthy; }, 10s));
  // Backed off, it is retried, and it stays unhealthy.
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(state_of(datastore, dead)->healthy);
}

TEST(Datastore, StaleMetricsMakeAnEndpointUnhealthy) {
  DatastoreOptions options = fast_options();
  options.scrape_timeout = 8s;  // far longer than stale_after: the scrape hangs, metrics age
  options.stale_after = 300ms;
  Datastore datastore(options);  // declared first: the server goes first and ends the scrape
  FakeMetricsServer server;
  datastore.set_endpoints({endpoint(server.address())});
  datastore.start();
  ASSERT_TRUE(wait_until([&] { return state_of(datastore, server.address())->healthy; }, 10s));
  server.set_behaviour(Behaviour::kHang);
  // Well before the scrape's own timeout, staleness alone marks it.
  EXPECT_TRUE(wait_until([&] { return !state_of(datastore, server.address())->healthy; }, 6s));
}

TEST(Datastore, IdsMetricsAndLoadSurviveSetEndpoints) {
  FakeMetricsServer a, b, c;
  a.set_page(vllm_page(1));
  b.set_page(vllm_page(2));
  c.set_page(vllm_page(3));
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(a.address()), endpoint(b.address())});
  datastore.start();
  ASSERT_TRUE(datastore.wait_first_round(10s));
  const auto a_before = *state_of(datastore, a.address());
  const auto b_before = *state_of(datastore, b.address());
  EXPECT_NE(a_before.id, b_before.id);
  b_before.load->in_flight.fetch_add(5);

  Endpoint b_labelled = endpoint(b.address());
  b_labelled.labels["zone"] = "z1";
  datastore.set_endpoints({b_labelled, endpoint(c.address())});
  auto snapshot = datastore.snapshot();
  ASSERT_EQ(snapshot->endpoints.size(), 2u);
  const EndpointState& b_after = snapshot->endpoints[0];
  const EndpointState& c_new = snapshot->endpoints[1];
  EXPECT_EQ(b_after.endpoint->address, b.address());
  EXPECT_EQ(b_after.id, b_before.id);
  EXPECT_EQ(b_after.load, b_before.load);
  EXPECT_EQ(b_after.in_flight(), 5);
  EXPECT_EQ(b_after.metrics.waiting, 2);  // kept, no rescrape needed
  EXPECT_TRUE(b_after.healthy);
  EXPECT_EQ(b_after.endpoint->labels.at("zone"), "z1");
  EXPECT_NE(c_new.id, a_before.id);
  EXPECT_NE(c_new.id, b_before.id);
  EXPECT_FALSE(state_of(datastore, a.address()));
  ASSERT_TRUE(datastore.wait_first_round(10s));
  EXPECT_EQ(state_of(datastore, c.address())->metrics.waiting, 3);

  // Re-adding a removed endpoint gives it a new id: the old one may still sit in the
  // prefix index.
  datastore.set_endpoints({endpoint(a.address()), b_labelled, endpoint(c.address())});
  auto a_again = state_of(datastore, a.address());
  EXPECT_NE(a_again->id, a_before.id);
  EXPECT_EQ(state_of(datastore, b.address())->id, b_before.id);

  // A snapshot taken earlier never changes.
  EXPECT_EQ(snapshot->endpoints.size(), 2u);
}

TEST(Datastore, EngineChangeDropsMetricsReadWithTheOldNames) {
  FakeMetricsServer server;
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(server.address())});
  datastore.start();
  ASSERT_TRUE(datastore.wait_first_round(10s));
  EXPECT_EQ(state_of(datastore, server.address())->metrics.waiting, 0);
  const uint32_t id = state_of(datastore, server.address())->id;
  datastore.set_endpoints({endpoint(server.address(), EngineType::kSglang)});
  auto state = state_of(datastore, server.address());
  EXPECT_EQ(state->id, id);
  EXPECT_EQ(state->endpoint->engine, EngineType::kSglang);
  // The page has only vLLM names: as an SGLang endpoint it reads as no metrics.
  EXPECT_TRUE(wait_until(
      [&] {
        auto s = state_of(datastore, server.address());
        return s->scraped_at > state->scraped_at && !s->metrics.waiting;
      },
      10s));
}

TEST(Datastore, ReportedFailureIsUnhealthyAtOnceAndRecovers) {
  FakeMetricsServer server;
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(server.address())});
  datastore.start();
  ASSERT_TRUE(wait_until([&] { return state_of(datastore, server.address())->healthy; }, 10s));
  const uint32_t id = state_of(datastore, server.address())->id;
  datastore.report_failure(id, "connection refused");
  datastore.report_failure(12345, "unknown ids are ignored");
  // Published at once, unless a scrape that was in flight succeeded in between.
  auto state = state_of(datastore, server.address());
  EXPECT_TRUE(!state->healthy || state->scraped_at > std::chrono::steady_clock::now() - 1s);
  EXPECT_TRUE(wait_until([&] { return state_of(datastore, server.address())->healthy; }, 10s));
}

TEST(Datastore, ReportedFailureWithoutScrapersStaysUnhealthy) {
  FakeMetricsServer server;
  Datastore datastore(fast_options());
  datastore.set_endpoints({endpoint(server.address())});
  datastore.start();
  ASSERT_TRUE(wait_until([&] { return state_of(datastore, server.address())->healthy; }, 10s));
  datastore.stop();
  const uint32_t id = state_of(datastore, server.address())->id;
  datastore.report_failure(id, "connection refused");
  EXPECT_FALSE(state_of(datastore, server.address())->healthy);
}

TEST(Datastore, ManyEndpointsAllGetScraped) {
  std::vector<std::unique_ptr<FakeMetricsServer>> servers;
  std::vector<Endpoint> endpoints;
  for (int i = 0; i < 20; ++i) {
    servers.push_back(std::make_unique<FakeMetricsServer>());
    servers.back()->set_page(vllm_page(i));
    endpoints.push_back(endpoint(servers.back()->address()));
  }
  Datastore datastore(fast_options());
  datastore.set_endpoints(endpoints);
  datastore.start();
  ASSERT_TRUE(datastore.wait_first_round(10s));
  auto snapshot = datastore.snapshot();
  ASSERT_EQ(snapshot->endpoints.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(snapshot->endpoints[i].healthy) << i;
    EXPECT_EQ(snapshot->endpoints[i].metrics.waiting, i) << i;
  }
}

class EndpointsFileWatcherTest : public ::testing::Test {
 protected:
  void write(const std::string& text) {
    // Write a new file and rename it over the old one, as editors and kubelet do.
    const std::string temp = path_ + ".tmp";
    std::ofstream(temp) << text;
    std::rename(temp.c_str(), path_.c_str());
  }
  static std::string file_for(const std::vector<std::string>& addresses) {
    std::string text = "endpoints:\n";
    for (const auto& address : addresses) text += "  - address: " + address + "\n";
    return text;
  }
  ~EndpointsFileWatcherTest() override { std::remove(path_.c_str()); }

  std::string path_ = ::testing::TempDir() + "kgai_watcher_test_" +
                      std::to_string(reinterpret_cast<uintptr_t>(this)) + ".yaml";
};

TEST_F(EndpointsFileWatcherTest, PicksUpEditsAndKeepsEndpointsOnABrokenEdit) {
  FakeMetricsServer a, b;
  write(file_for({a.address()}));
  Datastore datastore(fast_options());
  EndpointsFileWatcher watcher(path_, datastore, 20ms);
  ASSERT_TRUE(watcher.reload());
  EXPECT_EQ(datastore.snapshot()->endpoints.size(), 1u);
  datastore.start();
  watcher.start();

  write(file_for({a.address(), b.address()}));
  ASSERT_TRUE(wait_until([&] { return datastore.snapshot()->endpoints.size() == 2; }, 10s));
  const uint32_t a_id = state_of(datastore, a.address())->id;

  write("endpoints:\n  - address: " + a.address() + "\n    engin: vllm\n");
  ASSERT_TRUE(wait_until([&] { return !watcher.last_error().empty(); }, 10s));
  EXPECT_NE(watcher.last_error().find("endpoints[0].engin: unknown key"), std::string::npos)
      << watcher.last_error();
  EXPECT_EQ(datastore.snapshot()->endpoints.size(), 2u);

  std::remove(path_.c_str());  // a missing file is an error too, and keeps the endpoints
  ASSERT_TRUE(wait_until(
      [&] { return watcher.last_error().find("cannot open") != std::string::npos; }, 10s));
  EXPECT_EQ(datastore.snapshot()->endpoints.size(), 2u);

  write(file_for({a.address()}));
  ASSERT_TRUE(wait_until([&] { return datastore.snapshot()->endpoints.size() == 1; }, 10s));
  EXPECT_TRUE(watcher.last_error().empty());
  EXPECT_EQ(state_of(datastore, a.address())->id, a_id);
  watcher.stop();
  watcher.stop();
}

TEST_F(EndpointsFileWatcherTest, BrokenFileAtStartupIsAnError) {
  write("endpoints:\n  - adress: 127.0.0.1:1\n");
  Datastore datastore(fast_options());
  EndpointsFileWatcher watcher(path_, datastore);
  auto loaded = watcher.reload();
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("adress: unknown key; did you mean 'address'?"),
            std::string::npos)
      << loaded.error().message;
  EXPECT_TRUE(datastore.snapshot()->endpoints.empty());
}

}  // namespace
}  // namespace kgai::gateway
