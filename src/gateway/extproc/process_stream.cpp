#include "gateway/extproc/process_stream.h"

namespace kgai::gateway::extproc {

namespace {

grpc::Status status_of(const StreamEnd& end) {
  switch (end.kind) {
    case StreamEnd::Kind::kOk:
      return grpc::Status::OK;
    case StreamEnd::Kind::kInvalidArgument:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, end.message);
    case StreamEnd::Kind::kCancelled:
      break;
  }
  return grpc::Status::CANCELLED;
}

// The logic's flow-control outcome, handed back to its stream on the context's work queue: it
// may fire on a thread that holds another stream's lock (or this one's, for kCancelled, which
// comes from the stream's own abandon() and needs nothing done). It holds no pointer to the
// stream, only weak ones: the stream may be gone when the outcome fires.
DirectedRequest::DequeuedCallback hand_back(std::weak_ptr<StreamContext> context,
                                            std::weak_ptr<ProcessStream> stream) {
  return [context, stream](FlowOutcome outcome) {
    if (outcome == FlowOutcome::kCancelled) return;
    if (auto c = context.lock()) {
      c->deferred.post([stream, outcome] {
        if (auto s = stream.lock()) s->dequeued(outcome);
      });
    }
  };
}

}  // namespace

ProcessStream* ProcessStream::start(std::shared_ptr<StreamContext> context) {
  auto stream = std::make_shared<ProcessStream>(context);
  stream->self_ = stream;
  // Before the first read: no request can be queued earlier.
  stream->logic_.set_on_dequeued(hand_back(context, stream));
  stream->kick();
  return stream.get();
}

ProcessStream::ProcessStream(std::shared_ptr<StreamContext> context)
    : context_(std::move(context)),
      logic_(context_->director, context_->options, context_->counters, {}) {
  context_->counters.open.fetch_add(1, std::memory_order_relaxed);
  context_->counters.total.fetch_add(1, std::memory_order_relaxed);
}

ProcessStream::~ProcessStream() { context_->counters.open.fetch_sub(1, std::memory_order_relaxed); }

void ProcessStream::dequeued(FlowOutcome outcome) {
  {
    std::lock_guard lock(mutex_);
    if (!finish_called_) logic_.dequeued(outcome);
  }
  kick();
}

void ProcessStream::OnReadDone(bool ok) {
  {
    std::lock_guard lock(mutex_);
    reading_ = false;
    if (ok) {
      logic_.on_message(in_);
      in_.Clear();
    } else {
      read_closed_ = true;  // Envoy half-closed, or the stream broke
      logic_.on_half_close();
    }
  }
  kick();
}

void ProcessStream::OnWriteDone(bool ok) {
  {
    std::lock_guard lock(mutex_);
    writing_ = false;
    logic_.answer_sent(out_bytes_);
    if (!ok) {
      read_closed_ = true;  // nobody reads the answers any more
      logic_.on_cancel();
    }
  }
  kick();
}

void ProcessStream::OnCancel() {
  {
    std::lock_guard lock(mutex_);
    read_closed_ = true;
    logic_.on_cancel();
  }
  kick();
}

void ProcessStream::OnDone() {
  std::shared_ptr<ProcessStream> keep;
  {
    std::lock_guard lock(mutex_);
    logic_.on_cancel();  // releases whatever is still held (nothing after a normal end)
    finish_called_ = true;
    keep = std::move(self_);
  }
  // `keep` lets go of this stream on return (flow-control callbacks hold only weak pointers).
}

void ProcessStream::kick() {
  bool write = false, read = false, finish = false;
  grpc::Status status;
  // Set when the logic's post-pick step waits for the decision to be on its way; keeps the
  // stream alive for it (another thread may end the stream once the write has started).
  std::shared_ptr<ProcessStream> flush;
  {
    std::lock_guard lock(mutex_);
    if (finish_called_) return;
    auto& answers = logic_.answers();
    if (!writing_ && !answers.empty()) {
      out_ = std::move(answers.front());
      answers.pop_front();
      out_bytes_ = out_.ByteSizeLong();
      writing_ = write = true;
    }
    // Behind a write still in flight, the decision waits for the kick that starts its own.
    if (logic_.sent_pending() && (write || answers.empty())) flush = shared_from_this();
    // Reading stops while Envoy is slow to take the answers (bounded memory per stream).
    if (!reading_ && !read_closed_ && !logic_.end() &&
        logic_.answer_bytes() < context_->options.write_high_water) {
      reading_ = read = true;
    }
    if (!writing_ && answers.empty() && logic_.end()) {
      finish_called_ = finish = true;
      status = status_of(*logic_.end());
    }
  }
  if (write) StartWrite(&out_);
  if (read) StartRead(&in_);
  if (finish) Finish(status);
  if (flush) {
    std::lock_guard lock(mutex_);
    logic_.flush_sent();
  }
}

}  // namespace kgai::gateway::extproc
