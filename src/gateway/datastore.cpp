#include "gateway/datastore.h"

#include <algorithm>
#include <atomic>
#include <optional>

#include "common/http_client.h"
#include "common/log.h"
#include "gateway/engine_metrics.h"

namespace kgai::gateway {
namespace {

// Due endpoints one scraper takes at a time. Small, so one slow endpoint delays few others;
// above 1, so a thousand endpoints do not mean a thousand snapshots per interval.
constexpr size_t kMaxBatch = 8;

using Clock = std::chrono::steady_clock;

int threads_for(const DatastoreOptions& options, size_t endpoints) {
  if (options.scraper_threads > 0) return options.scraper_threads;
  const size_t by_count = (endpoints + 63) / 64;
  return static_cast<int>(
      std::clamp<size_t>(std::max(by_count, std::min<size_t>(endpoints, 2)), 1, 4));
}

std::chrono::milliseconds backoff(const DatastoreOptions& options, int failures) {
  const int doublings = std::clamp(failures - 1, 0, 30);
  const auto delay = options.min_backoff * (int64_t{1} << doublings);
  return std::min(delay, options.max_backoff);
}

Result<EngineMetrics> scrape(http::Client& client, EngineType engine) {
  http::Request request;
  request.target = "/metrics";
  request.headers.push_back({"Accept", "text/plain;version=0.0.4"});
  auto response = client.send(request);
  if (!response) return fail(std::move(response.error()));
  if (response->status != 200) return fail("/metrics answered HTTP {}", response->status);
  auto metrics = read_engine_metrics(response->body, engine);
  if (!metrics) return fail("/metrics: {}", metrics.error().message);
  return metrics;
}

}  // namespace

struct Datastore::Slot {
  uint32_t id = 0;
  std::shared_ptr<const Endpoint> endpoint;
  EngineMetrics metrics;
  SteadyTime scraped_at{};
  bool healthy = false;
  std::shared_ptr<EndpointLoad> load = std::make_shared<EndpointLoad>();

  SteadyTime next_due{};
  bool in_flight = false;
  bool attempted = false;                // scraped or failed at least once
  int failures = 0;                      // consecutive
  std::unique_ptr<http::Client> client;  // null while a scraper holds it
};

struct Datastore::Job {
  uint32_t id = 0;
  std::shared_ptr<const Endpoint> endpoint;
  std::unique_ptr<http::Client> client;
  SteadyTime started{};
  std::optional<Result<EngineMetrics>> result;  // empty: not run (stopping)
};

Datastore::Datastore(DatastoreOptions options)
    : options_(options), snapshot_(std::make_shared<PoolSnapshot>()) {}

Datastore::~Datastore() { stop(); }

std::shared_ptr<const PoolSnapshot> Datastore::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

void Datastore::publish() {
  auto snapshot = std::make_shared<PoolSnapshot>();
  snapshot->taken_at = Clock::now();
  snapshot->endpoints.reserve(slots_.size());
  for (const auto& slot : slots_) {
    snapshot->endpoints.push_back(EndpointState{.id = slot->id,
                                                .endpoint = slot->endpoint,
                                                .metrics = slot->metrics,
                                                .scraped_at = slot->scraped_at,
                                                .healthy = slot->healthy,
                                                .load = slot->load});
  }
  std::shared_ptr<const PoolSnapshot> published = std::move(snapshot);
  std::lock_guard lock(snapshot_mutex_);
  snapshot_.swap(published);
  // The old snapshot is released after the lock, by `published` going out of scope.
}

Datastore::Slot* Datastore::find(uint32_t id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : slots_[it->second].get();
}

uint32_t Datastore::allocate_id() {
  // Ids only wrap after four billion additions; even then, skip the ones still in use.
  while (next_id_ == 0 || index_.contains(next_id_)) ++next_id_;
  return next_id_++;
}

void Datastore::set_endpoints(std::vector<Endpoint> endpoints) {
  std::lock_guard lock(mutex_);
  std::unordered_map<std::string_view, std::unique_ptr<Slot>*> old_by_address;
  for (auto& slot : slots_) old_by_address.emplace(slot->endpoint->address, &slot);

  std::vector<std::unique_ptr<Slot>> next;
  next.reserve(endpoints.size());
  std::vector<std::string_view> kept;
  for (Endpoint& endpoint : endpoints) {
    if (std::find(kept.begin(), kept.end(), endpoint.address) != kept.end()) {
      log::warn("gateway: endpoint {} listed twice; using its first entry", endpoint.address);
      continue;
    }
    std::unique_ptr<Slot> slot;
    if (auto it = old_by_address.find(endpoint.address); it != old_by_address.end()) {
      slot = std::move(*it->second);
      old_by_address.erase(it);
      if (*slot->endpoint != endpoint) {
        if (slot->endpoint->engine != endpoint.engine) slot->metrics = EngineMetrics{};
        slot->endpoint = std::make_shared<const Endpoint>(std::move(endpoint));
      }
    } else {
      slot = std::make_unique<Slot>();  // id 0: numbered below, once removed ids are free
      slot->endpoint = std::make_shared<const Endpoint>(std::move(endpoint));
    }
    kept.push_back(slot->endpoint->address);
    next.push_back(std::move(slot));
  }
  for (const auto& [address, slot] : old_by_address) {
    log::info("gateway: endpoint {} (id {}) removed", address, (*slot)->id);
  }
  // Ids of kept endpoints stay reserved while new ones are numbered.
  index_.clear();
  for (size_t i = 0; i < next.size(); ++i) {
    if (next[i]->id != 0) index_.emplace(next[i]->id, i);
  }
  for (size_t i = 0; i < next.size(); ++i) {
    if (next[i]->id != 0) continue;
    next[i]->id = allocate_id();
    index_.emplace(next[i]->id, i);
    log::info("gateway: endpoint {} (id {}, {}) added", next[i]->endpoint->address, next[i]->id,
              engine_name(next[i]->endpoint->engine));
  }
  slots_ = std::move(next);
  publish();
  grow_threads();
  wake_.notify_all();
  round_done_.notify_all();
}

void Datastore::start() {
  std::lock_guard lock(mutex_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  grow_threads();
}

void Datastore::grow_threads() {
  if (!running_ || stopping_) return;
  if (threads_.empty()) threads_.emplace_back([this] { staleness_loop(); });
  // threads_[0] is the staleness watch; the rest scrape.
  const int want = threads_for(options_, slots_.size()) + 1;
  while (static_cast<int>(threads_.size()) < want) {
    threads_.emplace_back([this] { scraper_loop(); });
  }
}

void Datastore::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& thread : threads) thread.join();
  std::lock_guard lock(mutex_);
  running_ = false;
  stopping_ = false;
}

void Datastore::report_failure(uint32_t id, std::string_view why) {
  std::lock_guard lock(mutex_);
  Slot* slot = find(id);
  if (slot == nullptr || !slot->healthy) return;
  mark_failed(*slot, Clock::now(), fmt::format("{} (reported by the proxy)", why));
  publish();
}

void Datastore::mark_failed(Slot& slot, SteadyTime now, std::string why) {
  ++slot.failures;
  const auto delay = backoff(options_, slot.failures);
  if (!slot.in_flight) slot.next_due = now + delay;
  if (slot.healthy || !slot.attempted) {
    log::warn("gateway: endpoint {} (id {}) unhealthy: {}; retrying in {} ms, backing off",
              slot.endpoint->address, slot.id, why, delay.count());
  } else {
    log::debug("gateway: endpoint {} (id {}) still unhealthy: {}", slot.endpoint->address, slot.id,
               why);
  }
  slot.healthy = false;
  slot.attempted = true;
}

bool Datastore::expire_stale(SteadyTime now) {
  bool changed = false;
  for (auto& slot : slots_) {
    if (!slot->healthy || now - slot->scraped_at <= options_.stale_after) continue;
    slot->healthy = false;
    changed = true;
    log::warn(
        "gateway: endpoint {} (id {}) unhealthy: no successful scrape for {} ms",
        slot->endpoint->address, slot->id,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - slot->scraped_at).count());
  }
  return changed;
}

std::vector<Datastore::Job> Datastore::take_jobs(SteadyTime now, SteadyTime& wake_at) {
  wake_at = now + options_.scrape_interval;
  std::vector<Slot*> due;
  for (auto& slot : slots_) {
    if (slot->in_flight) continue;
    if (slot->next_due <= now) {
      due.push_back(slot.get());
    } else {
      wake_at = std::min(wake_at, slot->next_due);
    }
  }
  // Longest waiting first. A failing endpoint is scraped alone, since it is the one likely
  // to take the whole timeout.
  std::sort(due.begin(), due.end(),
            [](const Slot* a, const Slot* b) { return a->next_due < b->next_due; });
  std::vector<Slot*> taken;
  for (Slot* slot : due) {
    if (slot->failures > 0) {
      if (taken.empty()) taken.push_back(slot);
      break;
    }
    taken.push_back(slot);
    if (taken.size() == kMaxBatch) break;
  }
  std::vector<Job> jobs;
  jobs.reserve(taken.size());
  for (Slot* slot : taken) {
    slot->in_flight = true;
    if (!slot->client) {
      http::ClientOptions client_options;
      client_options.connect_timeout = options_.scrape_timeout;
      client_options.request_timeout = options_.scrape_timeout;
      slot->client = std::make_unique<http::Client>(slot->endpoint->host, slot->endpoint->port,
                                                    client_options);
    }
    jobs.push_back(
        Job{.id = slot->id, .endpoint = slot->endpoint, .client = std::move(slot->client)});
  }
  return jobs;
}

void Datastore::finish_jobs(std::vector<Job>& jobs) {
  const SteadyTime now = Clock::now();
  for (Job& job : jobs) {
    Slot* slot = find(job.id);
    if (slot == nullptr) continue;  // removed while we scraped it
    slot->in_flight = false;
    if (!job.result) {  // stopping: not scraped
      slot->client = std::move(job.client);
      continue;
    }
    if (*job.result) {
      if (!slot->healthy) {
        log::info("gateway: endpoint {} (id {}) healthy", slot->endpoint->address, slot->id);
      }
      // The engine may have changed while this scrape ran; then its names were the old ones.
      if (slot->endpoint->engine == job.endpoint->engine) slot->metrics = std::move(**job.result);
      slot->scraped_at = now;
      slot->healthy = true;
      slot->attempted = true;
      slot->failures = 0;
      slot->next_due = job.started + options_.scrape_interval;
      slot->client = std::move(job.client);
    } else {
      mark_failed(*slot, now, job.result->error().message);
      // A failed exchange can leave the connection mid-response; start the next one afresh.
      job.client->close();
      slot->client = std::move(job.client);
    }
  }
}

void Datastore::scraper_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const SteadyTime now = Clock::now();
    SteadyTime wake_at;
    std::vector<Job> jobs = take_jobs(now, wake_at);
    if (jobs.empty()) {
      wake_.wait_until(lock, wake_at);
      continue;
    }
    lock.unlock();
    for (Job& job : jobs) {
      {
        // stop() waits for these threads; skip what is left of the batch once it is asked.
        std::lock_guard check(mutex_);
        if (stopping_) break;
      }
      job.started = Clock::now();
      job.result = scrape(*job.client, job.endpoint->engine);
    }
    lock.lock();
    finish_jobs(jobs);
    publish();
    round_done_.notify_all();
  }
}

void Datastore::staleness_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const SteadyTime now = Clock::now();
    if (expire_stale(now)) publish();
    SteadyTime wake_at = now + options_.stale_after;
    for (const auto& slot : slots_) {
      if (slot->healthy) wake_at = std::min(wake_at, slot->scraped_at + options_.stale_after);
    }
    // A millisecond past the deadline, so the comparison in expire_stale sees it passed.
    wake_.wait_until(lock, wake_at + std::chrono::milliseconds(1));
  }
}

bool Datastore::wait_first_round(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return round_done_.wait_for(lock, timeout, [this] {
    return std::all_of(slots_.begin(), slots_.end(),
                       [](const auto& slot) { return slot->attempted; });
  });
}

}  // namespace kgai::gateway
