// The scheduling framework of the endpoint picker, as the Inference Gateway defines it: a
// profile runs filters in sequence, then every scorer (each gives each remaining endpoint a
// score in [0, 1]), sums weight x score per endpoint, and lets one picker rank the endpoints.
// Post-pick hooks learn the outcome (the prefix scorer records which endpoint now holds the
// request's prefix). Plugins know nothing of sockets or threads: the standalone proxy and an
// Envoy ext_proc server are two thin callers of Scheduler::schedule().
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/request_info.h"

namespace kgai::gateway {

// One scheduling cycle: the request, the pool as the datastore last saw it, and scratch space
// that plugins share within the cycle (the prefix scorer hashes once, its post-pick hook
// records the same hashes).
struct SchedulingContext {
  const RequestInfo* request = nullptr;
  const PoolSnapshot* pool = nullptr;
  SteadyTime now{};
  std::mt19937_64* rng = nullptr;       // for random tie-breaks and random pickers
  std::vector<uint64_t> prefix_hashes;  // set by the prefix scorer
  // Only these endpoints ("host:port", or "host" for any port of it) may be candidates (a
  // gateway's subset hint); empty: all.
  std::span<const std::string> subset;
  bool trace = false;  // collect a human-readable trace (x-kgai-debug)
  std::string trace_text;

  const EndpointState& endpoint(uint32_t index) const { return pool->endpoints[index]; }
};

// Candidates are indexes into the snapshot's endpoints.
using Candidates = std::vector<uint32_t>;

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string_view type() const = 0;
};

// Removes candidates. Leaving none is allowed: the profile then answers "no endpoint".
class Filter : public virtual Plugin {
 public:
  virtual void filter(SchedulingContext& context, Candidates& candidates) = 0;
};

// Writes scores[i] in [0, 1] for candidates[i]; higher is better. Scores arrive zeroed.
class Scorer : public virtual Plugin {
 public:
  virtual void score(SchedulingContext& context, std::span<const uint32_t> candidates,
                     std::span<double> scores) = 0;
};

// Orders candidates by preference given their weighted totals (best first). The first is the
// pick; the rest are fallbacks for retries.
class Picker : public virtual Plugin {
 public:
  virtual void pick(SchedulingContext& context, std::span<const uint32_t> candidates,
                    std::span<const double> totals, std::vector<uint32_t>& ranked) = 0;
};

// Told which endpoint a request went to.
class PostPick : public virtual Plugin {
 public:
  virtual void picked(SchedulingContext& context, const EndpointState& endpoint) = 0;
};

struct WeightedScorer {
  std::string name;
  std::shared_ptr<Scorer> scorer;
  double weight = 1;
};

struct SchedulingProfile {
  std::string name = "default";
  std::vector<std::pair<std::string, std::shared_ptr<Filter>>> filters;
  std::vector<WeightedScorer> scorers;
  std::pair<std::string, std::shared_ptr<Picker>> picker;
  std::vector<std::shared_ptr<PostPick>> post_picks;
};

struct Decision {
  // Endpoint indexes into the snapshot, best first; empty when no endpoint can serve.
  std::vector<uint32_t> ranked;
  std::string reason;  // why `ranked` is empty
};

// Runs one profile. Unhealthy endpoints and those whose metrics are older than
// `stale_after` seconds never become candidates. Thread-safe if the plugins are.
class Scheduler {
 public:
  Scheduler(SchedulingProfile profile, double stale_after_seconds);

  Decision schedule(SchedulingContext& context) const;
  // Runs the post-pick hooks for the endpoint the request was sent to.
  void picked(SchedulingContext& context, uint32_t index) const;

  const SchedulingProfile& profile() const { return profile_; }

 private:
  SchedulingProfile profile_;
  double stale_after_;
};

}  // namespace kgai::gateway
