// The ext_proc protocol of one stream without gRPC: messages as Envoy sends them, answers
// checked field by field, the Director's accounting over a hand-made pool.
#include "gateway/extproc/stream_logic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/gateway/fake_pool.h"

namespace kgai::gateway::extproc {
namespace {

using ::testing::HasSubstr;
using Mode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;
using gateway::testing::FakePool;

class Recorder final : public DirectorEvents {
 public:
  void request_done(std::string_view, std::string_view, int code, double,
                    std::optional<double> ttft, int64_t input, int64_t output) override {
    codes.push_back(code);
    last_ttft = ttft;
    last_input = input;
    last_output = output;
  }
  void decision(std::string_view, double) override {}
  void retry(std::string_view) override {}
  void shed(std::string_view) override {}
  std::vector<int> codes;
  std::optional<double> last_ttft;
  int64_t last_input = 0, last_output = 0;
};

const std::string kBody = R"({"model":"m","prompt":"hello","max_tokens":3})";

struct Harness {
  explicit Harness(size_t endpoints = 2, GatewayConfig config = default_gateway_config(),
                   StreamOptions stream_options = {})
      : pool(endpoints),
        director(std::make_shared<Director>(DirectorOptions{}, std::move(config), pool, &events)),
        options(stream_options),
        logic(director, options, counters, [this](FlowOutcome o) { outcomes.push_back(o); }) {}

  void send(const pb::ProcessingRequest& m) { logic.on_message(m); }
  std::vector<pb::ProcessingResponse> take() {
    std::vector<pb::ProcessingResponse> out;
    for (auto& a : logic.answers()) {
      logic.answer_sent(a.ByteSizeLong());
      out.push_back(std::move(a));
    }
    logic.answers().clear();
    return out;
  }

  FakePool pool;
  Recorder events;
  std::shared_ptr<Director> director;
  StreamOptions options;
  StreamCounters counters;
  std::vector<FlowOutcome> outcomes;
  StreamLogic logic;
};

pb::ProcessingRequest headers(std::string method, std::string path, bool end_of_stream,
                              std::vector<http::Header> extra = {}) {
  pb::ProcessingRequest m;
  auto* h = m.mutable_request_headers();
  auto add = [&](const std::string& k, const std::string& v) {
    auto* hv = h->mutable_headers()->add_headers();
    hv->set_key(k);
    hv->set_raw_value(v);
  };
  add(":method", method);
  add(":path", path);
  add(":authority", "gw");
  for (const auto& x : extra) add(x.name, x.value);
  h->set_end_of_stream(end_of_stream);
  return m;
}

pb::ProcessingRequest body(std::string_view data, bool end_of_stream, bool request = true) {
  pb::ProcessingRequest m;
  auto* b = request ? m.mutable_request_body() : m.mutable_response_body();
  b->set_body(std::string(data));
  b->set_end_of_stream(end_of_stream);
  return m;
}

pb::ProcessingRequest config(BodyMode request_mode) {
  pb::ProcessingRequest m = headers("POST", "/v1/completions", false);
  m.mutable_protocol_config()->set_request_body_mode(request_mode);
  m.mutable_protocol_config()->set_response_body_mode(Mode::FULL_DUPLEX_STREAMED);
  return m;
}

std::string destination_of(const pb::CommonResponse& common) {
  for (const auto& h : common.header_mutation().set_headers()) {
    if (h.header().key() == "x-gateway-destination-endpoint") return h.header().raw_value();
  }
  return "";
}

std::string streamed_body(const std::vector<pb::ProcessingResponse>& answers, size_t from,
                          bool* end_of_stream = nullptr) {
  std::string out;
  for (size_t i = from; i < answers.size(); ++i) {
    const auto& s = answers[i].request_body().response().body_mutation().streamed_response();
    EXPECT_LE(s.body().size(), kMaxStreamedChunk);
    out += s.body();
    if (end_of_stream) *end_of_stream = s.end_of_stream();
  }
  return out;
}

TEST(StreamLogic, FullDuplexAnswersTheHeadersWithTheRouteOnceTheBodyIsIn) {
  Harness h;
  h.send(headers("POST", "/v1/completions", false));
  h.send(body(kBody.substr(0, 10), false));
  EXPECT_TRUE(h.take().empty());  // the headers answer waits for the decision
  h.send(body(kBody.substr(10), true));
  auto answers = h.take();
  ASSERT_GE(answers.size(), 2u);
  ASSERT_TRUE(answers[0].has_request_headers());
  const auto& common = answers[0].request_headers().response();
  EXPECT_TRUE(common.clear_route_cache());
  const std::string destination = destination_of(common);
  EXPECT_THAT(destination, HasSubstr("10.0.0."));
  EXPECT_THAT(destination, HasSubstr(","));  // a fallback follows the primary
  const auto& lb = answers[0].dynamic_metadata().fields().at("envoy.lb");
  EXPECT_EQ(lb.struct_value().fields().at("x-gateway-destination-endpoint").string_value(),
            destination);
  bool end = false;
  EXPECT_EQ(streamed_body(answers, 1, &end), kBody);
  EXPECT_TRUE(end);
  EXPECT_FALSE(h.logic.end());  // the response phases follow
}

// The prefix index learns a decided prompt's blocks (tens of microseconds for 200 KB) only once
// the caller has handed the decision to gRPC, or at the stream's next event, whichever is first.
TEST(StreamLogic, ThePostPickStepWaitsUntilTheDecisionIsOnItsWay) {
  Harness h;
  h.send(headers("POST", "/v1/completions", false));
  EXPECT_FALSE(h.logic.sent_pending());
  h.send(body(kBody, true));
  EXPECT_FALSE(h.take().empty());
  EXPECT_TRUE(h.logic.sent_pending());
  h.logic.flush_sent();
  EXPECT_FALSE(h.logic.sent_pending());
  h.logic.flush_sent();  // once only
  EXPECT_FALSE(h.logic.sent_pending());
}

TEST(StreamLogic, TheNextEventRunsAPendingPostPickStepFirst) {
  Harness h;
  h.send(headers("POST", "/v1/completions", false));
  h.send(body(kBody, true));
  ASSERT_TRUE(h.logic.sent_pending());
  h.logic.on_half_close();  // routed, the response never shown
  EXPECT_FALSE(h.logic.sent_pending());
  ASSERT_EQ(h.events.codes.size(), 1u);
}

TEST(StreamLogic, TheResponseIsStreamedBackAndAccounted) {
  Harness h;
  h.send(headers("POST", "/v1/chat/completions", false));
  h.send(body(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true})", true));
  auto routed = h.take();
  const std::string primary = destination_of(routed[0].request_headers().response());
  pb::ProcessingRequest response;
  auto* rh = response.mutable_response_headers();
  auto add = [&](const std::string& k, const std::string& v) {
    auto* hv = rh->mutable_headers()->add_headers();
    hv->set_key(k);
    hv->set_raw_value(v);
  };
  add(":status", "200");
  add("content-type", "text/event-stream");
  h.send(response);
  const std::string events =
      "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}\n\n"
      "data: [DONE]\n\n";
  h.send(body(events.substr(0, 40), false, false));
  h.send(body(events.substr(40), true, false));
  auto answers = h.take();
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_TRUE(answers[0].has_response_headers());
  std::string echoed;
  for (size_t i = 1; i < answers.size(); ++i) {
    echoed += answers[i].response_body().response().body_mutation().streamed_response().body();
  }
  EXPECT_EQ(echoed, events);
  ASSERT_EQ(h.events.codes, std::vector<int>{200});
  EXPECT_EQ(h.events.last_input, 9);
  EXPECT_EQ(h.events.last_output, 1);
  EXPECT_TRUE(h.events.last_ttft.has_value());
  EXPECT_EQ(
      h.pool.snapshot()->endpoints[0].in_flight() + h.pool.snapshot()->endpoints[1].in_flight(), 0);
  h.logic.on_half_close();
  ASSERT_TRUE(h.logic.end());
  EXPECT_EQ(h.logic.end()->kind, StreamEnd::Kind::kOk);
  EXPECT_EQ(h.events.codes.size(), 1u);  // finished once
}

TEST(StreamLogic, BufferedBodiesCarryTheRouteAndTheRewriteInTheBodyAnswer) {
  Harness h;
  h.send(config(Mode::BUFFERED));
  auto first = h.take();
  ASSERT_EQ(first.size(), 1u);  // the headers are answered at once, without a route
  ASSERT_TRUE(first[0].has_request_headers());
  EXPECT_EQ(destination_of(first[0].request_headers().response()), "");
  pb::ProcessingRequest b = body(kBody, true);
  h.logic.on_message(b);
  auto answers = h.take();
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0].has_request_body());
  EXPECT_NE(destination_of(answers[0].request_body().response()), "");
  EXPECT_FALSE(answers[0].request_body().response().has_body_mutation());  // no rewrite

  Harness r;
  pb::ProcessingRequest m = config(Mode::BUFFERED);
  auto* hv = m.mutable_request_headers()->mutable_headers()->add_headers();
  hv->set_key("x-gateway-model-name-rewrite");
  hv->set_raw_value("other");
  r.send(m);
  r.take();
  r.send(body(kBody, true));
  answers = r.take();
  ASSERT_EQ(answers.size(), 1u);
  const auto& common = answers[0].request_body().response();
  EXPECT_EQ(common.body_mutation().body(), R"({"model":"other","prompt":"hello","max_tokens":3})");
  bool length_set = false;
  for (const auto& h2 : common.header_mutation().set_headers()) {
    if (h2.header().key() == "content-length") {
      length_set = h2.header().raw_value() == std::to_string(common.body_mutation().body().size());
    }
  }
  EXPECT_TRUE(length_set);
}

TEST(StreamLogic, AStreamedBodyModeIsAClearErrorNotAGuess) {
  Harness h;
  h.send(config(Mode::STREAMED));
  auto answers = h.take();
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0].has_immediate_response());
  EXPECT_EQ(answers[0].immediate_response().status().code(), 500);
  EXPECT_THAT(answers[0].immediate_response().body(), HasSubstr("FULL_DUPLEX_STREAMED"));
  EXPECT_THAT(answers[0].immediate_response().body(), HasSubstr("STREAMED"));
}

TEST(StreamLogic, ProtocolBreachesEndTheStreamWithInvalidArgument) {
  Harness before;
  before.send(body(kBody, true));
  ASSERT_TRUE(before.logic.end());
  EXPECT_EQ(before.logic.end()->kind, StreamEnd::Kind::kInvalidArgument);
  EXPECT_THAT(before.logic.end()->message, HasSubstr("before request_headers"));

  Harness twice;
  twice.send(headers("POST", "/v1/completions", false));
  twice.send(headers("POST", "/v1/completions", false));
  ASSERT_TRUE(twice.logic.end());
  EXPECT_EQ(twice.logic.end()->kind, StreamEnd::Kind::kInvalidArgument);

  Harness empty;
  empty.send(pb::ProcessingRequest{});
  ASSERT_TRUE(empty.logic.end());
  EXPECT_EQ(empty.counters.protocol_errors.load(), 1u);

  Harness response_first;
  pb::ProcessingRequest r;
  r.mutable_response_headers();
  response_first.send(r);
  ASSERT_TRUE(response_first.logic.end());
  EXPECT_EQ(response_first.logic.end()->kind, StreamEnd::Kind::kInvalidArgument);
}

TEST(StreamLogic, BadBodiesGetOpenAiShapedImmediateResponses) {
  auto immediate = [](Harness& h) -> pb::ImmediateResponse {
    auto answers = h.take();
    EXPECT_EQ(answers.size(), 1u);
    if (answers.empty() || !answers[0].has_immediate_response()) return {};
    EXPECT_TRUE(h.logic.end());
    return answers[0].immediate_response();
  };
  Harness malformed;
  malformed.send(headers("POST", "/v1/completions", false));
  malformed.send(body("{\"model\": \"m\", \"prompt\": [", true));
  auto r = immediate(malformed);
  EXPECT_EQ(r.status().code(), 400);
  EXPECT_THAT(r.body(), HasSubstr("\"error\""));

  StreamOptions small;
  small.max_body_bytes = 100;
  Harness declared(2, default_gateway_config(), small);
  declared.send(headers("POST", "/v1/completions", false, {{"content-length", "5000"}}));
  EXPECT_EQ(immediate(declared).status().code(), 413);
  Harness chunked(2, default_gateway_config(), small);
  chunked.send(headers("POST", "/v1/completions", false));
  chunked.send(body(std::string(80, ' '), false));
  chunked.send(body(std::string(80, ' '), false));
  EXPECT_EQ(immediate(chunked).status().code(), 413);
  EXPECT_EQ(chunked.events.codes, std::vector<int>{413});

  Harness unknown;
  unknown.director->set_served_models({"served"});
  unknown.send(headers("POST", "/v1/completions", false));
  unknown.send(body(kBody, true));
  EXPECT_EQ(immediate(unknown).status().code(), 404);

  Harness nobody(0);
  nobody.send(headers("GET", "/v1/models", true));
  EXPECT_EQ(immediate(nobody).status().code(), 503);
}

TEST(StreamLogic, BodylessAndOtherRoutesAreRoutedOnTheirHeadersAtOnce) {
  Harness h;
  h.send(headers("GET", "/v1/models", true));
  auto answers = h.take();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_NE(destination_of(answers[0].request_headers().response()), "");
  Harness other;
  other.send(headers("POST", "/v1/embeddings", false));
  answers = other.take();
  ASSERT_EQ(answers.size(), 1u);  // routed before its body: it is not read
  other.send(body("{\"input\":\"x\"}", true));
  answers = other.take();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].request_body().response().body_mutation().streamed_response().body(),
            "{\"input\":\"x\"}");
}

TEST(StreamLogic, LargeBodiesGoBackInChunksOfAtMost62000Bytes) {
  Harness h;
  const std::string prompt(200'000, 'p');
  const std::string large = R"({"model":"m","prompt":")" + prompt + "\"}";
  h.send(headers("POST", "/v1/completions", false));
  for (size_t at = 0; at < large.size(); at += 16'384) {
    h.send(body(large.substr(at, 16'384), at + 16'384 >= large.size()));
  }
  auto answers = h.take();
  ASSERT_GE(answers.size(), 5u);
  bool end = false;
  EXPECT_EQ(streamed_body(answers, 1, &end), large);
  EXPECT_TRUE(end);
}

TEST(StreamLogic, TrailersEndTheBodyAndAreAnsweredAfterIt) {
  Harness h;
  h.send(headers("POST", "/v1/completions", false));
  h.send(body(kBody, false));
  pb::ProcessingRequest t;
  t.mutable_request_trailers();
  h.send(t);
  auto answers = h.take();
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_TRUE(answers[0].has_request_headers());
  EXPECT_FALSE(
      answers[1].request_body().response().body_mutation().streamed_response().end_of_stream());
  EXPECT_TRUE(answers[2].has_request_trailers());
}

TEST(StreamLogic, TheSubsetHintAndTheServedEndpointAreHonoured) {
  Harness h(4);
  pb::ProcessingRequest m = headers("POST", "/v1/completions", false);
  auto& hint = (*m.mutable_metadata_context()->mutable_filter_metadata())["envoy.lb.subset_hint"];
  auto* list =
      (*hint.mutable_fields())["x-gateway-destination-endpoint-subset"].mutable_list_value();
  list->add_values()->set_string_value("10.0.0.2:8000");
  list->add_values()->set_string_value("10.0.0.3");  // a host: any of its ports
  h.send(m);
  h.send(body(kBody, true));
  auto answers = h.take();
  const std::string destination = destination_of(answers[0].request_headers().response());
  EXPECT_TRUE(destination == "10.0.0.2:8000,10.0.0.3:8000" ||
              destination == "10.0.0.3:8000,10.0.0.2:8000")
      << destination;
  // Envoy reports that the fallback served: the in-flight slot moves there.
  const std::string fallback = destination.substr(destination.find(',') + 1);
  pb::ProcessingRequest response;
  auto* rh = response.mutable_response_headers();
  auto* status = rh->mutable_headers()->add_headers();
  status->set_key(":status");
  status->set_raw_value("200");
  auto& lb = (*response.mutable_metadata_context()->mutable_filter_metadata())["envoy.lb"];
  (*lb.mutable_fields())["x-gateway-destination-endpoint-served"].set_string_value(fallback);
  h.send(response);
  int64_t fallback_in_flight = -1;
  for (const auto& e : h.pool.snapshot()->endpoints) {
    if (e.endpoint->address == fallback) fallback_in_flight = e.in_flight();
  }
  EXPECT_EQ(fallback_in_flight, 1);
}

TEST(StreamLogic, AQueuedRequestIsAnsweredWhenFlowControlLetsItGo) {
  auto config = parse_gateway_config("flowControl:\n  enabled: true\n", "test");
  ASSERT_TRUE(config);
  Harness h(2, *config);
  h.pool.set_waiting(50);  // saturated
  h.send(headers("POST", "/v1/completions", false));
  h.send(body(kBody, true));
  EXPECT_TRUE(h.take().empty());  // queued
  h.pool.set_waiting(0);
  h.director->tick(SteadyTime::clock::now());
  ASSERT_EQ(h.outcomes, std::vector<FlowOutcome>{FlowOutcome::kDispatch});
  h.logic.dequeued(h.outcomes[0]);
  auto answers = h.take();
  ASSERT_GE(answers.size(), 2u);
  EXPECT_NE(destination_of(answers[0].request_headers().response()), "");
}

TEST(StreamLogic, AStreamThatEndsEarlyReleasesWhatItHeld) {
  Harness h(1);
  h.send(headers("POST", "/v1/completions", false));
  h.send(body(kBody, true));
  h.take();
  EXPECT_EQ(h.pool.snapshot()->endpoints[0].in_flight(), 1);
  h.logic.on_cancel();
  EXPECT_EQ(h.pool.snapshot()->endpoints[0].in_flight(), 0);
  ASSERT_TRUE(h.logic.end());
  EXPECT_EQ(h.logic.end()->kind, StreamEnd::Kind::kCancelled);
  EXPECT_EQ(h.events.codes, std::vector<int>{499});

  Harness half(1);
  half.send(headers("POST", "/v1/completions", false));
  half.send(body(kBody.substr(0, 5), false));
  half.logic.on_half_close();  // no end_of_stream ever came
  EXPECT_EQ(half.events.codes, std::vector<int>{499});
  ASSERT_TRUE(half.logic.end());
}

// Envoy configured to skip the response phases closes the stream once the request is routed:
// the slot is released and the outcome recorded as unknown (0), not as a success or a 499.
TEST(StreamLogic, ARoutedRequestWhoseResponseIsNeverShownEndsAsUnknown) {
  Harness h(1);
  h.send(headers("POST", "/v1/completions", false));
  h.send(body(kBody, true));
  h.take();
  EXPECT_EQ(h.pool.snapshot()->endpoints[0].in_flight(), 1);
  h.logic.on_half_close();
  EXPECT_EQ(h.pool.snapshot()->endpoints[0].in_flight(), 0);
  EXPECT_EQ(h.events.codes, std::vector<int>{0});
  ASSERT_TRUE(h.logic.end());
  EXPECT_EQ(h.logic.end()->kind, StreamEnd::Kind::kOk);
}

TEST(StreamLogic, ObservabilityModeAnswersNothing) {
  Harness h;
  pb::ProcessingRequest m = headers("GET", "/v1/models", true);
  m.set_observability_mode(true);
  h.send(m);
  EXPECT_TRUE(h.take().empty());
}

}  // namespace
}  // namespace kgai::gateway::extproc
