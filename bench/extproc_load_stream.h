// One ext_proc stream of kgai-extproc-load, played as Envoy's ext_proc filter plays it
// (FULL_DUPLEX_STREAMED): request_headers, then the body chunks right behind them without
// waiting for an answer; the processor's answers are read as they come (the headers answer with
// the destination, then the body echoed back as streamed chunks); then Envoy's half-close, or a
// hold at a chosen point for the memory test. A gRPC callback reactor: thousands of streams
// cost memory, not threads.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"

namespace kgai::bench {

namespace pb = ::envoy::service::ext_proc::v3;
using Stub = pb::ExternalProcessor::Stub;

// What every stream sends, built once and shared read-only: a stream copies only the headers
// message (its own x-request-id) and the first chunk (its own prompt id).
struct RequestTemplate {
  pb::ProcessingRequest headers;  // protocol_config included, as Envoy 1.33+ sends it
  std::vector<pb::ProcessingRequest> chunks;
  // Where the fixed-width request number sits in chunks[0]'s body; npos: every stream sends
  // the same prompt (the prefix index then matches it in full).
  size_t id_offset = std::string::npos;
  size_t id_width = 0;
  int request_id_header = -1;  // the index of x-request-id in the headers message
  size_t body_bytes = 0;
};

// The request body: an OpenAI completion of `body_bytes` bytes (JSON), its prompt starting with
// a fixed-width request number so that every stream's prompt is new to the prefix index.
// Filler words are drawn from `seed`.
RequestTemplate make_request(const std::string& model, size_t body_bytes, size_t chunk_bytes,
                             bool distinct_prompts, uint64_t seed);

// Where a stream stops to be held open (the memory test) instead of finishing.
enum class HoldAt : uint8_t {
  kNone,         // runs to the end: answers read, half-close, status
  kPartialBody,  // request_headers and the first body chunk(s) sent, no end_of_stream
  kDecided,      // the whole request sent and answered; the response phases never come
};

struct StreamTimes {
  SteadyTime start;         // before the call starts
  SteadyTime headers_sent;  // request_headers handed to gRPC
  SteadyTime decision;      // the headers answer (or an immediate response) read
  SteadyTime request_done;  // the echoed body's end_of_stream read
  SteadyTime done;          // the stream's status
};

struct StreamResult {
  StreamTimes times;
  int grpc_code = 0;
  std::string grpc_message;
  int immediate_status = 0;  // the HTTP status of an immediate response (an error answer)
  std::string destination;   // x-gateway-destination-endpoint as set
  std::string error;         // an answer the protocol does not allow here
  bool held = false;         // reached its hold point

  bool ok() const {
    return grpc_code == 0 && immediate_status == 0 && error.empty() && !destination.empty();
  }
};

class LoadStream;

struct StreamSetup {
  const RequestTemplate* request = nullptr;
  uint64_t id = 0;
  HoldAt hold_at = HoldAt::kNone;
  size_t partial_chunks = 1;  // kPartialBody: chunks sent before the hold
  // After the request phases, the stream stays open this long before the half-close (the time
  // an upstream response would take): more streams open at once for the same rate.
  std::chrono::microseconds think{0};
  std::chrono::milliseconds timeout{60'000};
  // Any gRPC thread. A held stream lives at least until its release().
  std::function<void(LoadStream&)> on_held;
  std::function<void(const StreamResult&)> on_done;  // any gRPC thread; the stream dies after
};

class LoadStream final
    : public grpc::ClientBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse> {
 public:
  // Starts the stream; it deletes itself after on_done (a held stream not before release()).
  static LoadStream* start(Stub& stub, StreamSetup setup);

  // A held stream goes on: a partial body is cancelled (Envoy resets the stream when the
  // client goes away), a decided one half-closes. Once per held stream.
  void release();

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  // What a reaction decided under the lock, done after it is released (gRPC calls never run
  // under the stream's lock).
  struct Actions {
    bool read = false;
    bool half_close = false;
    bool set_think_alarm = false;
    bool notify_held = false;
    int remove_holds = 0;
  };

  explicit LoadStream(StreamSetup setup);
  const pb::ProcessingRequest& message(size_t index) const;
  size_t messages_to_send() const;
  // After the last write or answer: hold, wait the think time, or half-close.
  Actions next_step_locked();
  Actions held_locked();
  void run(const Actions& actions);

  StreamSetup setup_;
  grpc::ClientContext context_;
  pb::ProcessingRequest headers_;
  pb::ProcessingRequest first_chunk_;  // empty: the template's first chunk is sent
  pb::ProcessingResponse answer_;
  grpc::Alarm think_alarm_;

  std::mutex mutex_;
  StreamResult result_;
  size_t written_ = 0;  // messages whose write completed
  bool writes_failed_ = false;
  bool request_done_ = false;
  bool half_closed_ = false;
  bool held_ = false;
  bool read_over_ = false;
  bool think_set_ = false;
  bool release_hold_ = false;  // a hold that release() removes
  bool think_hold_ = false;    // a hold that the think alarm removes
};

}  // namespace kgai::bench
