// The ext_proc protocol of one stream, free of gRPC: the messages Envoy sends for one HTTP
// request in, the answers and the stream's end out. A ProcessStream (process_stream.h) moves
// bytes between it and gRPC; tests and the fuzz target drive it directly.
//
//   request_headers   kept; a request that needs no body (end_of_stream, or a route the gateway
//                     does not parse) is decided at once
//   request_body      FULL_DUPLEX_STREAMED: chunks collected until end_of_stream (the headers
//                     answer waits for the decision); BUFFERED: the headers are answered at once
//                     and the one body message carries the decision
//   decision          headers answer with the destination header (primary, then fallbacks),
//                     clear_route_cache and envoy.lb metadata; then the body (model rewrite
//                     applied) as streamed chunks of at most 62,000 bytes; or an immediate
//                     OpenAI-shaped error (400, 404, 413, 429, 503)
//   response phases   status, served endpoint, time to first token, usage, end of stream: the
//                     Director's accounting; bodies streamed back untouched
//
// A stream that breaks the protocol (a body before headers, two header messages) ends with an
// error; one that ends early (Envoy reset, client gone) releases what it held. Memory is
// bounded: the body while it is collected (max_body_bytes), and the answers the caller has not
// taken yet (answer_bytes(), which the caller keeps low by reading no further).
//
// Not thread-safe: the caller serializes every call.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/director.h"
#include "gateway/extproc/messages.h"

namespace kgai::gateway::extproc {

struct StreamOptions {
  size_t max_body_bytes = http::kDefaultMaxBodyBytes;
  // The body modes to assume when Envoy does not say (protocol_config arrives with the first
  // message from Envoy 1.34 on).
  BodyMode request_body_mode =
      ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::FULL_DUPLEX_STREAMED;
  BodyMode response_body_mode =
      ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::FULL_DUPLEX_STREAMED;
  // Answers not yet taken by Envoy above which a stream stops reading.
  size_t write_high_water = 1 << 20;
};

// Counters shared by every stream of a server (for /metrics and tests).
struct StreamCounters {
  std::atomic<int64_t> open{0};
  std::atomic<uint64_t> total{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> immediate_responses{0};
};

// How a stream ends: OK, or an error for breaking the protocol, or cancelled.
struct StreamEnd {
  enum class Kind : uint8_t { kOk, kInvalidArgument, kCancelled } kind = Kind::kOk;
  std::string message;
};

class StreamLogic {
 public:
  // `on_dequeued` receives the flow-control outcome of a queued request, on whatever thread
  // decides it (never inside a call of this object's own); the owner hands it back through
  // dequeued() on its own terms.
  StreamLogic(std::shared_ptr<Director> director, const StreamOptions& options,
              StreamCounters& counters, DirectedRequest::DequeuedCallback on_dequeued);

  // Replaces `on_dequeued` (an owner that can only build it once it exists itself). Before
  // the first message.
  void set_on_dequeued(DirectedRequest::DequeuedCallback on_dequeued) {
    on_dequeued_ = std::move(on_dequeued);
  }

  // One message from Envoy.
  void on_message(const pb::ProcessingRequest& message);
  // Envoy half-closed the stream: nothing more comes.
  void on_half_close();
  // The stream broke or was cancelled: nobody takes the answers any more.
  void on_cancel();
  // The flow-control outcome given to `on_dequeued`.
  void dequeued(FlowOutcome outcome);

  // Answers to send, in order; take them from the front.
  std::deque<pb::ProcessingResponse>& answers() { return answers_; }
  // Bytes of the answers not yet taken (the caller subtracts what it sent: answer_sent()).
  size_t answer_bytes() const { return answer_bytes_; }
  void answer_sent(size_t bytes) { answer_bytes_ -= std::min(answer_bytes_, bytes); }
  // Set once the stream should end (after the answers are out).
  const std::optional<StreamEnd>& end() const { return end_; }

  // The decision's post-pick step (DirectedRequest::sent(): the prefix index learns the
  // prompt's blocks, tens of microseconds for a 200 KB prompt) waits until the decision is on
  // its way: the caller calls flush_sent() once it has handed the answers to gRPC. Any later
  // call of this object's flushes it first, so the step is never lost or late to a later event.
  bool sent_pending() const { return sent_pending_; }
  void flush_sent();

 private:
  enum class Phase : uint8_t { kHeaders, kBody, kDeciding, kDecided, kEnded };

  void on_request_headers(const pb::ProcessingRequest& message);
  void on_request_body(const pb::HttpBody& body);
  void on_request_trailers();
  void on_response_headers(const pb::ProcessingRequest& message);
  void on_response_body(const pb::HttpBody& body);
  void on_response_trailers();

  // The body is complete (or not needed): read, admit, schedule.
  void decide();
  void after_admission();
  void answer_decision();
  void reject(const Rejection& rejection);
  void protocol_error(std::string message);
  // The stream ends before the response did: release what is held and account for it.
  void end_request(int code);
  void queue(pb::ProcessingResponse response);

  std::shared_ptr<Director> director_;
  const StreamOptions& options_;
  StreamCounters& counters_;
  DirectedRequest::DequeuedCallback on_dequeued_;

  std::deque<pb::ProcessingResponse> answers_;
  size_t answer_bytes_ = 0;
  std::optional<StreamEnd> end_;

  Phase phase_ = Phase::kHeaders;
  BodyMode request_mode_;
  BodyMode response_mode_;
  bool observe_only_ = false;  // observability_mode: answers are not expected
  std::vector<http::Header> headers_;
  std::vector<std::string> subset_;
  std::optional<ApiKind> api_;  // an inference route whose body is read
  bool has_body_ = false;       // the request has a body (headers without end_of_stream)
  std::string body_;            // collected until the decision
  bool body_complete_ = false;  // end_of_stream or trailers seen
  bool headers_answered_ = false;
  bool trailers_pending_ = false;  // request trailers came before the decision
  std::optional<DirectedRequest> request_;
  int response_status_ = 0;
  bool response_seen_ = false;
  bool sent_pending_ = false;
};

}  // namespace kgai::gateway::extproc
