#include "gateway/extproc/health_service.h"

#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"

namespace kgai::gateway::extproc {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ServingStatus = HealthCheckResponse::ServingStatus;

bool known_service(std::string_view name) { return name.empty() || name == kExtProcServiceName; }

class WatchReactor;

// What the service and its open Watch streams share. Each stream holds it too, so a stream
// that ends after the service object is gone (a server shut down late) still finds it.
class Registry {
 public:
  explicit Registry(std::size_t max_watchers) : max_watchers_(max_watchers) {}

  ServingStatus status(bool known) const {
    if (!known) return HealthCheckResponse::SERVICE_UNKNOWN;
    std::lock_guard lock(mu_);
    return serving_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  }
  bool serving() const {
    std::lock_guard lock(mu_);
    return serving_;
  }
  bool shut_down() const {
    std::lock_guard lock(mu_);
    return shut_down_;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return watchers_.size();
  }

  // Returns the watchers to tell (outside the lock: telling one may start a gRPC write, and
  // gRPC may run the stream's reactions, which come back here, before returning).
  std::vector<std::shared_ptr<WatchReactor>> set_serving(bool serving) {
    std::lock_guard lock(mu_);
    if (shut_down_ || serving_ == serving) return {};
    serving_ = serving;
    return snapshot_locked();
  }
  std::vector<std::shared_ptr<WatchReactor>> shut_down_all() {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    serving_ = false;
    return snapshot_locked();
  }

  // False when max_watchers are open already.
  bool add(std::shared_ptr<WatchReactor> watcher) {
    std::lock_guard lock(mu_);
    if (watchers_.size() >= max_watchers_) return false;
    WatchReactor* key = watcher.get();
    watchers_.emplace(key, std::move(watcher));
    return true;
  }
  void remove(WatchReactor* watcher) {
    std::shared_ptr<WatchReactor> last;  // destroyed after the lock is released
    std::lock_guard lock(mu_);
    if (auto it = watchers_.find(watcher); it != watchers_.end()) {
      last = std::move(it->second);
      watchers_.erase(it);
    }
  }

 private:
  std::vector<std::shared_ptr<WatchReactor>> snapshot_locked() const {
    std::vector<std::shared_ptr<WatchReactor>> out;
    out.reserve(watchers_.size());
    for (const auto& [key, watcher] : watchers_) out.push_back(watcher);
    return out;
  }

  const std::size_t max_watchers_;
  mutable std::mutex mu_;
  bool serving_ = false;
  bool shut_down_ = false;
  std::unordered_map<WatchReactor*, std::shared_ptr<WatchReactor>> watchers_;
};

// One Watch stream. It writes whenever the status it last sent differs from the current one,
// one write at a time; a change that comes while a write is in flight is sent when that write
// completes, so a client always ends up with the latest status. The registry owns the reactor
// until gRPC is done with it (OnDone).
class WatchReactor : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(std::shared_ptr<Registry> registry, bool known, bool ending)
      : registry_(std::move(registry)), known_(known), ending_(ending) {}

  // Sends the current status if it is not the last one sent (and finishes the stream when it
  // is ending and everything is sent). Called by any thread.
  void refresh() {
    Step step;
    {
      std::lock_guard lock(mu_);
      step = next_locked();
    }
    take(step);
  }

  // Ends the stream once the current status is out.
  void end() {
    {
      std::lock_guard lock(mu_);
      ending_ = true;
    }
    refresh();
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the client is gone: finish without writing more
      step = next_locked();
    }
    take(step);
  }

  void OnCancel() override {
    Step step;
    {
      std::lock_guard lock(mu_);
      broken_ = true;
      step = next_locked();
    }
    take(step);
  }

  void OnDone() override {
    // The registry drops its reference, which may destroy this object: touch nothing after.
    std::shared_ptr<Registry> registry = registry_;
    registry->remove(this);
  }

 private:
  enum class Step { kNone, kWrite, kFinish };

  Step next_locked() {
    if (finished_ || writing_) return Step::kNone;
    if (!broken_) {
      ServingStatus now = registry_->status(known_);
      if (!sent_any_ || now != last_sent_) {
        sent_any_ = true;
        last_sent_ = now;
        response_.set_status(now);
        writing_ = true;
        return Step::kWrite;
      }
    }
    if (ending_ || broken_) {
      finished_ = true;
      finish_status_ = broken_ ? grpc::Status::CANCELLED : grpc::Status::OK;
      return Step::kFinish;
    }
    return Step::kNone;
  }

  // Outside the lock: gRPC may run OnWriteDone (which takes it) before StartWrite returns.
  // response_ and finish_status_ are not touched while writing_ or finished_ is set.
  void take(Step step) {
    if (step == Step::kWrite) StartWrite(&response_);
    if (step == Step::kFinish) Finish(finish_status_);
  }

  const std::shared_ptr<Registry> registry_;
  const bool known_;
  std::mutex mu_;
  bool ending_;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
  bool sent_any_ = false;
  ServingStatus last_sent_ = HealthCheckResponse::UNKNOWN;
  HealthCheckResponse response_;
  grpc::Status finish_status_;
};

// A Watch call over the cap: finished at once.
class RefusedWatch : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  explicit RefusedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

class GrpcHealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit GrpcHealthService(std::shared_ptr<Registry> registry) : registry_(std::move(registry)) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (!known_service(request->service())) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service: " + request->service()));
      return reactor;
    }
    response->set_status(registry_->status(true));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<HealthCheckResponse>* Watch(grpc::CallbackServerContext* /*context*/,
                                                       const HealthCheckRequest* request) override {
    auto watcher = std::make_shared<WatchReactor>(registry_, known_service(request->service()),
                                                  registry_->shut_down());
    if (!registry_->add(watcher)) {
      return new RefusedWatch(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many health Watch streams"));
    }
    // The local reference keeps the reactor alive even if a concurrent shutdown() ends it and
    // the registry lets go before this returns.
    watcher->refresh();
    return watcher.get();
  }

 private:
  std::shared_ptr<Registry> registry_;
};

}  // namespace

struct HealthService::Impl {
  explicit Impl(const HealthServiceOptions& options)
      : registry(std::make_shared<Registry>(options.max_watchers)), grpc_service(registry) {}

  std::shared_ptr<Registry> registry;
  GrpcHealthService grpc_service;
};

HealthService::HealthService(HealthServiceOptions options)
    : impl_(std::make_unique<Impl>(options)) {}

HealthService::~HealthService() { shutdown(); }

void HealthService::set_serving(bool serving) {
  for (const auto& watcher : impl_->registry->set_serving(serving)) watcher->refresh();
}

bool HealthService::serving() const { return impl_->registry->serving(); }

std::size_t HealthService::watchers() const { return impl_->registry->size(); }

void HealthService::shutdown() {
  for (const auto& watcher : impl_->registry->shut_down_all()) watcher->end();
}

void register_health_service(grpc::ServerBuilder& builder, HealthService& service) {
  builder.RegisterService(&service.impl_->grpc_service);
}

}  // namespace kgai::gateway::extproc
