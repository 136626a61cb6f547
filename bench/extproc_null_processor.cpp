// kgai-extproc-null: the baseline for bench/gateway_extproc.sh. An ext_proc processor that does
// what kgai's endpoint picker does on the wire (FULL_DUPLEX_STREAMED: the body collected until
// end_of_stream, then the headers answer with a fixed x-gateway-destination-endpoint and the
// body streamed back in chunks of at most 62,000 bytes; OK after Envoy's half-close), on the same
// gRPC server setup (callback API, one reactor per stream), and nothing else: no Director, no
// parsing, no picking. kgai gateway's figures minus these are what the picker itself costs; its
// memory per open stream is gRPC's share of kgai's.
//
//   kgai-extproc-null --listen 127.0.0.1:0 [--destination 127.0.0.1:8000]
//
// Prints "kgai-extproc-null: ext_proc on grpc://HOST:PORT" and serves until SIGINT or SIGTERM.
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"

namespace {

namespace pb = ::envoy::service::ext_proc::v3;

constexpr size_t kMaxStreamedChunk = 62'000;  // Envoy's limit for one streamed chunk

class NullStream final
    : public grpc::ServerBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse> {
 public:
  explicit NullStream(const std::string& destination) : destination_(destination) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mutex_);
    if (!ok) {
      read_closed_ = true;
      finish_locked(lock);
      return;
    }
    if (in_.has_request_body()) {
      body_.append(in_.request_body().body());
      if (in_.request_body().end_of_stream()) answer_locked();
    } else if (in_.has_request_headers() && in_.request_headers().end_of_stream()) {
      answer_locked();
    }
    in_.Clear();
    lock.unlock();
    StartRead(&in_);
    lock.lock();
    write_next_locked(lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mutex_);
    writing_ = false;
    if (!ok) queue_.clear();
    write_next_locked(lock);
    finish_locked(lock);
  }

  void OnDone() override { delete this; }

 private:
  void answer_locked() {
    pb::ProcessingResponse headers;
    auto* common = headers.mutable_request_headers()->mutable_response();
    auto* option = common->mutable_header_mutation()->add_set_headers();
    option->mutable_header()->set_key("x-gateway-destination-endpoint");
    option->mutable_header()->set_raw_value(destination_);
    common->set_clear_route_cache(true);
    queue_.push_back(std::move(headers));
    size_t offset = 0;
    do {
      pb::ProcessingResponse chunk;
      auto* streamed = chunk.mutable_request_body()
                           ->mutable_response()
                           ->mutable_body_mutation()
                           ->mutable_streamed_response();
      streamed->set_body(body_.substr(offset, kMaxStreamedChunk));
      offset += kMaxStreamedChunk;
      streamed->set_end_of_stream(offset >= body_.size());
      queue_.push_back(std::move(chunk));
    } while (offset < body_.size());
    body_.clear();
  }

  void write_next_locked(std::unique_lock<std::mutex>& lock) {
    if (writing_ || queue_.empty()) return;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    StartWrite(&out_);
    lock.lock();
  }

  void finish_locked(std::unique_lock<std::mutex>& lock) {
    if (!read_closed_ || writing_ || !queue_.empty() || finished_) return;
    finished_ = true;
    lock.unlock();
    Finish(grpc::Status::OK);
    lock.lock();
  }

  const std::string& destination_;
  std::mutex mutex_;
  pb::ProcessingRequest in_;
  pb::ProcessingResponse out_;
  std::deque<pb::ProcessingResponse> queue_;
  std::string body_;
  bool writing_ = false;
  bool read_closed_ = false;
  bool finished_ = false;
};

class NullService final : public pb::ExternalProcessor::CallbackService {
 public:
  explicit NullService(std::string destination) : destination_(std::move(destination)) {}
  grpc::ServerBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse>* Process(
      grpc::CallbackServerContext*) override {
    return new NullStream(destination_);
  }

 private:
  const std::string destination_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kgai-extproc-null: an ext_proc processor that answers every request with a fixed "
      "destination and echoes its body (the gRPC baseline for kgai gateway)."};
  std::string listen = "127.0.0.1:0";
  std::string destination = "127.0.0.1:8000";
  app.add_option("--listen", listen, "HOST:PORT (port 0 picks one)")->capture_default_str();
  app.add_option("--destination", destination, "the endpoint every answer names")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // gRPC's threads inherit the mask

  NullService service(destination);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  // As kgai gateway's ext_proc server sets them.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1 << 20);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    fmt::print(stderr, "kgai-extproc-null: cannot listen on {}\n", listen);
    return 2;
  }
  fmt::print("kgai-extproc-null: ext_proc on grpc://{}:{}\n", listen.substr(0, listen.rfind(':')),
             port);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown(std::chrono::system_clock::now());
  return 0;
}
