#include "envoy_double/envoy_double.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <thread>
#include <utility>

#include <fmt/core.h>

#include "common/ascii.h"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "envoy_double/messages.h"
#include "envoy_double/stream_state.h"
#include "envoy_double/upstream.h"

namespace kgai::envoy_double {

using internal::StreamState;
namespace ext_proc = envoy::service::ext_proc::v3;
using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<ext_proc::ProcessingRequest, ext_proc::ProcessingResponse>;

std::chrono::nanoseconds Exchange::decision_latency() const {
  if (times.headers_response_received == SteadyTime{}) return {};
  return times.headers_response_received - times.request_headers_sent;
}

std::string Exchange::summary() const {
  std::string out = fmt::format("grpc {} \"{}\"", grpc_code, grpc_message);
  for (const auto& v : violations) out += fmt::format("; violation: {}", v);
  if (!error.empty()) out += fmt::format("; error: {}", error);
  return out;
}

struct EnvoyDouble::Impl {
  std::vector<std::unique_ptr<ext_proc::ExternalProcessor::Stub>> stubs;
  std::atomic<std::size_t> next{0};

  ext_proc::ExternalProcessor::Stub& stub() {
    return *stubs[next.fetch_add(1, std::memory_order_relaxed) % stubs.size()];
  }
};

EnvoyDouble::EnvoyDouble(std::string ext_proc_target, EnvoyDoubleOptions options)
    : impl_(std::make_unique<Impl>()) {
  const int channels = std::max(1, options.channels);
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel, and no shared subchannel pool: one HTTP/2 connection
    // each, as Envoy has one per worker thread.
    args.SetInt("kgai.envoy_double.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Buffered bodies travel in one message; gRPC's default 4 MiB cap would refuse big ones.
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    auto channel =
        grpc::CreateCustomChannel(ext_proc_target, grpc::InsecureChannelCredentials(), args);
    impl_->stubs.push_back(ext_proc::ExternalProcessor::NewStub(channel));
  }
}

EnvoyDouble::~EnvoyDouble() = default;

namespace {

bool hop_by_hop(std::string_view name) {
  return ascii_iequals(name, "connection") || ascii_iequals(name, "keep-alive") ||
         ascii_iequals(name, "transfer-encoding") || ascii_iequals(name, "upgrade") ||
         ascii_iequals(name, "proxy-connection");
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// The HTTP/1.1 request Envoy sends upstream from the (mutated) ext_proc view of the request.
http::Request upstream_request(const std::vector<http::Header>& headers, std::string body) {
  http::Request out;
  out.method = std::string(http::find_header(headers, ":method"));
  out.target = std::string(http::find_header(headers, ":path"));
  out.headers.push_back({"host", std::string(http::find_header(headers, ":authority"))});
  for (const auto& header : headers) {
    if (header.name.starts_with(':') || ascii_iequals(header.name, "host") ||
        ascii_iequals(header.name, "content-length") || hop_by_hop(header.name)) {
      continue;
    }
    out.headers.push_back(header);
  }
  out.body = std::move(body);
  return out;
}

uint64_t content_length(const http::Response& head) {
  const std::string_view value = head.header("content-length");
  if (value.empty()) return UINT64_MAX;
  uint64_t length = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
  return error == std::errc() && end == value.data() + value.size() ? length : UINT64_MAX;
}

// One exchange: this object writes Envoy's messages on the calling thread while a reader
// thread feeds the processor's answers into `state_`.
class Run {
 public:
  Run(const HttpRequest& request, const ExchangeOptions& options, Exchange& exchange,
      ext_proc::ExternalProcessor::Stub& stub)
      : request_(request),
        options_(options),
        exchange_(exchange),
        deadline_(exchange.times.start + options.timeout),
        sent_headers_(internal::request_header_list(request)),
        state_(options, request, sent_headers_, exchange, [this] { context_.TryCancel(); }) {
    context_.set_deadline(std::chrono::system_clock::now() + options.timeout);
    stream_ = stub.Process(&context_);
    reader_ = std::thread([this] {
      ext_proc::ProcessingResponse response;
      while (stream_->Read(&response)) {
        state_.on_response(response);
        response.Clear();
      }
      state_.on_stream_end();
    });
  }

  void exchange() {
    if (options_.fault != Fault::kNone && options_.fault != Fault::kUnknownFields) {
      send_fault();
    } else {
      if (options_.mode == BodyMode::kFullDuplexStreamed) {
        full_duplex_request();
      } else {
        buffered_request();
      }
      if (options_.forward && !state_.stopped()) forward();
    }
    close();
  }

 private:
  bool write(ext_proc::ProcessingRequest message) {
    if (!first_sent_) {
      if (options_.send_protocol_config) internal::add_protocol_config(options_.mode, message);
      first_sent_ = true;
    }
    if (options_.fault == Fault::kUnknownFields) internal::add_unknown_fields(message);
    if (!writable_) return false;
    writable_ = stream_->Write(message);
    if (writable_) ++exchange_.request_messages_sent;
    return writable_;
  }

  bool send_request_headers(bool end_of_stream) {
    auto message = internal::headers_message(sent_headers_, end_of_stream,
                                             options_.raw_header_values, /*request=*/true);
    if (!options_.subset_hint.empty()) {
      internal::add_metadata(message, "envoy.lb.subset_hint",
                             "x-gateway-destination-endpoint-subset", options_.subset_hint,
                             /*as_list=*/true);
    }
    // Stamped as the message goes to gRPC: an answer can come before Write() returns.
    exchange_.times.request_headers_sent = Clock::now();
    return write(std::move(message));
  }

  // Body chunks of chunk_size, end_of_stream on the last unless told otherwise. Stops early
  // when the stream is over (an immediate response, say), as Envoy stops sending.
  void send_body_chunks(bool end_of_stream_on_last, std::size_t max_chunks = SIZE_MAX) {
    const std::string_view body = request_.body;
    const std::size_t size = std::max<std::size_t>(1, options_.chunk_size);
    std::size_t sent = 0;
    for (std::size_t offset = 0; offset < body.size() && sent < max_chunks; offset += size) {
      if (state_.stopped()) return;
      const bool last = offset + size >= body.size();
      if (last) exchange_.times.request_body_sent = Clock::now();
      if (!write(internal::body_message(body.substr(offset, size), last && end_of_stream_on_last,
                                        /*request=*/true))) {
        return;
      }
      ++sent;
    }
  }

  void full_duplex_request() {
    const bool has_body = !request_.body.empty();
    if (!send_request_headers(!has_body)) return;
    if (has_body) send_body_chunks(true);
    state_.wait_request_done(deadline_);
  }

  // Headers, then (once they are answered) the whole body in one message.
  void buffered_request() {
    const bool has_body = !request_.body.empty();
    if (!send_request_headers(!has_body)) return;
    if (!state_.wait_headers_answer(deadline_) || !has_body || state_.body_replaced()) return;
    exchange_.times.request_body_sent = Clock::now();
    if (!write(internal::body_message(request_.body, true, /*request=*/true))) return;
    state_.wait_request_done(deadline_);
  }

  void send_fault() {
    const bool has_body = !request_.body.empty();
    switch (options_.fault) {
      case Fault::kBodyBeforeHeaders:
        if (has_body) {
          send_body_chunks(true);
        } else {
          write(internal::body_message("{}", true, /*request=*/true));
        }
        send_request_headers(false);
        break;
      case Fault::kTwoHeaderMessages:
        send_request_headers(!has_body);
        send_request_headers(!has_body);
        send_body_chunks(true);
        break;
      case Fault::kNoEndOfStream:
        send_request_headers(false);
        send_body_chunks(false);
        break;
      case Fault::kCancelMidway:
        send_request_headers(false);
        send_body_chunks(false, 1);
        context_.TryCancel();
        break;
      default:
        break;
    }
  }

  void forward();

  // Envoy's half-close; then the processor must end the stream.
  void close() {
    if (writable_) stream_->WritesDone();
    const SteadyTime grace = std::min(deadline_, Clock::now() + options_.close_grace);
    bool ended = state_.wait_stream_end(grace);
    const bool timed_out = !ended && Clock::now() >= deadline_;
    if (timed_out) {
      // gRPC ends the call itself at its deadline (DEADLINE_EXCEEDED); give it a moment.
      ended = state_.wait_stream_end(Clock::now() + std::chrono::seconds(1));
    }
    if (!ended) context_.TryCancel();  // as Envoy resets the stream
    reader_.join();
    if (!ended && !timed_out) {
      exchange_.violations.push_back(
          fmt::format("the processor did not end the stream within {} ms of Envoy's half-close",
                      options_.close_grace.count()));
    }
    const grpc::Status status = stream_->Finish();
    exchange_.grpc_code = static_cast<int>(status.error_code());
    exchange_.grpc_message = status.error_message();
    const bool deadline = timed_out || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (deadline && exchange_.error.empty()) {
      exchange_.error = fmt::format("no end within {} ms", options_.timeout.count());
    }
    state_.finish();
  }

  const HttpRequest& request_;
  const ExchangeOptions& options_;
  Exchange& exchange_;
  const SteadyTime deadline_;
  const std::vector<http::Header> sent_headers_;
  grpc::ClientContext context_;
  StreamState state_;
  std::unique_ptr<Stream> stream_;
  std::thread reader_;
  bool first_sent_ = false;
  bool writable_ = true;
};

void Run::forward() {
  const std::vector<http::Header> headers = state_.request_headers();
  const auto destinations =
      internal::split_endpoints(http::find_header(headers, internal::kDestinationHeader));
  if (destinations.empty()) {
    exchange_.error = "no x-gateway-destination-endpoint to forward to";
    return;
  }
  const std::string& endpoint = destinations.front();
  const http::Request upstream = upstream_request(headers, state_.forwarded_body());
  exchange_.forwarded = true;
  exchange_.served_endpoint = endpoint;

  const bool full_duplex = options_.mode == BodyMode::kFullDuplexStreamed;
  uint64_t expected = UINT64_MAX;
  uint64_t received = 0;
  bool body_expected = false;
  bool phase_started = false;
  bool end_sent = false;
  std::string buffered;

  auto on_head = [&](const http::Response& head) {
    exchange_.times.upstream_head_received = Clock::now();
    exchange_.upstream_status = head.status;
    std::vector<http::Header> response_headers = {{":status", std::to_string(head.status)}};
    for (const auto& header : head.headers) {
      if (!hop_by_hop(header.name)) response_headers.push_back({lower(header.name), header.value});
    }
    expected = content_length(head);
    body_expected = !(expected == 0 || head.status == 204 || head.status == 304 ||
                      head.status < 200 || upstream.method == "HEAD");
    state_.begin_response_phase(response_headers, body_expected);
    phase_started = true;
    auto message = internal::headers_message(response_headers, !body_expected,
                                             options_.raw_header_values, /*request=*/false);
    // Envoy's endpoint-picker contract: which endpoint served, for the picker's accounting.
    internal::add_metadata(message, internal::kLbNamespace, internal::kServedKey, {endpoint},
                           /*as_list=*/false);
    if (!write(std::move(message))) return false;
    // Buffered, Envoy holds the body until the headers are answered.
    if (!full_duplex && !state_.wait_response_headers_answer(deadline_)) return false;
    return !state_.stopped();
  };
  auto on_body = [&](std::string_view piece) {
    received += piece.size();
    if (!full_duplex) {
      buffered.append(piece);
      return !state_.stopped();
    }
    const bool last = expected != UINT64_MAX && received >= expected;
    if (!write(internal::body_message(piece, last, /*request=*/false))) return false;
    end_sent = last;
    return !state_.stopped();
  };
  auto response = internal::forward(endpoint, upstream, options_.timeout, on_head, on_body);
  if (!response) {
    exchange_.error = fmt::format("forward to {}: {}", endpoint, response.error().message);
    // Envoy resets the processor's stream when the upstream breaks mid-response.
    if (phase_started) context_.TryCancel();
    return;
  }
  if (state_.stopped() || !body_expected) {
    if (!body_expected) state_.wait_response_done(deadline_);
    return;
  }
  if (full_duplex) {
    // A chunked body's end comes after its last bytes: Envoy sends an empty final message.
    if (!end_sent) write(internal::body_message("", true, /*request=*/false));
  } else {
    state_.set_upstream_body(buffered);
    write(internal::body_message(buffered, true, /*request=*/false));
  }
  state_.wait_response_done(deadline_);
}

}  // namespace

Exchange EnvoyDouble::run(const HttpRequest& request, const ExchangeOptions& options) {
  Exchange exchange;
  exchange.times.start = Clock::now();
  Run run(request, options, exchange, impl_->stub());
  run.exchange();
  exchange.times.done = Clock::now();
  return exchange;
}

}  // namespace kgai::envoy_double
