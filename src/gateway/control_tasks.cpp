#include "gateway/control_tasks.h"

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http_upstream.h"

namespace kgai::gateway {

namespace {

using Clock = std::chrono::steady_clock;

// GET /v1/models of one endpoint, for the list of models the pool serves.
class ModelsFetch final : public http::UpstreamHandler {
 public:
  using Done = std::function<void(bool ok, std::vector<std::string> models)>;
  explicit ModelsFetch(Done done) : done_(std::move(done)) {}
  void on_headers(int status, std::vector<http::Header>) override { status_ = status; }
  void on_body(std::string_view chunk) override {
    if (body_.size() + chunk.size() <= (4u << 20)) body_.append(chunk);
  }
  void on_complete() override {
    std::vector<std::string> models;
    auto j = nlohmann::json::parse(body_, nullptr, false);
    const bool ok = status_ == 200 && j.is_object() && j.contains("data") && j["data"].is_array();
    if (ok) {
      for (const auto& m : j["data"]) {
        if (m.is_object() && m.contains("id") && m["id"].is_string()) models.push_back(m["id"]);
      }
    }
    done_(ok, std::move(models));
  }
  void on_error(const http::UpstreamError&) override { done_(false, {}); }

 private:
  Done done_;
  int status_ = 0;
  std::string body_;
};

// The gateway's own requests: a model server that hangs on them must not hold a connection
// for the inference timeouts (minutes); the next refresh asks again anyway.
http::UpstreamOptions models_upstream_options(const ControlTaskOptions& o) {
  http::UpstreamOptions u;
  u.connect_timeout = o.connect_timeout;
  u.header_timeout = std::min<std::chrono::milliseconds>(o.models_refresh, std::chrono::seconds(5));
  u.idle_timeout = u.header_timeout;
  u.max_idle_per_host = 2;
  return u;
}

}  // namespace

struct ControlTasks::Impl : std::enable_shared_from_this<ControlTasks::Impl> {
  Impl(EventLoop& loop, std::shared_ptr<Director> director, ControlTaskOptions options)
      : loop(loop),
        director(std::move(director)),
        options(options),
        upstream(loop, models_upstream_options(options)),
        tick_timer(loop),
        models_timer(loop) {}

  void arm_tick() {
    std::weak_ptr<Impl> weak = shared_from_this();
    tick_timer.arm(Clock::now() + options.tick, [weak] {
      auto self = weak.lock();
      if (!self || self->stopped) return;
      self->director->tick(Clock::now());
      self->report_readiness();
      self->arm_tick();
    });
  }

  void report_readiness() {
    if (!options.on_readiness) return;
    const bool ready = director->ready();
    if (reported_ready && *reported_ready == ready) return;
    reported_ready = ready;
    options.on_readiness(ready);
  }

  void refresh_models() {
    std::weak_ptr<Impl> weak = shared_from_this();
    auto snapshot = director->pool().snapshot();
    // Each refresh collects into its own set: a slow endpoint's answer to an earlier refresh
    // cannot mix into a later one.
    struct Round {
      size_t pending = 0;
      bool any_ok = false;
      std::unordered_set<std::string> models;
    };
    auto round = std::make_shared<Round>();
    auto finish_one = [weak, round](bool ok, std::vector<std::string> found) {
      auto self = weak.lock();
      if (!self) return;
      if (ok) {
        round->any_ok = true;
        for (auto& m : found) round->models.insert(std::move(m));
      }
      if (--round->pending == 0 && round->any_ok) {
        self->director->set_served_models({round->models.begin(), round->models.end()});
      }
    };
    for (const auto& e : snapshot->endpoints) {
      if (!e.healthy) continue;
      ++round->pending;
      http::UpstreamRequest request;
      request.method = "GET";
      request.target = "/v1/models";
      upstream.send(e.endpoint->host, e.endpoint->port, std::move(request),
                    std::make_shared<ModelsFetch>(finish_one));
    }
    models_timer.arm(Clock::now() + options.models_refresh, [weak] {
      if (auto self = weak.lock(); self && !self->stopped) self->refresh_models();
    });
  }

  EventLoop& loop;
  std::shared_ptr<Director> director;
  ControlTaskOptions options;
  http::UpstreamPool upstream;
  Timer tick_timer;
  Timer models_timer;
  std::optional<bool> reported_ready;
  bool stopped = false;
};

ControlTasks::ControlTasks(EventLoop& loop, std::shared_ptr<Director> director,
                           ControlTaskOptions options)
    : impl_(std::make_shared<Impl>(loop, std::move(director), options)) {}

ControlTasks::~ControlTasks() { stop(); }

void ControlTasks::start() {
  impl_->stopped = false;
  impl_->report_readiness();
  impl_->arm_tick();
  impl_->refresh_models();
}

void ControlTasks::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->tick_timer.cancel();
  impl_->models_timer.cancel();
}

}  // namespace kgai::gateway
