// session-affinity-scorer: a request carrying a session id (the gateway's session header)
// scores 1 on the endpoint its session used last, 0 elsewhere; a multi-turn conversation
// keeps its KV cache. Sessions are remembered in an LRU of `maxSessions` entries (default
// 100,000), so memory stays bounded however many sessions pass.
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/config_reader.h"
#include "gateway/plugin_registry.h"

namespace kgai::gateway {

namespace {

class SessionAffinityScorer final : public Scorer, public PostPick {
 public:
  explicit SessionAffinityScorer(size_t max_sessions) : max_sessions_(max_sessions) {}

  std::string_view type() const override { return "session-affinity-scorer"; }

  void score(SchedulingContext& context, std::span<const uint32_t> candidates,
             std::span<double> scores) override {
    const std::string& session = context.request->session_id;
    if (session.empty()) return;
    std::string address;
    {
      std::lock_guard lock(mutex_);
      auto it = sessions_.find(session);
      if (it == sessions_.end()) return;
      address = it->second->second;
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      scores[i] = context.endpoint(candidates[i]).endpoint->address == address ? 1.0 : 0.0;
    }
  }

  void picked(SchedulingContext& context, const EndpointState& endpoint) override {
    const std::string& session = context.request->session_id;
    if (session.empty()) return;
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session);
    if (it != sessions_.end()) {
      it->second->second = endpoint.endpoint->address;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(session, endpoint.endpoint->address);
    sessions_.emplace(session, order_.begin());
    while (sessions_.size() > max_sessions_) {
      sessions_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  const size_t max_sessions_;
  std::mutex mutex_;
  // Most recent first: (session, endpoint address).
  std::list<std::pair<std::string, std::string>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator>
      sessions_;
};

}  // namespace

std::shared_ptr<Plugin> make_session_affinity_scorer(const PluginArgs& args) {
  constexpr std::string_view kKeys[] = {"maxSessions"};
  int64_t max_sessions = 100'000;
  if (args.parameters != nullptr) {
    config::MapReader p(*args.reader, *args.parameters, args.path, kKeys);
    p.read("maxSessions", max_sessions);
    if (!args.reader->ok()) return nullptr;
    if (max_sessions < 1) {
      args.reader->fail(p.node("maxSessions"), p.path("maxSessions"), "must be at least 1");
      return nullptr;
    }
  }
  return std::make_shared<SessionAffinityScorer>(static_cast<size_t>(max_sessions));
}

}  // namespace kgai::gateway
