// The ext_proc data plane's protocol (src/gateway/extproc/stream_logic.h): any sequence of
// messages Envoy (or a hostile peer on the ext_proc port) may send on one stream, in any
// order, with any bodies, through a real Director over a hand-made pool of three endpoints.
//
// Input: the first byte picks the gateway's setup (flow control on or off, the pool saturated
// or not, a served-model list or not); then operations, each an opcode byte, a flags byte and,
// for those that carry bytes, a length byte and that many bytes:
//   0 request_headers (flags: end_of_stream, route, protocol_config mode; bytes: a header value)
//   1 request_body   2 request_trailers   3 response_headers (bytes: the status)
//   4 response_body  5 response_trailers  6 a raw ProcessingRequest (bytes: its wire form)
//   7 the stream's end or flow control's move (flags: half-close, cancel, tick, outcome)
// Checked after every step: streamed chunks of at most 62,000 bytes, one answer to the
// request headers at most, no answer after the stream's end, answers' bytes bounded; and at
// the end, once the stream is cancelled, nothing is held: no endpoint slot, no queued ticket.
#include <memory>
#include <string>

#include "fuzz/fuzz_target.h"
#include "gateway/extproc/stream_logic.h"
#include "unit/gateway/fake_pool.h"

namespace {

using kgai::gateway::extproc::pb::ProcessingRequest;
using kgai::gateway::extproc::pb::ProcessingResponse;
using Mode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool empty() const { return data_.empty(); }
  uint8_t byte() {
    if (data_.empty()) return 0;
    const auto b = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }
  std::string bytes() {
    const size_t high = byte();  // in sequence: the two bytes, then what is left
    const size_t low = byte();
    const size_t n = std::min<size_t>(high * 16 + low, data_.size());
    std::string out(data_.substr(0, n));
    data_.remove_prefix(n);
    return out;
  }

 private:
  std::string_view data_;
};

void add_header(kgai::gateway::extproc::core::HeaderMap* map, const std::string& key,
                const std::string& value) {
  auto* h = map->add_headers();
  h->set_key(key);
  h->set_raw_value(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kgai::gateway;
  Reader in(kgai::fuzz::as_text(data, size));
  const uint8_t setup = in.byte();
  GatewayConfig config = default_gateway_config();
  config.flow_control.enabled = setup & 1;
  config.flow_control.max_bytes = 2048;
  config.objectives.push_back({"batch", -1});
  testing::FakePool pool(3);
  if (setup & 2) pool.set_waiting(50);  // saturated
  auto director = std::make_shared<Director>(DirectorOptions{}, config, pool, nullptr);
  if (setup & 4) director->set_served_models({"m", "other"});
  extproc::StreamOptions options;
  options.max_body_bytes = 4096;
  extproc::StreamCounters counters;
  std::vector<FlowOutcome> outcomes;
  auto logic = std::make_unique<extproc::StreamLogic>(
      director, options, counters, [&](FlowOutcome o) { outcomes.push_back(o); });

  size_t header_answers = 0;
  auto check_answers = [&] {
    for (auto& a : logic->answers()) {
      if (a.has_request_headers()) ++header_answers;
      for (const auto* b : {&a.request_body(), &a.response_body()}) {
        FUZZ_CHECK(b->response().body_mutation().streamed_response().body().size() <=
                   kgai::gateway::extproc::kMaxStreamedChunk);
      }
      logic->answer_sent(a.ByteSizeLong());
    }
    logic->answers().clear();
    FUZZ_CHECK(header_answers <= 1);
    FUZZ_CHECK(logic->answer_bytes() == 0);
  };

  static const char* kPaths[] = {"/v1/completions", "/v1/chat/completions", "/v1/embeddings",
                                 "/v1/completions?x=1"};
  static const extproc::BodyMode kModes[] = {Mode::FULL_DUPLEX_STREAMED, Mode::BUFFERED,
                                             Mode::STREAMED, Mode::BUFFERED_PARTIAL, Mode::NONE};
  while (!in.empty()) {
    const uint8_t op = in.byte() % 8;
    const uint8_t flags = in.byte();
    const bool ended_before = logic->end().has_value();
    ProcessingRequest m;
    switch (op) {
      case 0: {
        auto* h = m.mutable_request_headers();
        add_header(h->mutable_headers(), ":method", flags & 2 ? "GET" : "POST");
        add_header(h->mutable_headers(), ":path", kPaths[(flags >> 2) % 4]);
        const std::string value = in.bytes();
        add_header(h->mutable_headers(),
                   flags & 64 ? "content-length" : "x-gateway-model-name-rewrite", value);
        if (flags & 128) add_header(h->mutable_headers(), "x-gateway-inference-objective", "batch");
        h->set_end_of_stream(flags & 1);
        if (flags & 32) {
          m.mutable_protocol_config()->set_request_body_mode(kModes[(flags >> 4) % 5]);
          m.mutable_protocol_config()->set_response_body_mode(kModes[(flags >> 3) % 5]);
        }
        break;
      }
      case 1:
      case 4: {
        auto* b = op == 1 ? m.mutable_request_body() : m.mutable_response_body();
        std::string bytes = in.bytes();
        // Bodies that parse reach the decision: a valid request with the bytes as its prompt.
        if (op == 1 && (flags & 2)) bytes = R"({"model":"m","prompt":")" + bytes + "\"}";
        b->set_body(bytes);
        b->set_end_of_stream(flags & 1);
        break;
      }
      case 2:
        m.mutable_request_trailers();
        break;
      case 3: {
        auto* h = m.mutable_response_headers();
        add_header(h->mutable_headers(), ":status", in.bytes());
        add_header(h->mutable_headers(), "content-type",
                   flags & 2 ? "text/event-stream" : "application/json");
        h->set_end_of_stream(flags & 1);
        if (flags & 4) {
          auto& lb = (*m.mutable_metadata_context()->mutable_filter_metadata())["envoy.lb"];
          (*lb.mutable_fields())["x-gateway-destination-endpoint-served"].set_string_value(
              flags & 8 ? "10.0.0.1:8000" : "10.9.9.9:1");
        }
        break;
      }
      case 5:
        m.mutable_response_trailers();
        break;
      case 6: {
        const std::string wire = in.bytes();
        if (!m.ParseFromString(wire)) m.Clear();
        break;
      }
      case 7:
        switch (flags % 5) {
          case 0:
            logic->on_half_close();
            break;
          case 1:
            logic->on_cancel();
            break;
          case 2:
            pool.set_waiting(0);
            director->tick(kgai::SteadyTime::clock::now() + std::chrono::seconds(flags % 64));
            break;
          default:
            if (!outcomes.empty()) {
              logic->dequeued(outcomes.back());
              outcomes.pop_back();
            }
            break;
        }
        check_answers();
        continue;
    }
    logic->on_message(m);
    if (ended_before) FUZZ_CHECK(logic->answers().empty());
    check_answers();
  }
  // Whatever happened, a stream that goes away leaves nothing behind.
  logic->on_cancel();
  logic.reset();
  for (const auto& e : pool.snapshot()->endpoints) FUZZ_CHECK(e.in_flight() == 0);
  FUZZ_CHECK(director->flow_stats().queued == 0);
  return 0;
}
