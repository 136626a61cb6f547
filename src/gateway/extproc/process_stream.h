// One Envoy ext_proc stream (one HTTP request through Envoy): the gRPC reactor that reads the
// request's phases, drives a DirectedRequest, and answers each phase in order.
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
// A stream that breaks the protocol (a body before headers, two header messages) ends with
// INVALID_ARGUMENT; one that ends early (Envoy reset, client gone) releases what it held.
// Memory per stream is bounded: the body while it is collected (max_body_bytes), and the
// answers not yet taken by Envoy (reading stops above a high-water mark).
//
// Private to the ext_proc data plane.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/director.h"
#include "gateway/extproc/messages.h"
#include "gateway/extproc/work_queue.h"

namespace kgai::gateway::extproc {

struct StreamOptions {
  size_t max_body_bytes = http::kDefaultMaxBodyBytes;
  // The body modes to assume when Envoy does not say (protocol_config arrives with the first
  // message from Envoy 1.33 on).
  BodyMode request_body_mode =
      ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::FULL_DUPLEX_STREAMED;
  BodyMode response_body_mode =
      ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::FULL_DUPLEX_STREAMED;
  // Answers not yet taken by Envoy above which the stream stops reading.
  size_t write_high_water = 1 << 20;
};

// Counters shared by every stream of a server (for /metrics and tests).
struct StreamCounters {
  std::atomic<int64_t> open{0};
  std::atomic<uint64_t> total{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> immediate_responses{0};
};

// What every stream of a server shares.
struct StreamContext {
  std::shared_ptr<Director> director;
  StreamOptions options;
  StreamCounters counters;
  // Flow-control outcomes come back here: they may fire on any thread, including one that
  // holds another stream's lock, so a stream never takes its own lock inside them.
  WorkQueue deferred;
};

class ProcessStream final
    : public grpc::ServerBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse>,
      public std::enable_shared_from_this<ProcessStream> {
 public:
  // Creates a stream that keeps itself alive until gRPC is done with it (OnDone).
  static ProcessStream* start(std::shared_ptr<StreamContext> context);

  explicit ProcessStream(std::shared_ptr<StreamContext> context);
  ~ProcessStream() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  enum class Phase : uint8_t { kHeaders, kBody, kDeciding, kDecided, kEnded };

  // Each handles one message (lock held) and queues answers.
  void on_request_headers(const pb::ProcessingRequest& message);
  void on_request_body(const pb::HttpBody& body);
  void on_request_trailers();
  void on_response_headers(const pb::ProcessingRequest& message);
  void on_response_body(const pb::HttpBody& body);
  void on_response_trailers();

  // The body is complete (or not needed): read, admit, schedule (lock held).
  void decide();
  void after_admission();
  void answer_decision();
  void reject(const Rejection& rejection);
  void protocol_error(std::string message);
  // The stream ends before the response did: release what is held and account for it.
  void end_request(int code);

  void queue(pb::ProcessingResponse response);
  // Starts the next write, read or the Finish the state calls for (lock not held).
  void kick();

  std::shared_ptr<StreamContext> context_;
  std::shared_ptr<ProcessStream> self_;  // until OnDone

  std::mutex mutex_;
  pb::ProcessingRequest in_;
  pb::ProcessingResponse out_;  // the write in flight
  size_t out_bytes_ = 0;
  std::deque<pb::ProcessingResponse> queue_;
  size_t queued_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool read_closed_ = false;  // Envoy half-closed, or the stream broke
  bool finish_called_ = false;
  bool done_ = false;
  std::optional<grpc::Status> finish_status_;  // set: finish once the answers are out

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
};

}  // namespace kgai::gateway::extproc
