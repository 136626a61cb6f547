// One Envoy ext_proc stream as a gRPC reactor: moves messages between gRPC and the stream's
// StreamLogic (stream_logic.h), one read and one write in flight at a time. Reading pauses
// while Envoy is slow to take the answers, so a stream's memory stays bounded.
//
// Private to the ext_proc data plane.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>

#include "gateway/extproc/stream_logic.h"
#include "gateway/extproc/work_queue.h"

namespace kgai::gateway::extproc {

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

  // A flow-control outcome for this stream's queued request, on the work queue's thread.
  void dequeued(FlowOutcome outcome);

 private:
  // Starts the next write, read or the Finish the state calls for (lock not held).
  void kick();

  std::shared_ptr<StreamContext> context_;
  std::shared_ptr<ProcessStream> self_;  // until OnDone

  std::mutex mutex_;
  StreamLogic logic_;
  pb::ProcessingRequest in_;
  pb::ProcessingResponse out_;  // the write in flight
  size_t out_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool read_closed_ = false;  // Envoy half-closed, or the stream broke
  bool finish_called_ = false;
};

}  // namespace kgai::gateway::extproc
