#include "envoy_double/stream_state.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <utility>

#include <fmt/core.h>

namespace kgai::envoy_double::internal {
namespace {

using Clock = std::chrono::steady_clock;

// The header status and the client-facing headers (no pseudo-headers) of a response.
int status_of(const std::vector<http::Header>& headers) {
  const std::string_view value = http::find_header(headers, ":status");
  int status = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return 0;
    status = status * 10 + (c - '0');
  }
  return status;
}

std::vector<http::Header> without_pseudo(const std::vector<http::Header>& headers) {
  std::vector<http::Header> out;
  for (const auto& header : headers) {
    if (!header.name.starts_with(':')) out.push_back(header);
  }
  return out;
}

}  // namespace

StreamState::StreamState(const ExchangeOptions& options, const HttpRequest& request,
                         std::vector<http::Header> request_headers, Exchange& exchange,
                         std::function<void()> cancel)
    : options_(options),
      full_duplex_(options.mode == BodyMode::kFullDuplexStreamed),
      original_body_(request.body),
      exchange_(exchange),
      cancel_(std::move(cancel)),
      request_headers_(std::move(request_headers)),
      request_body_expected_(!request.body.empty()) {
  // Buffered, a body answer without mutation passes the original on; full duplex, Envoy
  // forwards only what the processor streams back.
  if (!full_duplex_) exchange_.forwarded_body = request.body;
}

void StreamState::on_response(const ext_proc::ProcessingResponse& response) {
  std::vector<std::function<bool()>> deliveries;
  {
    std::lock_guard lock(mu_);
    if (response.has_dynamic_metadata()) merge_metadata(response.dynamic_metadata());
    switch (response.response_case()) {
      case ext_proc::ProcessingResponse::kRequestHeaders:
        on_request_headers(response.request_headers().response());
        break;
      case ext_proc::ProcessingResponse::kRequestBody:
        on_request_body(response.request_body().response());
        break;
      case ext_proc::ProcessingResponse::kResponseHeaders:
        on_response_headers(response.response_headers().response());
        break;
      case ext_proc::ProcessingResponse::kResponseBody:
        on_response_body(response.response_body().response());
        break;
      case ext_proc::ProcessingResponse::kRequestTrailers:
      case ext_proc::ProcessingResponse::kResponseTrailers:
        violation("a trailers answer, but Envoy sent no trailers");
        break;
      case ext_proc::ProcessingResponse::kImmediateResponse:
        on_immediate(response.immediate_response());
        break;
      default:
        violation("an answer with no known response member (a field this proto lacks?)");
        break;
    }
    deliveries.swap(deliveries_);
  }
  changed_.notify_all();
  // Outside the lock: a client callback may block (a slow client) without stalling waiters.
  for (auto& deliver : deliveries) {
    if (deliver()) continue;
    {
      std::lock_guard lock(mu_);
      client_gone_ = true;
    }
    changed_.notify_all();
    cancel_();
    break;
  }
}

void StreamState::on_stream_end() {
  {
    std::lock_guard lock(mu_);
    stream_ended_ = true;
  }
  changed_.notify_all();
}

void StreamState::on_request_headers(const ext_proc::CommonResponse& common) {
  if (headers_answered_) {
    violation("a second request_headers answer");
    return;
  }
  headers_answered_ = true;
  exchange_.headers_response = true;
  exchange_.times.headers_response_received = Clock::now();
  exchange_.clear_route_cache = common.clear_route_cache();
  for (const auto& option : common.header_mutation().set_headers()) {
    exchange_.set_headers.push_back({option.header().key(), header_value(option.header())});
  }
  for (const auto& name : common.header_mutation().remove_headers()) {
    exchange_.removed_headers.push_back(name);
  }
  apply_mutation(common.header_mutation(), request_headers_);
  exchange_.destination = std::string(http::find_header(request_headers_, kDestinationHeader));
  exchange_.destinations = split_endpoints(exchange_.destination);

  if (common.status() == ext_proc::CommonResponse::CONTINUE_AND_REPLACE) {
    // The processor replaces the body (or keeps it) and Envoy sends it nothing more.
    exchange_.continue_and_replace = true;
    replaced_ = true;
    const auto& mutation = common.body_mutation();
    if (mutation.mutation_case() == ext_proc::BodyMutation::kBody) {
      exchange_.forwarded_body = mutation.body();
    } else if (mutation.mutation_case() == ext_proc::BodyMutation::kClearBody) {
      exchange_.forwarded_body.clear();
    } else {
      exchange_.forwarded_body = original_body_;
    }
    request_done_ = true;
    exchange_.times.request_body_done = Clock::now();
    return;
  }
  if (common.has_body_mutation()) {
    violation("a body_mutation on the request_headers answer without CONTINUE_AND_REPLACE");
  }
  if (!request_body_expected_) request_done_ = true;
}

void StreamState::on_request_body(const ext_proc::CommonResponse& common) {
  if (!headers_answered_) violation("a request_body answer before the request_headers answer");
  if (!request_body_expected_) {
    violation("a request_body answer, but the request has no body");
    return;
  }
  if (request_done_) {
    violation("a request_body answer after the body was complete");
    return;
  }
  const auto& mutation = common.body_mutation();
  if (full_duplex_) {
    if (mutation.mutation_case() != ext_proc::BodyMutation::kStreamedResponse) {
      violation("a FULL_DUPLEX_STREAMED request_body answer without streamed_response");
      return;
    }
    const auto& chunk = mutation.streamed_response();
    if (chunk.body().size() > kMaxStreamedChunk) {
      violation(fmt::format("a streamed_response chunk of {} bytes (at most {})",
                            chunk.body().size(), kMaxStreamedChunk));
    }
    ++exchange_.streamed_chunks_received;
    exchange_.largest_streamed_chunk =
        std::max(exchange_.largest_streamed_chunk, chunk.body().size());
    exchange_.forwarded_body += chunk.body();
    if (chunk.end_of_stream()) {
      request_done_ = true;
      exchange_.times.request_body_done = Clock::now();
    }
    return;
  }
  switch (mutation.mutation_case()) {
    case ext_proc::BodyMutation::kBody:
      exchange_.forwarded_body = mutation.body();
      break;
    case ext_proc::BodyMutation::kClearBody:
      exchange_.forwarded_body.clear();
      break;
    case ext_proc::BodyMutation::kStreamedResponse:
      violation("a streamed_response in BUFFERED mode");
      break;
    default:
      break;
  }
  // Buffered, a body answer may still change the headers (and the route).
  apply_mutation(common.header_mutation(), request_headers_);
  exchange_.destination = std::string(http::find_header(request_headers_, kDestinationHeader));
  exchange_.destinations = split_endpoints(exchange_.destination);
  exchange_.clear_route_cache = exchange_.clear_route_cache || common.clear_route_cache();
  request_done_ = true;
  exchange_.times.request_body_done = Clock::now();
}

void StreamState::on_response_headers(const ext_proc::CommonResponse& common) {
  if (!response_phase_) {
    violation("a response_headers answer before Envoy sent response headers");
    return;
  }
  if (response_headers_answered_) {
    violation("a second response_headers answer");
    return;
  }
  response_headers_answered_ = true;
  apply_mutation(common.header_mutation(), exchange_.response_headers);
  if (common.status() == ext_proc::CommonResponse::CONTINUE_AND_REPLACE) {
    const auto& mutation = common.body_mutation();
    deliver_head_locked();
    deliver_body_locked(mutation.mutation_case() == ext_proc::BodyMutation::kBody ? mutation.body()
                                                                                  : std::string());
    response_done_ = true;
    return;
  }
  if (full_duplex_ || !response_body_expected_) deliver_head_locked();
  if (!response_body_expected_) response_done_ = true;
}

void StreamState::on_response_body(const ext_proc::CommonResponse& common) {
  if (!response_phase_) {
    violation("a response_body answer before Envoy sent the response");
    return;
  }
  if (!response_headers_answered_) {
    violation("a response_body answer before the response_headers answer");
  }
  if (!response_body_expected_ || response_done_) {
    violation("a response_body answer after the response body was complete");
    return;
  }
  const auto& mutation = common.body_mutation();
  if (full_duplex_) {
    if (mutation.mutation_case() != ext_proc::BodyMutation::kStreamedResponse) {
      violation("a FULL_DUPLEX_STREAMED response_body answer without streamed_response");
      return;
    }
    const auto& chunk = mutation.streamed_response();
    if (chunk.body().size() > kMaxStreamedChunk) {
      violation(fmt::format("a streamed_response chunk of {} bytes (at most {})",
                            chunk.body().size(), kMaxStreamedChunk));
    }
    ++exchange_.response_chunks;
    if (!head_delivered_) deliver_head_locked();
    deliver_body_locked(chunk.body());
    if (chunk.end_of_stream()) response_done_ = true;
    return;
  }
  std::string body = upstream_body_;
  if (mutation.mutation_case() == ext_proc::BodyMutation::kBody) body = mutation.body();
  if (mutation.mutation_case() == ext_proc::BodyMutation::kClearBody) body.clear();
  if (mutation.mutation_case() == ext_proc::BodyMutation::kStreamedResponse) {
    violation("a streamed_response in BUFFERED mode");
  }
  apply_mutation(common.header_mutation(), exchange_.response_headers);
  ++exchange_.response_chunks;
  deliver_head_locked();
  deliver_body_locked(std::move(body));
  response_done_ = true;
}

void StreamState::on_immediate(const ext_proc::ImmediateResponse& immediate) {
  if (immediate_) {
    violation("a second immediate_response");
    return;
  }
  immediate_ = true;
  ImmediateReply reply;
  reply.status = static_cast<int>(immediate.status().code());
  apply_mutation(immediate.headers(), reply.headers);
  reply.body = immediate.body();
  reply.details = immediate.details();
  if (immediate.has_grpc_status())
    reply.grpc_status = static_cast<int>(immediate.grpc_status().status());
  exchange_.immediate = std::move(reply);
}

void StreamState::merge_metadata(const google::protobuf::Struct& metadata) {
  // Later answers replace a namespace the earlier ones set, as Envoy's dynamic metadata does.
  for (const auto& [name, value] : metadata.fields()) {
    (*dynamic_metadata_.mutable_fields())[name] = value;
  }
}

void StreamState::deliver_head_locked() {
  head_delivered_ = true;
  const int status = status_of(exchange_.response_headers);
  exchange_.response_status = status;
  std::vector<http::Header> headers = without_pseudo(exchange_.response_headers);
  deliveries_.push_back([this, status, headers = std::move(headers)] {
    if (options_.on_response_head) options_.on_response_head(status, headers);
    return true;
  });
}

void StreamState::deliver_body_locked(std::string chunk) {
  if (chunk.empty()) return;
  if (exchange_.response_body.empty()) exchange_.times.first_response_body = Clock::now();
  exchange_.response_body += chunk;
  deliveries_.push_back([this, chunk = std::move(chunk)] {
    return options_.on_response_body ? options_.on_response_body(chunk) : true;
  });
}

void StreamState::begin_response_phase(std::vector<http::Header> headers, bool body_expected) {
  std::lock_guard lock(mu_);
  response_phase_ = true;
  response_body_expected_ = body_expected;
  exchange_.response_headers = std::move(headers);
}

void StreamState::set_upstream_body(std::string body) {
  std::lock_guard lock(mu_);
  upstream_body_ = std::move(body);
}

bool StreamState::wait(SteadyTime deadline, const std::function<bool()>& milestone) {
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return milestone() || over_locked(); });
  return milestone();
}

bool StreamState::wait_headers_answer(SteadyTime deadline) {
  return wait(deadline, [this] { return headers_answered_; });
}

bool StreamState::wait_request_done(SteadyTime deadline) {
  return wait(deadline, [this] { return headers_answered_ && request_done_; });
}

bool StreamState::wait_response_headers_answer(SteadyTime deadline) {
  return wait(deadline, [this] { return response_headers_answered_; });
}

bool StreamState::wait_response_done(SteadyTime deadline) {
  return wait(deadline, [this] { return response_done_; });
}

bool StreamState::wait_stream_end(SteadyTime deadline) {
  std::unique_lock lock(mu_);
  return changed_.wait_until(lock, deadline, [this] { return stream_ended_; });
}

bool StreamState::stopped() const {
  std::lock_guard lock(mu_);
  return over_locked();
}

bool StreamState::body_replaced() const {
  std::lock_guard lock(mu_);
  return replaced_;
}

std::vector<http::Header> StreamState::request_headers() const {
  std::lock_guard lock(mu_);
  return request_headers_;
}

std::string StreamState::forwarded_body() const {
  std::lock_guard lock(mu_);
  return exchange_.forwarded_body;
}

void StreamState::violation(std::string what) { exchange_.violations.push_back(std::move(what)); }

void StreamState::finish() {
  std::lock_guard lock(mu_);
  const bool normal = options_.fault == Fault::kNone || options_.fault == Fault::kUnknownFields;
  if (normal && exchange_.grpc_code == 0 && !immediate_ && !client_gone_) {
    if (headers_answered_ && request_body_expected_ && !request_done_) {
      violation("the stream ended before the end of the request body (no end_of_stream)");
    }
    if (response_headers_answered_ && response_body_expected_ && !response_done_) {
      violation("the stream ended before the end of the response body (no end_of_stream)");
    }
  }
  exchange_.upstream_request_headers = request_headers_;
  if (!dynamic_metadata_.fields().empty()) {
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(dynamic_metadata_,
                                                      &exchange_.dynamic_metadata_json, print);
    if (auto lb = dynamic_metadata_.fields().find(std::string(kLbNamespace));
        lb != dynamic_metadata_.fields().end()) {
      const auto& fields = lb->second.struct_value().fields();
      if (auto it = fields.find(std::string(kDestinationHeader)); it != fields.end()) {
        exchange_.lb_destination = it->second.string_value();
      }
    }
  }
}

}  // namespace kgai::envoy_double::internal
