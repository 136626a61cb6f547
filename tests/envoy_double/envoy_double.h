// An "Envoy double": plays Envoy's part of the ext_proc protocol in front of an external
// processor (kgai's endpoint picker, or any other), for tests and benchmarks. One call to
// EnvoyDouble::run() is one HTTP request going through Envoy's ext_proc filter:
//
//   request_headers (:method, :path, :authority, :scheme, content-type, content-length,
//   x-request-id, the caller's headers; values in raw_value, as Envoy sends them), then the body:
//   - FULL_DUPLEX_STREAMED: body chunks sent at once, without waiting for the headers answer;
//     the processor streams the body back as StreamedBodyResponse chunks.
//   - BUFFERED: after the headers answer, the whole body in one message; the processor answers
//     with a body mutation (or none).
//   then, optionally, the forward: the (possibly rewritten) body goes over HTTP/1.1 to the first
//   endpoint of x-gateway-destination-endpoint, and the response passes through the processor
//   again (response_headers with :status and the served endpoint in metadata_context, then
//   response_body chunks as they arrive, end_of_stream on the last).
//
// It checks the processor's side of the protocol and reports each break as a violation: one
// headers answer before any body answer, streamed chunks of at most 62,000 bytes, end_of_stream
// on the last chunk, answers of the kind the phase expects, the stream ended after Envoy's
// half-close. It can also send deliberately broken streams (Fault) to test a processor's
// error paths.
//
// No gRPC or protobuf types here; the library links them privately.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/http.h"

namespace kgai::envoy_double {

enum class BodyMode {
  kFullDuplexStreamed,  // what the Inference Gateway's endpoint picker is configured with
  kBuffered,
};

// A broken stream for a processor's error paths. Faulty exchanges never forward.
enum class Fault {
  kNone,
  kBodyBeforeHeaders,  // the body chunks first, then request_headers
  kTwoHeaderMessages,  // request_headers twice
  kNoEndOfStream,      // no end_of_stream anywhere, then the half-close
  kCancelMidway,       // the stream is cancelled after the headers and the first body chunk
  // Every message (and its headers or body message) carries extra fields with numbers the
  // protocol does not use; the exchange is otherwise normal and should succeed.
  kUnknownFields,
};

struct HttpRequest {
  std::string method = "POST";
  std::string path = "/v1/completions";
  std::string authority = "gateway";
  // Other headers; names are sent lower-cased. A content-type or x-request-id here replaces the
  // default one (application/json, a generated id).
  std::vector<http::Header> headers;
  std::string body;
};

// The forwarded response as the client gets it, after the processor's mutations (an immediate
// response is in Exchange::immediate instead). Called on a thread of the double, in order: the
// head once, then the body chunks as the processor streams them. on_body returning false means
// the client went away: the exchange is cancelled.
using HeadCallback = std::function<void(int status, const std::vector<http::Header>& headers)>;
using BodyCallback = std::function<bool(std::string_view chunk)>;

struct ExchangeOptions {
  BodyMode mode = BodyMode::kFullDuplexStreamed;
  // Request body bytes per request_body message in FULL_DUPLEX_STREAMED mode.
  std::size_t chunk_size = 16 * 1024;
  // protocol_config in the first message, as newer Envoys send it.
  bool send_protocol_config = true;
  // Header values in raw_value (Envoy today) or in value (older Envoys).
  bool raw_header_values = true;
  Fault fault = Fault::kNone;
  // Endpoints for metadata_context["envoy.lb.subset_hint"]["x-gateway-destination-endpoint-
  // subset"] on request_headers (none: no subset hint).
  std::vector<std::string> subset_hint;
  // Limit for the whole exchange (the gRPC stream's deadline, and the forward).
  std::chrono::milliseconds timeout{60'000};
  // How long the processor has to end the stream after Envoy's half-close.
  std::chrono::milliseconds close_grace{2'000};

  // Forward to the picked endpoint and run the response through the processor.
  bool forward = false;
  HeadCallback on_response_head;
  BodyCallback on_response_body;
};

struct ImmediateReply {
  int status = 0;
  std::vector<http::Header> headers;
  std::string body;
  std::string details;
  int grpc_status = -1;  // -1: none set
};

// Steady-clock times of the exchange's milestones (epoch value: did not happen).
struct ExchangeTimes {
  SteadyTime start;
  // "Sent": handed to gRPC (stamped just before the write, since an answer may come first).
  SteadyTime request_headers_sent;
  SteadyTime headers_response_received;  // the picker's decision, seen by Envoy
  SteadyTime request_body_sent;          // the last request_body message
  SteadyTime request_body_done;          // the processor's last body answer
  SteadyTime upstream_head_received;
  SteadyTime first_response_body;  // first body bytes for the client (TTFT on a stream)
  SteadyTime done;
};

struct Exchange {
  // The gRPC status the stream ended with (grpc::StatusCode numbers: 0 OK, 1 CANCELLED, 3
  // INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED, ...).
  int grpc_code = 0;
  std::string grpc_message;
  // The processor broke the protocol (empty when it followed it).
  std::vector<std::string> violations;
  // Failures outside the processor: no destination, the endpoint unreachable, and so on.
  std::string error;

  std::optional<ImmediateReply> immediate;

  // What the request-headers answer did (plus header mutations of buffered body answers).
  bool headers_response = false;
  bool clear_route_cache = false;
  bool continue_and_replace = false;
  std::vector<http::Header> set_headers;  // in order, value from raw_value or value
  std::vector<std::string> removed_headers;
  std::vector<http::Header> upstream_request_headers;  // the request after the mutations
  std::string destination;                             // x-gateway-destination-endpoint as set
  std::vector<std::string> destinations;               // its comma-separated endpoints
  // Every dynamic_metadata struct received, merged, as JSON; and the one key the gateway reads.
  std::string dynamic_metadata_json;
  std::string lb_destination;  // dynamic_metadata["envoy.lb"]["x-gateway-destination-endpoint"]

  std::string forwarded_body;  // what Envoy would send upstream
  std::size_t request_messages_sent = 0;
  std::size_t streamed_chunks_received = 0;  // request body chunks from the processor
  std::size_t largest_streamed_chunk = 0;

  // The forward and the response (forward = true).
  bool forwarded = false;
  std::string served_endpoint;
  int upstream_status = 0;
  int response_status = 0;  // what the client got
  std::vector<http::Header> response_headers;
  std::string response_body;
  std::size_t response_chunks = 0;

  ExchangeTimes times;

  bool ok() const { return grpc_code == 0 && violations.empty() && error.empty(); }
  // request_headers sent -> headers answer received (the endpoint picker's cost as Envoy sees
  // it, body upload included); zero when there was no answer.
  std::chrono::nanoseconds decision_latency() const;
  // A line for test failures: code, message, violations, error.
  std::string summary() const;
};

struct EnvoyDoubleOptions {
  // gRPC connections to the processor, used in turn (Envoy has one per worker thread).
  int channels = 1;
};

class EnvoyDouble {
 public:
  // `ext_proc_target`: "host:port" of the processor (plain-text gRPC).
  explicit EnvoyDouble(std::string ext_proc_target, EnvoyDoubleOptions options = {});
  ~EnvoyDouble();
  EnvoyDouble(const EnvoyDouble&) = delete;
  EnvoyDouble& operator=(const EnvoyDouble&) = delete;

  // Runs one exchange on the calling thread (plus a reader thread of its own). Thread-safe:
  // many run() at once share the channels.
  Exchange run(const HttpRequest& request, const ExchangeOptions& options = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kgai::envoy_double
