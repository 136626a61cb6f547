#include "gateway/extproc/stream_logic.h"

#include <fmt/format.h>

#include "common/log.h"
#include "gateway/openai_error.h"

namespace kgai::gateway::extproc {

namespace {

using Mode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;

std::string_view path_of(const std::vector<http::Header>& headers) {
  std::string_view path = http::find_header(headers, ":path");
  return path.substr(0, path.find('?'));
}

std::optional<ApiKind> inference_api(const std::vector<http::Header>& headers) {
  if (http::find_header(headers, ":method") != "POST") return std::nullopt;
  const std::string_view path = path_of(headers);
  if (path == "/v1/completions") return ApiKind::kCompletions;
  if (path == "/v1/chat/completions") return ApiKind::kChatCompletions;
  return std::nullopt;
}

bool buffered(BodyMode mode) { return mode == Mode::BUFFERED || mode == Mode::BUFFERED_PARTIAL; }

}  // namespace

StreamLogic::StreamLogic(std::shared_ptr<Director> director, const StreamOptions& options,
                         StreamCounters& counters, DirectedRequest::DequeuedCallback on_dequeued)
    : director_(std::move(director)),
      options_(options),
      counters_(counters),
      on_dequeued_(std::move(on_dequeued)),
      request_mode_(options.request_body_mode),
      response_mode_(options.response_body_mode) {}

void StreamLogic::flush_sent() {
  if (!sent_pending_) return;
  sent_pending_ = false;
  if (request_) request_->sent();
}

void StreamLogic::on_message(const pb::ProcessingRequest& message) {
  flush_sent();
  if (phase_ == Phase::kEnded) return;  // answered already: Envoy stops on its own
  if (message.has_protocol_config()) {
    request_mode_ = message.protocol_config().request_body_mode();
    response_mode_ = message.protocol_config().response_body_mode();
  }
  observe_only_ = message.observability_mode();
  switch (message.request_case()) {
    case pb::ProcessingRequest::kRequestHeaders:
      return on_request_headers(message);
    case pb::ProcessingRequest::kRequestBody:
      return on_request_body(message.request_body());
    case pb::ProcessingRequest::kRequestTrailers:
      return on_request_trailers();
    case pb::ProcessingRequest::kResponseHeaders:
      return on_response_headers(message);
    case pb::ProcessingRequest::kResponseBody:
      return on_response_body(message.response_body());
    case pb::ProcessingRequest::kResponseTrailers:
      return on_response_trailers();
    case pb::ProcessingRequest::REQUEST_NOT_SET:
      return protocol_error("a ProcessingRequest without a request phase");
  }
}

void StreamLogic::on_half_close() {
  flush_sent();
  // Routed and the response never shown: Envoy skips the response phases (their modes are
  // SKIP), so the outcome is unknown (0). Anything else ended early: the client went away.
  if (phase_ != Phase::kEnded) end_request(phase_ == Phase::kDecided && !response_seen_ ? 0 : 499);
  if (!end_) end_ = StreamEnd{};
}

void StreamLogic::on_cancel() {
  flush_sent();
  answers_.clear();
  answer_bytes_ = 0;
  if (phase_ != Phase::kEnded) end_request(499);
  if (!end_) end_ = StreamEnd{StreamEnd::Kind::kCancelled, "cancelled"};
}

void StreamLogic::dequeued(FlowOutcome outcome) {
  flush_sent();
  if (phase_ != Phase::kDeciding || !request_) return;
  if (auto rejection = request_->dequeued(outcome)) return reject(*rejection);
  after_admission();
}

void StreamLogic::on_request_headers(const pb::ProcessingRequest& message) {
  if (phase_ != Phase::kHeaders) return protocol_error("a second request_headers message");
  headers_ = read_headers(message.request_headers().headers());
  subset_ = subset_hint(message.metadata_context());
  request_.emplace(director_);
  has_body_ = !message.request_headers().end_of_stream();
  api_ = has_body_ ? inference_api(headers_) : std::nullopt;
  const auto length = http::parse_content_length(http::find_header(headers_, "content-length"));
  if (!api_) {
    // Nothing to read in the body: routed on its headers and the pool's load, at once.
    request_->read_opaque(headers_, length.value_or(0));
    body_complete_ = !has_body_;
    return decide();
  }
  if (length && *length > options_.max_body_bytes) {
    return reject({413, fmt::format("the request body is over the gateway's limit of {} bytes",
                                    options_.max_body_bytes)});
  }
  if (request_mode_ == Mode::FULL_DUPLEX_STREAMED) {
    // The headers' answer waits for the decision; the body comes meanwhile.
  } else if (buffered(request_mode_)) {
    // Envoy waits for this answer before it sends the body; the route is set with the body's.
    pb::ProcessingResponse r;
    r.mutable_request_headers()->mutable_response();
    queue(std::move(r));
    headers_answered_ = true;
  } else {
    return reject(
        {500, fmt::format("kgai's endpoint picker reads the request body to route, which this "
                          "ext_proc filter does not send as needed (request_body_mode {}): set "
                          "request_body_mode to FULL_DUPLEX_STREAMED or BUFFERED",
                          Mode::BodySendMode_Name(request_mode_))});
  }
  // A declared length saves regrowing a large body, but only up to 1 MiB: beyond that the
  // body must arrive before it costs memory (the header alone is anybody's claim).
  if (length) body_.reserve(std::min<uint64_t>(*length, 1 << 20));
  phase_ = Phase::kBody;
}

void StreamLogic::on_request_body(const pb::HttpBody& body) {
  switch (phase_) {
    case Phase::kHeaders:
      return protocol_error("request_body before request_headers");
    case Phase::kEnded:
      return;  // answered already (an immediate response): Envoy stops on its own
    case Phase::kBody:
      if (body_.size() + body.body().size() > options_.max_body_bytes) {
        return reject({413, fmt::format("the request body is over the gateway's limit of {} bytes",
                                        options_.max_body_bytes)});
      }
      body_.append(body.body());
      if (body.end_of_stream()) {
        body_complete_ = true;
        return decide();
      }
      if (buffered(request_mode_)) {
        // BUFFERED_PARTIAL hands over what fit in Envoy's buffer: a JSON body cannot be read
        // in part.
        return reject({413,
                       "the request body did not fit the gateway's ext_proc buffer; "
                       "kgai needs the whole body (request_body_mode BUFFERED with a larger "
                       "buffer, or FULL_DUPLEX_STREAMED)"});
      }
      return;
    case Phase::kDeciding:
    case Phase::kDecided:
      break;
  }
  if (body_complete_) return protocol_error("request_body after the body's end_of_stream");
  if (phase_ == Phase::kDeciding) {
    // An opaque request waiting in flow control: its body waits too (bounded).
    if (body_.size() + body.body().size() > options_.max_body_bytes) {
      return reject({413, fmt::format("the request body is over the gateway's limit of {} bytes",
                                      options_.max_body_bytes)});
    }
    body_.append(body.body());
    body_complete_ = body.end_of_stream();
    return;
  }
  body_complete_ = body.end_of_stream();
  if (request_mode_ == Mode::FULL_DUPLEX_STREAMED) {
    std::vector<pb::ProcessingResponse> out;
    append_streamed_body(out, body.body(), body.end_of_stream(), /*request=*/true);
    for (auto& r : out) queue(std::move(r));
  } else {
    pb::ProcessingResponse r;
    r.mutable_request_body()->mutable_response();
    queue(std::move(r));
  }
}

void StreamLogic::on_request_trailers() {
  switch (phase_) {
    case Phase::kHeaders:
      return protocol_error("request_trailers before request_headers");
    case Phase::kEnded:
      return;
    case Phase::kBody:
      // Trailers end the body as end_of_stream would.
      body_complete_ = true;
      trailers_pending_ = true;
      return decide();
    case Phase::kDeciding:
      body_complete_ = true;
      trailers_pending_ = true;  // answered after the decision
      return;
    case Phase::kDecided: {
      pb::ProcessingResponse r;
      r.mutable_request_trailers();
      return queue(std::move(r));
    }
  }
}

void StreamLogic::decide() {
  phase_ = Phase::kDeciding;
  if (api_) {
    if (auto rejection = request_->read(*api_, headers_, std::move(body_))) {
      return reject(*rejection);
    }
    body_.clear();
  }
  request_->restrict_to(subset_);
  Rejection rejection;
  const auto admission = request_->admit(on_dequeued_, &rejection);
  switch (admission) {
    case DirectedRequest::Admission::kNow:
      return after_admission();
    case DirectedRequest::Admission::kRejected:
      return reject(rejection);
    case DirectedRequest::Admission::kQueued:
      return;
  }
}

void StreamLogic::after_admission() {
  if (auto rejection = request_->schedule()) return reject(*rejection);
  answer_decision();
}

void StreamLogic::answer_decision() {
  request_->next_attempt();  // the primary holds the request's slot
  std::string destination;
  for (const EndpointState* e :
       request_->ranked(static_cast<size_t>(director_->options().max_attempts))) {
    if (!destination.empty()) destination += ',';
    destination += e->endpoint->address;
  }
  const std::string& body = api_ ? *request_->send_body() : body_;
  if (!headers_answered_) {
    pb::ProcessingResponse r;
    set_destination(&r, r.mutable_request_headers()->mutable_response(), destination);
    queue(std::move(r));
    headers_answered_ = true;
    // The body collected so far goes back, rewritten where a rewrite applies (full duplex:
    // Envoy forwards only what comes back); chunks still to come are echoed as they arrive.
    if (request_mode_ == Mode::FULL_DUPLEX_STREAMED &&
        (api_ || (has_body_ && (!body.empty() || body_complete_)))) {
      std::vector<pb::ProcessingResponse> out;
      append_streamed_body(out, body, body_complete_ && !trailers_pending_, /*request=*/true);
      for (auto& chunk : out) queue(std::move(chunk));
    }
  } else {
    // BUFFERED: the headers were answered before the body came; the route travels with the
    // body's answer, which may still change headers.
    pb::ProcessingResponse r;
    pb::CommonResponse* common = r.mutable_request_body()->mutable_response();
    set_destination(&r, common, destination);
    if (api_ && request_->info().target_model != request_->info().model) {
      common->mutable_body_mutation()->set_body(body);
      set_header(common->mutable_header_mutation(), "content-length", std::to_string(body.size()));
    }
    queue(std::move(r));
  }
  if (trailers_pending_) {
    pb::ProcessingResponse r;
    r.mutable_request_trailers();
    queue(std::move(r));
    trailers_pending_ = false;
  }
  if (!api_) body_.clear();
  phase_ = Phase::kDecided;
  sent_pending_ = true;  // flush_sent(), once the answers are on their way
}

void StreamLogic::on_response_headers(const pb::ProcessingRequest& message) {
  if (phase_ == Phase::kEnded) return;
  if (phase_ != Phase::kDecided) {
    return protocol_error("response_headers before the request was routed");
  }
  if (response_seen_) return protocol_error("a second response_headers message");
  const auto headers = read_headers(message.response_headers().headers());
  response_status_ = status_of(headers);
  response_seen_ = true;
  if (auto served = served_endpoint(message.metadata_context())) request_->served_by(*served);
  request_->response_started(response_status_, http::find_header(headers, "content-type"));
  pb::ProcessingResponse r;
  r.mutable_response_headers()->mutable_response();
  queue(std::move(r));
  if (message.response_headers().end_of_stream()) request_->finish(response_status_);
}

void StreamLogic::on_response_body(const pb::HttpBody& body) {
  if (phase_ == Phase::kEnded) return;
  if (!response_seen_) return protocol_error("response_body before response_headers");
  request_->response_body(body.body());
  if (response_mode_ == Mode::FULL_DUPLEX_STREAMED) {
    std::vector<pb::ProcessingResponse> out;
    append_streamed_body(out, body.body(), body.end_of_stream(), /*request=*/false);
    for (auto& r : out) queue(std::move(r));
  } else {
    pb::ProcessingResponse r;
    r.mutable_response_body()->mutable_response();
    queue(std::move(r));
  }
  if (body.end_of_stream()) request_->finish(response_status_);
}

void StreamLogic::on_response_trailers() {
  if (phase_ == Phase::kEnded) return;
  if (!response_seen_) return protocol_error("response_trailers before response_headers");
  pb::ProcessingResponse r;
  r.mutable_response_trailers();
  queue(std::move(r));
  request_->finish(response_status_);
}

void StreamLogic::reject(const Rejection& rejection) {
  counters_.immediate_responses.fetch_add(1, std::memory_order_relaxed);
  queue(immediate_response(openai_error(rejection.status, rejection.message)));
  if (request_) {
    request_->abandon();
    request_->finish(rejection.status);
  }
  phase_ = Phase::kEnded;
  // Envoy ends the HTTP request with this answer; the stream ends once it is out.
  if (!end_) end_ = StreamEnd{};
}

void StreamLogic::protocol_error(std::string message) {
  counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  log::debug("ext_proc: stream ended: {}", message);
  end_request(499);
  answers_.clear();
  answer_bytes_ = 0;
  if (!end_) end_ = StreamEnd{StreamEnd::Kind::kInvalidArgument, std::move(message)};
}

void StreamLogic::end_request(int code) {
  if (request_ && !request_->finished()) {
    request_->abandon();
    request_->finish(code);
  }
  phase_ = Phase::kEnded;
}

void StreamLogic::queue(pb::ProcessingResponse response) {
  if (observe_only_) return;  // Envoy expects no answers in observability mode
  answer_bytes_ += response.ByteSizeLong();
  answers_.push_back(std::move(response));
}

}  // namespace kgai::gateway::extproc
