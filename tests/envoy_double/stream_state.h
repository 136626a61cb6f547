// The double's view of one ext_proc stream, shared by the thread that writes Envoy's messages
// and the thread that reads the processor's answers: the reader records each answer into the
// Exchange and checks it against the protocol; the writer waits for the milestones it needs
// (the headers answer, the end of the body) before going on. Internal to the double.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>

#include "envoy_double/envoy_double.h"
#include "envoy_double/messages.h"

namespace kgai::envoy_double::internal {

class StreamState {
 public:
  // `exchange` is written under the state's lock until the reader is joined. `cancel` cancels
  // the gRPC stream (the client went away).
  StreamState(const ExchangeOptions& options, const HttpRequest& request,
              std::vector<http::Header> request_headers, Exchange& exchange,
              std::function<void()> cancel);

  // Reader thread.
  void on_response(const ext_proc::ProcessingResponse& response);
  void on_stream_end();

  // Writer thread. The response phase starts before response_headers is written; the headers
  // are what the client would get (":status" first) before the processor's mutations.
  void begin_response_phase(std::vector<http::Header> headers, bool body_expected);
  // BUFFERED: the whole upstream body, before it is sent to the processor (an answer without
  // body mutation passes it on unchanged).
  void set_upstream_body(std::string body);

  // Each waits until its milestone, or the stream is over (ended, answered with an immediate
  // response, client gone), or `deadline`; returns whether the milestone was reached.
  bool wait_headers_answer(SteadyTime deadline);
  bool wait_request_done(SteadyTime deadline);
  bool wait_response_headers_answer(SteadyTime deadline);
  bool wait_response_done(SteadyTime deadline);
  bool wait_stream_end(SteadyTime deadline);

  // True once nothing more should be sent: an immediate response came, the stream ended, or
  // the client went away.
  bool stopped() const;
  // CONTINUE_AND_REPLACE on the headers answer: the body is not sent (BUFFERED).
  bool body_replaced() const;
  // The request as Envoy would forward it: headers after the mutations, and the body.
  std::vector<http::Header> request_headers() const;
  std::string forwarded_body() const;

  // After the reader is joined and the gRPC status is in the exchange: the end-of-stream
  // checks, and the request headers and dynamic metadata into the exchange.
  void finish();

 private:
  bool over_locked() const { return immediate_ || stream_ended_ || client_gone_; }
  bool wait(SteadyTime deadline, const std::function<bool()>& milestone);
  void violation(std::string what);

  void on_request_headers(const ext_proc::CommonResponse& common);
  void on_request_body(const ext_proc::CommonResponse& common);
  void on_response_headers(const ext_proc::CommonResponse& common);
  void on_response_body(const ext_proc::CommonResponse& common);
  void on_immediate(const ext_proc::ImmediateResponse& immediate);
  void merge_metadata(const google::protobuf::Struct& metadata);
  // Client delivery, queued under the lock and run by the reader outside it.
  void deliver_head_locked();
  void deliver_body_locked(std::string chunk);

  const ExchangeOptions& options_;
  const bool full_duplex_;
  const std::string& original_body_;
  Exchange& exchange_;
  std::function<void()> cancel_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<http::Header> request_headers_;
  google::protobuf::Struct dynamic_metadata_;
  bool request_body_expected_;
  bool headers_answered_ = false;
  bool request_done_ = false;
  bool replaced_ = false;
  bool response_phase_ = false;
  bool response_body_expected_ = false;
  bool response_headers_answered_ = false;
  bool response_done_ = false;
  bool head_delivered_ = false;
  bool immediate_ = false;
  bool stream_ended_ = false;
  bool client_gone_ = false;
  std::string upstream_body_;
  // Client callbacks to run once the lock is released, in order.
  std::vector<std::function<bool()>> deliveries_;
};

}  // namespace kgai::envoy_double::internal
