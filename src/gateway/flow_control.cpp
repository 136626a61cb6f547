#include "gateway/flow_control.h"

#include <deque>
#include <limits>
#include <unordered_map>

namespace kgai::gateway {

// (ordering key, sequence): arrival order for fcfs, deadline then arrival for edf.
using ItemKey = std::pair<int64_t, uint64_t>;

struct FlowController::Band {
  std::unordered_map<std::string, std::map<ItemKey, Item>> flows;
  std::deque<std::string> rotation;  // round-robin: flows with waiting items, next first
  std::unordered_map<uint64_t, std::pair<std::string, ItemKey>> where;  // ticket -> position
  int64_t bytes = 0;
  size_t size = 0;
};

FlowController::FlowController(FlowControlConfig config) : config_(std::move(config)) {}
FlowController::~FlowController() = default;

FlowController::Band& FlowController::band(int priority) {
  auto& slot = bands_[priority];
  if (!slot) slot = std::make_unique<Band>();
  return *slot;
}

uint64_t FlowController::enqueue(int priority, const std::string& flow, int64_t bytes,
                                 SteadyTime arrival, Callback done) {
  const SteadyTime deadline = arrival + std::chrono::duration_cast<SteadyTime::duration>(
                                            std::chrono::duration<double>(config_.ttl));
  uint64_t ticket;
  {
    std::lock_guard lock(mutex_);
    ticket = next_ticket_++;
    Band& b = band(priority);
    const bool over_total = queued_bytes_ + bytes > config_.max_bytes;
    const bool over_band =
        config_.max_bytes_per_band > 0 && b.bytes + bytes > config_.max_bytes_per_band;
    if (!over_total && !over_band) {
      const uint64_t sequence = next_sequence_++;
      const int64_t order = config_.ordering == "edf" ? deadline.time_since_epoch().count()
                                                      : static_cast<int64_t>(sequence);
      const ItemKey key{order, sequence};
      auto& items = b.flows[flow];
      if (items.empty()) b.rotation.push_back(flow);
      items.emplace(key, Item{ticket, sequence, deadline, bytes, flow, std::move(done)});
      b.where.emplace(ticket, std::pair{flow, key});
      b.bytes += bytes;
      ++b.size;
      queued_bytes_ += bytes;
      ++queued_;
      ticket_priority_.emplace(ticket, priority);
      return ticket;
    }
  }
  done(FlowOutcome::kRejected);
  return ticket;
}

bool FlowController::pop_next(Item* out) {
  for (auto& [priority, b] : bands_) {
    if (b->size == 0) continue;
    std::string flow;
    if (config_.fairness == "global-strict") {
      uint64_t best = std::numeric_limits<uint64_t>::max();
      for (const auto& [name, items] : b->flows) {
        if (!items.empty() && items.begin()->second.sequence < best) {
          best = items.begin()->second.sequence;
          flow = name;
        }
      }
    } else {
      flow = b->rotation.front();
      b->rotation.pop_front();
    }
    auto& items = b->flows[flow];
    auto first = items.begin();
    *out = std::move(first->second);
    items.erase(first);
    if (items.empty()) {
      b->flows.erase(flow);
      if (config_.fairness == "global-strict") {
        std::erase(b->rotation, flow);
      }
    } else if (config_.fairness != "global-strict") {
      b->rotation.push_back(flow);  // its next request waits for the other flows' turns
    }
    b->where.erase(out->ticket);
    b->bytes -= out->bytes;
    --b->size;
    queued_bytes_ -= out->bytes;
    --queued_;
    ticket_priority_.erase(out->ticket);
    return true;
  }
  return false;
}

size_t FlowController::release(const std::function<bool()>& has_capacity) {
  size_t released = 0;
  while (true) {
    Item item;
    {
      std::lock_guard lock(mutex_);
      if (queued_ == 0) break;
    }
    if (!has_capacity()) break;
    {
      std::lock_guard lock(mutex_);
      if (!pop_next(&item)) break;
    }
    item.done(FlowOutcome::kDispatch);
    ++released;
  }
  return released;
}

size_t FlowController::expire(SteadyTime now) {
  std::vector<Callback> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto& [priority, b] : bands_) {
      for (auto flow_it = b->flows.begin(); flow_it != b->flows.end();) {
        auto& items = flow_it->second;
        for (auto it = items.begin(); it != items.end();) {
          if (it->second.deadline > now) {
            ++it;
            continue;
          }
          expired.push_back(std::move(it->second.done));
          b->where.erase(it->second.ticket);
          ticket_priority_.erase(it->second.ticket);
          b->bytes -= it->second.bytes;
          --b->size;
          queued_bytes_ -= it->second.bytes;
          --queued_;
          it = items.erase(it);
        }
        if (items.empty()) {
          std::erase(b->rotation, flow_it->first);
          flow_it = b->flows.erase(flow_it);
        } else {
          ++flow_it;
        }
      }
    }
  }
  for (auto& done : expired) done(FlowOutcome::kExpired);
  return expired.size();
}

bool FlowController::cancel(uint64_t ticket) {
  Callback done;
  {
    std::lock_guard lock(mutex_);
    auto p = ticket_priority_.find(ticket);
    if (p == ticket_priority_.end()) return false;
    Band& b = *bands_[p->second];
    ticket_priority_.erase(p);
    auto w = b.where.find(ticket);
    auto& items = b.flows[w->second.first];
    auto it = items.find(w->second.second);
    done = std::move(it->second.done);
    b.bytes -= it->second.bytes;
    queued_bytes_ -= it->second.bytes;
    --b.size;
    --queued_;
    items.erase(it);
    if (items.empty()) {
      std::erase(b.rotation, w->second.first);
      b.flows.erase(w->second.first);
    }
    b.where.erase(w);
  }
  done(FlowOutcome::kCancelled);
  return true;
}

bool FlowController::empty() const {
  std::lock_guard lock(mutex_);
  return queued_ == 0;
}

FlowController::Stats FlowController::stats() const {
  std::lock_guard lock(mutex_);
  Stats s;
  s.queued = queued_;
  s.queued_bytes = queued_bytes_;
  for (const auto& [priority, b] : bands_) {
    if (b->size > 0) s.queued_by_priority[priority] = b->size;
  }
  return s;
}

SteadyTime FlowController::next_deadline() const {
  std::lock_guard lock(mutex_);
  SteadyTime next = SteadyTime::max();
  for (const auto& [priority, b] : bands_) {
    for (const auto& [flow, items] : b->flows) {
      for (const auto& [key, item] : items) next = std::min(next, item.deadline);
    }
  }
  return next;
}

}  // namespace kgai::gateway
