// The request lifecycle without sockets: a hand-made pool, events recorded, every step of a
// DirectedRequest driven by hand as a data plane would.
#include "gateway/director.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "unit/gateway/fake_pool.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

using testing::FakePool;
using ::testing::HasSubstr;

struct Done {
  std::string model, objective;
  int code;
  std::optional<double> ttft;
  int64_t input, output;
};

class RecordingEvents final : public DirectorEvents {
 public:
  void request_done(std::string_view model, std::string_view objective, int code, double,
                    std::optional<double> ttft, int64_t input, int64_t output) override {
    done.push_back({std::string(model), std::string(objective), code, ttft, input, output});
  }
  void decision(std::string_view endpoint, double) override { decisions.emplace_back(endpoint); }
  void retry(std::string_view endpoint) override { retries.emplace_back(endpoint); }
  void shed(std::string_view model) override { sheds.emplace_back(model); }

  std::vector<Done> done;
  std::vector<std::string> decisions, retries, sheds;
};

GatewayConfig config_with(std::string_view yaml) {
  auto c = parse_gateway_config(yaml, "test");
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c ? *c : default_gateway_config();
}

struct Fixture {
  explicit Fixture(size_t n = 3, GatewayConfig config = default_gateway_config(),
                   DirectorOptions options = {})
      : pool(n), director(std::make_shared<Director>(options, std::move(config), pool, &events)) {}
  FakePool pool;
  RecordingEvents events;
  std::shared_ptr<Director> director;
};

const std::string kBody = R"({"model":"m","prompt":"hello there","max_tokens":5})";

TEST(Director, AWholeRequestIsReadScheduledSentAndAccounted) {
  Fixture f;
  {
    DirectedRequest r(f.director);
    ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
    EXPECT_EQ(r.info().model, "m");
    EXPECT_EQ(r.info().fairness_id, "default-flow");
    EXPECT_EQ(*r.send_body(), kBody);  // not rewritten: the very body
    Rejection rejection;
    ASSERT_EQ(r.admit([](FlowOutcome) {}, &rejection), DirectedRequest::Admission::kNow);
    ASSERT_FALSE(r.schedule(true));
    EXPECT_FALSE(r.trace().empty());
    const EndpointState* e = r.next_attempt();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->in_flight(), 1);  // a slot held while the attempt runs
    r.sent();
    r.response_started(200);
    r.response_body("data: {\"choices\":[{\"text\":\"hi\"}]}\n\n");
    r.response_body(
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5}}\n\n"
        "data: [DONE]\n\n");
    r.finish(200);
    EXPECT_EQ(e->in_flight(), 0);
    r.finish(500);  // idempotent
  }
  ASSERT_EQ(f.events.done.size(), 1u);
  EXPECT_EQ(f.events.done[0].code, 200);
  EXPECT_EQ(f.events.done[0].model, "m");
  EXPECT_TRUE(f.events.done[0].ttft.has_value());
  EXPECT_EQ(f.events.done[0].input, 7);
  EXPECT_EQ(f.events.done[0].output, 5);
  EXPECT_EQ(f.events.decisions.size(), 1u);
}

TEST(Director, BadBodiesAndRewriteHeadersAre400) {
  Fixture f;
  DirectedRequest bad(f.director);
  auto r = bad.read(ApiKind::kCompletions, {}, "{\"model\": 3}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  DirectedRequest truncated(f.director);
  ASSERT_TRUE(truncated.read(ApiKind::kChatCompletions, {}, "{\"model\":\"m\",\"messages\":["));
  DirectedRequest control(f.director);
  std::vector<http::Header> headers{{"X-Gateway-Model-Name-Rewrite", "a\nb"}};
  r = control.read(ApiKind::kCompletions, headers, kBody);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->message, HasSubstr("control characters"));
}

TEST(Director, ARewriteIsSplicedIntoTheBodyKeepingEverythingElse) {
  Fixture f;
  DirectedRequest r(f.director);
  const std::string body = R"({"prompt":"x","model":"base","stream":false,"z":[1,2]})";
  std::vector<http::Header> headers{{"x-gateway-model-name-rewrite", "lora-\"7\""}};
  ASSERT_FALSE(r.read(ApiKind::kCompletions, headers, body));
  EXPECT_EQ(r.info().target_model, "lora-\"7\"");
  EXPECT_EQ(*r.send_body(), R"({"prompt":"x","model":"lora-\"7\"","stream":false,"z":[1,2]})");
}

TEST(Director, UnknownModelsAre404OnceTheServedListIsKnown) {
  Fixture f;
  DirectedRequest before(f.director);
  EXPECT_FALSE(before.read(ApiKind::kCompletions, {}, kBody));  // list unknown: let through
  f.director->set_served_models({"other-model", "base"});
  EXPECT_EQ(f.director->served_models(), (std::vector<std::string>{"base", "other-model"}));
  {
    DirectedRequest r(f.director);
    auto rejection = r.read(ApiKind::kCompletions, {}, kBody);
    ASSERT_TRUE(rejection);
    EXPECT_EQ(rejection->status, 404);
    EXPECT_THAT(rejection->message, HasSubstr("`m`"));
    r.finish(404);
  }
  // The metrics label is "other", never the client's name.
  EXPECT_EQ(f.events.done.back().model, "other");
}

TEST(Director, ObjectivesCountOnlyAsConfiguredAndKeysAreBounded) {
  Fixture f(3, config_with("objectives:\n- name: premium\n  priority: 10\n"));
  DirectedRequest known(f.director);
  std::vector<http::Header> headers{{"x-gateway-inference-objective", "premium"},
                                    {"x-gateway-inference-fairness-id", std::string(500, 'f')}};
  ASSERT_FALSE(known.read(ApiKind::kCompletions, headers, kBody));
  EXPECT_EQ(known.info().priority, 10);
  EXPECT_EQ(known.info().objective, "premium");
  EXPECT_LE(known.info().fairness_id.size(), 128u);
  EXPECT_THAT(known.info().fairness_id, HasSubstr("xxh3:"));
  DirectedRequest unknown(f.director);
  headers = {{"x-gateway-inference-objective", "made-up"}};
  ASSERT_FALSE(unknown.read(ApiKind::kCompletions, headers, kBody));
  EXPECT_EQ(unknown.info().priority, 0);
  EXPECT_EQ(unknown.info().objective, "other");
}

TEST(Director, SheddableRequestsAre429WhileThePoolIsSaturated) {
  Fixture f(2, config_with("objectives:\n- name: batch\n  priority: -1\n"));
  f.pool.set_waiting(50);
  DirectedRequest r(f.director);
  std::vector<http::Header> headers{{"x-gateway-inference-objective", "batch"}};
  ASSERT_FALSE(r.read(ApiKind::kCompletions, headers, kBody));
  Rejection rejection;
  EXPECT_EQ(r.admit([](FlowOutcome) {}, &rejection), DirectedRequest::Admission::kRejected);
  EXPECT_EQ(rejection.status, 429);
  EXPECT_EQ(f.events.sheds.size(), 1u);
  // Not sheddable: goes on (flow control is off).
  DirectedRequest normal(f.director);
  ASSERT_FALSE(normal.read(ApiKind::kCompletions, {}, kBody));
  EXPECT_EQ(normal.admit([](FlowOutcome) {}, &rejection), DirectedRequest::Admission::kNow);
}

// Flow control is one set of queues for every data-plane thread: a request queued by one is
// let go by the Director's tick, and its callback hands over to its own thread.
TEST(Director, QueuedRequestsWaitForCapacityAndAreLetGoByTheTick) {
  Fixture f(2, config_with("flowControl:\n  enabled: true\n  ttl: 30s\n"));
  f.pool.set_waiting(50);  // saturated
  std::vector<FlowOutcome> outcomes;
  DirectedRequest r(f.director);
  ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
  Rejection rejection;
  ASSERT_EQ(r.admit([&](FlowOutcome o) { outcomes.push_back(o); }, &rejection),
            DirectedRequest::Admission::kQueued);
  EXPECT_EQ(f.director->flow_stats().queued, 1u);
  f.director->tick(SteadyTime::clock::now());
  EXPECT_TRUE(outcomes.empty());  // still saturated
  f.pool.set_waiting(0);
  f.director->tick(SteadyTime::clock::now());
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0], FlowOutcome::kDispatch);
  EXPECT_FALSE(r.dequeued(outcomes[0]));
  EXPECT_FALSE(r.schedule());
  EXPECT_NE(r.next_attempt(), nullptr);
}

TEST(Director, AQueuedRequestPastItsTtlIs503AndAnAbandonedOneLeavesTheQueue) {
  Fixture f(2, config_with("flowControl:\n  enabled: true\n  ttl: 1s\n"));
  f.pool.set_waiting(50);
  std::vector<FlowOutcome> outcomes;
  DirectedRequest late(f.director);
  ASSERT_FALSE(late.read(ApiKind::kCompletions, {}, kBody));
  Rejection rejection;
  ASSERT_EQ(late.admit([&](FlowOutcome o) { outcomes.push_back(o); }, &rejection),
            DirectedRequest::Admission::kQueued);
  f.director->tick(SteadyTime::clock::now() + std::chrono::seconds(2));
  ASSERT_EQ(outcomes.size(), 1u);
  auto r = late.dequeued(outcomes[0]);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  {
    DirectedRequest gone(f.director);
    ASSERT_FALSE(gone.read(ApiKind::kCompletions, {}, kBody));
    ASSERT_EQ(gone.admit([&](FlowOutcome o) { outcomes.push_back(o); }, &rejection),
              DirectedRequest::Admission::kQueued);
    EXPECT_EQ(f.director->flow_stats().queued, 1u);
  }  // destroyed while queued: the ticket is cancelled
  EXPECT_EQ(f.director->flow_stats().queued, 0u);
  EXPECT_EQ(outcomes.back(), FlowOutcome::kCancelled);
  EXPECT_EQ(f.events.done.back().code, 499);
}

TEST(Director, FailedAttemptsMoveDownTheRankingAndCountTowardsEjection) {
  DirectorOptions options;
  options.max_attempts = 2;
  options.outliers.consecutive_failures = 1;
  Fixture f(3, default_gateway_config(), options);
  DirectedRequest r(f.director);
  ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
  ASSERT_FALSE(r.schedule());
  EXPECT_EQ(r.ranked(10).size(), 2u);  // at most max_attempts named
  const EndpointState* first = r.next_attempt();
  ASSERT_NE(first, nullptr);
  r.connect_failed("refused");
  EXPECT_EQ(f.pool.failures, std::vector<uint32_t>{first->id});
  EXPECT_TRUE(r.attempt_failed("refused"));
  EXPECT_EQ(first->in_flight(), 0);
  EXPECT_TRUE(first->ejected(SteadyTime::clock::now()));
  const EndpointState* second = r.next_attempt();
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second, first);
  EXPECT_EQ(f.events.retries, std::vector<std::string>{first->endpoint->address});
  EXPECT_FALSE(r.attempt_failed("answered 503"));  // max_attempts reached
  EXPECT_EQ(r.next_attempt(), nullptr);
  Rejection last = r.exhausted(503);
  EXPECT_EQ(last.status, 503);
  EXPECT_EQ(last.message, "every endpoint tried failed");  // addresses only with expose_debug
}

TEST(Director, ExposeDebugNamesTheLastFailure) {
  DirectorOptions options;
  options.expose_debug = true;
  Fixture f(1, default_gateway_config(), options);
  DirectedRequest r(f.director);
  ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
  ASSERT_FALSE(r.schedule());
  ASSERT_NE(r.next_attempt(), nullptr);
  EXPECT_FALSE(r.attempt_failed("connection refused"));
  EXPECT_THAT(r.exhausted(503).message, HasSubstr("10.0.0.0:8000: connection refused"));
  EXPECT_THAT(r.exhausted(504).message, HasSubstr("10.0.0.0:8000"));
}

TEST(Director, NoReadyEndpointIs503) {
  Fixture f(2);
  PoolSnapshot pool = *f.pool.snapshot();
  for (auto& e : pool.endpoints) e.healthy = false;
  f.pool.set(std::move(pool));
  EXPECT_FALSE(f.director->ready());
  DirectedRequest r(f.director);
  ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
  auto rejection = r.schedule();
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->status, 503);
}

// Envoy names the endpoint that served (a fallback when the primary failed it): the slot and
// the failure move with it.
TEST(Director, TheServedEndpointTakesOverTheAccounting) {
  DirectorOptions options;
  options.outliers.consecutive_failures = 1;
  Fixture f(3, default_gateway_config(), options);
  DirectedRequest r(f.director);
  ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
  ASSERT_FALSE(r.schedule());
  auto ranked = r.ranked(3);
  ASSERT_EQ(ranked.size(), 3u);
  const EndpointState* primary = r.next_attempt();
  ASSERT_EQ(primary, ranked[0]);
  r.served_by(ranked[1]->endpoint->address);
  EXPECT_EQ(primary->in_flight(), 0);
  EXPECT_EQ(ranked[1]->in_flight(), 1);
  EXPECT_TRUE(primary->ejected(SteadyTime::clock::now()));
  EXPECT_EQ(r.endpoint(), ranked[1]);
  r.served_by("10.9.9.9:1");  // not in the pool: nothing moves
  EXPECT_EQ(r.endpoint(), ranked[1]);
  r.response_started(200);
  r.finish(200);
  EXPECT_EQ(ranked[1]->in_flight(), 0);
}

TEST(Director, AnUnfinishedRequestIsAccountedAs499AndReleasesItsSlot) {
  Fixture f(1);
  const EndpointState* e = nullptr;
  {
    DirectedRequest r(f.director);
    ASSERT_FALSE(r.read(ApiKind::kChatCompletions, {},
                        R"({"model":"m","messages":[{"role":"user","content":"x"}]})"));
    ASSERT_FALSE(r.schedule());
    e = r.next_attempt();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->in_flight(), 1);
  }
  EXPECT_EQ(e->in_flight(), 0);
  ASSERT_EQ(f.events.done.size(), 1u);
  EXPECT_EQ(f.events.done[0].code, 499);
}

TEST(Director, TheSubsetHintRestrictsThePick) {
  Fixture f(5);
  for (int round = 0; round < 20; ++round) {
    DirectedRequest r(f.director);
    ASSERT_FALSE(r.read(ApiKind::kCompletions, {}, kBody));
    r.restrict_to({"10.0.0.3:8000", "10.0.0.4:8000"});
    ASSERT_FALSE(r.schedule());
    for (const EndpointState* e : r.ranked(5)) {
      EXPECT_TRUE(e->endpoint->address == "10.0.0.3:8000" ||
                  e->endpoint->address == "10.0.0.4:8000")
          << e->endpoint->address;
    }
  }
  DirectedRequest none(f.director);
  ASSERT_FALSE(none.read(ApiKind::kCompletions, {}, kBody));
  none.restrict_to({"10.9.9.9:1"});
  auto rejection = none.schedule();
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->status, 503);
  EXPECT_THAT(rejection->message, HasSubstr("subset"));
}

TEST(Director, OpaqueRequestsAreRoutedOnLoadWithTheirHeadersRead) {
  Fixture f(2, config_with("objectives:\n- name: premium\n  priority: 3\n"));
  DirectedRequest r(f.director);
  std::vector<http::Header> headers{{"x-gateway-inference-objective", "premium"}};
  r.read_opaque(headers, 123);
  EXPECT_EQ(r.info().priority, 3);
  EXPECT_TRUE(r.info().model.empty());
  ASSERT_FALSE(r.schedule());
  EXPECT_NE(r.next_attempt(), nullptr);
}

}  // namespace
}  // namespace kgai::gateway
