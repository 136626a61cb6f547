#include "gateway/extproc/process_stream.h"

#include <charconv>

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

std::optional<uint64_t> content_length(const std::vector<http::Header>& headers) {
  const std::string_view text = http::find_header(headers, "content-length");
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

bool buffered(BodyMode mode) { return mode == Mode::BUFFERED || mode == Mode::BUFFERED_PARTIAL; }

}  // namespace

ProcessStream* ProcessStream::start(std::shared_ptr<StreamContext> context) {
  auto stream = std::make_shared<ProcessStream>(std::move(context));
  stream->self_ = stream;
  stream->kick();
  return stream.get();
}

ProcessStream::ProcessStream(std::shared_ptr<StreamContext> context)
    : context_(std::move(context)),
      request_mode_(context_->options.request_body_mode),
      response_mode_(context_->options.response_body_mode) {
  context_->counters.open.fetch_add(1, std::memory_order_relaxed);
  context_->counters.total.fetch_add(1, std::memory_order_relaxed);
}

ProcessStream::~ProcessStream() { context_->counters.open.fetch_sub(1, std::memory_order_relaxed); }

void ProcessStream::OnReadDone(bool ok) {
  {
    std::lock_guard lock(mutex_);
    reading_ = false;
    if (!ok) {
      // Envoy half-closed (or the stream broke): nothing more will come.
      read_closed_ = true;
      if (phase_ != Phase::kEnded) end_request(response_seen_ ? 499 : 0);
      if (!finish_status_) finish_status_ = grpc::Status::OK;
    } else if (phase_ != Phase::kEnded) {
      if (in_.has_protocol_config()) {
        request_mode_ = in_.protocol_config().request_body_mode();
        response_mode_ = in_.protocol_config().response_body_mode();
      }
      observe_only_ = in_.observability_mode();
      switch (in_.request_case()) {
        case pb::ProcessingRequest::kRequestHeaders:
          on_request_headers(in_);
          break;
        case pb::ProcessingRequest::kRequestBody:
          on_request_body(in_.request_body());
          break;
        case pb::ProcessingRequest::kRequestTrailers:
          on_request_trailers();
          break;
        case pb::ProcessingRequest::kResponseHeaders:
          on_response_headers(in_);
          break;
        case pb::ProcessingRequest::kResponseBody:
          on_response_body(in_.response_body());
          break;
        case pb::ProcessingRequest::kResponseTrailers:
          on_response_trailers();
          break;
        case pb::ProcessingRequest::REQUEST_NOT_SET:
          protocol_error("a ProcessingRequest without a request phase");
          break;
      }
    }
    in_.Clear();
  }
  kick();
}

void ProcessStream::OnWriteDone(bool ok) {
  {
    std::lock_guard lock(mutex_);
    writing_ = false;
    queued_bytes_ -= std::min(queued_bytes_, out_bytes_);
    if (!ok) {
      // The stream broke: nobody reads the answers any more.
      read_closed_ = true;
      queue_.clear();
      queued_bytes_ = 0;
      if (phase_ != Phase::kEnded) end_request(499);
      if (!finish_status_) finish_status_ = grpc::Status::CANCELLED;
    }
  }
  kick();
}

void ProcessStream::OnCancel() {
  {
    std::lock_guard lock(mutex_);
    read_closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    if (phase_ != Phase::kEnded) end_request(499);
    if (!finish_status_) finish_status_ = grpc::Status::CANCELLED;
  }
  kick();
}

void ProcessStream::OnDone() {
  std::shared_ptr<ProcessStream> keep;
  {
    std::lock_guard lock(mutex_);
    done_ = true;
    if (phase_ != Phase::kEnded) end_request(499);
    request_.reset();
    keep = std::move(self_);
  }
  // `keep` lets go of this stream on return (flow-control callbacks hold only weak pointers).
}

void ProcessStream::on_request_headers(const pb::ProcessingRequest& message) {
  if (phase_ != Phase::kHeaders) return protocol_error("a second request_headers message");
  headers_ = read_headers(message.request_headers().headers());
  subset_ = subset_hint(message.metadata_context());
  request_.emplace(context_->director);
  has_body_ = !message.request_headers().end_of_stream();
  api_ = has_body_ ? inference_api(headers_) : std::nullopt;
  const auto length = content_length(headers_);
  if (!api_) {
    // Nothing to read in the body: routed on its headers and the pool's load, at once.
    request_->read_opaque(headers_, length.value_or(0));
    body_complete_ = !has_body_;
    return decide();
  }
  if (length && *length > context_->options.max_body_bytes) {
    return reject({413, fmt::format("the request body is over the gateway's limit of {} bytes",
                                    context_->options.max_body_bytes)});
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
  if (length) body_.reserve(*length);
  phase_ = Phase::kBody;
}

void ProcessStream::on_request_body(const pb::HttpBody& body) {
  switch (phase_) {
    case Phase::kHeaders:
      return protocol_error("request_body before request_headers");
    case Phase::kEnded:
      return;  // answered already (an immediate response): Envoy stops on its own
    case Phase::kBody:
      if (body_.size() + body.body().size() > context_->options.max_body_bytes) {
        return reject({413, fmt::format("the request body is over the gateway's limit of {} bytes",
                                        context_->options.max_body_bytes)});
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
    if (body_.size() + body.body().size() > context_->options.max_body_bytes) {
      return reject({413, fmt::format("the request body is over the gateway's limit of {} bytes",
                                      context_->options.max_body_bytes)});
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

void ProcessStream::on_request_trailers() {
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

void ProcessStream::decide() {
  phase_ = Phase::kDeciding;
  if (api_) {
    if (auto rejection = request_->read(*api_, headers_, std::move(body_))) {
      return reject(*rejection);
    }
    body_.clear();
  }
  request_->restrict_to(subset_);
  std::weak_ptr<ProcessStream> weak = weak_from_this();
  std::weak_ptr<StreamContext> context = context_;
  Rejection rejection;
  const auto admission = request_->admit(
      [weak, context](FlowOutcome outcome) {
        // kCancelled comes from this stream's own abandon(), under its lock: nothing to do.
        if (outcome == FlowOutcome::kCancelled) return;
        auto c = context.lock();
        if (!c) return;
        c->deferred.post([weak, outcome] {
          auto self = weak.lock();
          if (!self) return;
          {
            std::lock_guard lock(self->mutex_);
            if (self->done_ || self->phase_ != Phase::kDeciding) return;
            if (auto r = self->request_->dequeued(outcome)) {
              self->reject(*r);
            } else {
              self->after_admission();
            }
          }
          self->kick();
        });
      },
      &rejection);
  switch (admission) {
    case DirectedRequest::Admission::kNow:
      return after_admission();
    case DirectedRequest::Admission::kRejected:
      return reject(rejection);
    case DirectedRequest::Admission::kQueued:
      return;
  }
}

void ProcessStream::after_admission() {
  if (auto rejection = request_->schedule()) return reject(*rejection);
  answer_decision();
}

void ProcessStream::answer_decision() {
  request_->next_attempt();  // the primary holds the request's slot
  std::string destination;
  for (const EndpointState* e :
       request_->ranked(static_cast<size_t>(context_->director->options().max_attempts))) {
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
  request_->sent();
}

void ProcessStream::on_response_headers(const pb::ProcessingRequest& message) {
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

void ProcessStream::on_response_body(const pb::HttpBody& body) {
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

void ProcessStream::on_response_trailers() {
  if (phase_ == Phase::kEnded) return;
  if (!response_seen_) return protocol_error("response_trailers before response_headers");
  pb::ProcessingResponse r;
  r.mutable_response_trailers();
  queue(std::move(r));
  request_->finish(response_status_);
}

void ProcessStream::reject(const Rejection& rejection) {
  context_->counters.immediate_responses.fetch_add(1, std::memory_order_relaxed);
  queue(immediate_response(openai_error(rejection.status, rejection.message)));
  if (request_) {
    request_->abandon();
    request_->finish(rejection.status);
  }
  phase_ = Phase::kEnded;
  // Envoy ends the HTTP request with this answer; the stream ends once it is out.
  if (!finish_status_) finish_status_ = grpc::Status::OK;
}

void ProcessStream::protocol_error(std::string message) {
  context_->counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  log::debug("ext_proc: stream ended: {}", message);
  end_request(499);
  queue_.clear();
  queued_bytes_ = 0;
  if (!finish_status_) {
    finish_status_ = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
  }
}

void ProcessStream::end_request(int code) {
  if (request_ && !request_->finished()) {
    request_->abandon();
    request_->finish(code);
  }
  phase_ = Phase::kEnded;
}

void ProcessStream::queue(pb::ProcessingResponse response) {
  if (observe_only_) return;  // Envoy expects no answers in observability mode
  queued_bytes_ += response.ByteSizeLong();
  queue_.push_back(std::move(response));
}

void ProcessStream::kick() {
  bool write = false, read = false, finish = false;
  grpc::Status status;
  {
    std::lock_guard lock(mutex_);
    if (finish_called_) return;
    if (!writing_ && !queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      out_bytes_ = out_.ByteSizeLong();
      writing_ = write = true;
    }
    // Reading stops while Envoy is slow to take the answers (bounded memory per stream).
    if (!reading_ && !read_closed_ && !finish_status_ &&
        queued_bytes_ < context_->options.write_high_water) {
      reading_ = read = true;
    }
    if (!writing_ && queue_.empty() && finish_status_) {
      finish_called_ = finish = true;
      status = *finish_status_;
    }
  }
  if (write) StartWrite(&out_);
  if (read) StartRead(&in_);
  if (finish) Finish(status);
}

}  // namespace kgai::gateway::extproc
