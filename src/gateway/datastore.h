// The datastore: which endpoints the gateway routes to and their live signals. A few
// background threads scrape every endpoint's /metrics with blocking keep-alive clients (the
// proxy's event loops never do), and after each batch of scrapes or change of the endpoint
// set publish an immutable PoolSnapshot that the picker reads without locks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/pool_source.h"

namespace kgai::gateway {

struct DatastoreOptions {
  // Time from the start of one scrape of an endpoint to the start of the next
  // (50 ms: the Inference Gateway endpoint picker's default refresh interval).
  std::chrono::milliseconds scrape_interval{50};
  // Limit for connecting and for the whole exchange; a scrape over it is a failure.
  std::chrono::milliseconds scrape_timeout{1000};
  // An endpoint whose last successful scrape is older than this is published unhealthy,
  // even if no scrape failed yet (a scrape hanging longer than this, or starved threads).
  std::chrono::milliseconds stale_after{2000};
  // After failures, scrapes back off exponentially: min_backoff, twice that, ... up to
  // max_backoff, until one succeeds.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Scraper threads. 0 picks min(4, max(2, ceil(endpoints / 64))) (1 for a single endpoint),
  // growing as endpoints are added; at least two so one hung endpoint does not stall the rest.
  // One more thread watches for stale metrics.
  int scraper_threads = 0;
};

class Datastore final : public PoolSource {
 public:
  explicit Datastore(DatastoreOptions options);
  ~Datastore();  // stops the scrapers
  Datastore(const Datastore&) = delete;
  Datastore& operator=(const Datastore&) = delete;

  // Replaces the endpoint set, matching endpoints by address: one that stays keeps its id,
  // metrics, health and EndpointLoad (its labels or engine may change); a new one gets a new
  // id and is scraped at once; a removed one is forgotten (a scrape in flight for it is
  // dropped). A repeated address keeps its first entry. Publishes a snapshot. Thread-safe.
  void set_endpoints(std::vector<Endpoint> endpoints);

  // The latest published snapshot, never null (empty before set_endpoints). Cheap: one
  // shared_ptr copy under a mutex; the snapshot never changes after publication, except for
  // the EndpointLoad counters it shares with the proxy.
  std::shared_ptr<const PoolSnapshot> snapshot() const override;

  // Starts and stops the scraper threads. stop() waits for scrapes in flight, so it can take
  // up to scrape_timeout; start() after stop() resumes. Both are idempotent.
  void start();
  void stop();

  // The proxy could not connect to endpoint `id`: publishes it unhealthy now and backs its
  // scrapes off; the next successful scrape makes it healthy again. Reports while it is
  // already unhealthy change nothing (a burst of failed requests is one failure). Unknown
  // ids are ignored (the endpoint may have been removed meanwhile).
  void report_failure(uint32_t id, std::string_view why) override;

  // Blocks until every current endpoint was scraped once (or failed once) or `timeout`
  // passed; true in the first case. For startup and tests.
  bool wait_first_round(std::chrono::milliseconds timeout);

 private:
  struct Slot;
  struct Job;

  void scraper_loop();
  // Publishes endpoints unhealthy when their metrics go stale. Its own thread, because the
  // scrapers may all be stuck in the very scrapes that make metrics stale.
  void staleness_loop();
  // The due endpoints a scraper takes next (marked in flight), or none; sets `wake_at` to
  // when it should look again. Caller holds mutex_.
  std::vector<Job> take_jobs(SteadyTime now, SteadyTime& wake_at);
  void finish_jobs(std::vector<Job>& jobs);
  void mark_failed(Slot& slot, SteadyTime now, std::string why);
  // Marks unhealthy any endpoint whose metrics grew stale; true if one did.
  bool expire_stale(SteadyTime now);
  void grow_threads();
  void publish();
  Slot* find(uint32_t id);
  uint32_t allocate_id();

  const DatastoreOptions options_;

  mutable std::mutex mutex_;                    // guards everything below but snapshot_
  std::condition_variable wake_;                // scrapers: new endpoints or stop
  std::condition_variable round_done_;          // wait_first_round
  std::vector<std::unique_ptr<Slot>> slots_;    // in configuration order
  std::unordered_map<uint32_t, size_t> index_;  // id -> position in slots_
  uint32_t next_id_ = 1;
  std::vector<std::thread> threads_;
  bool running_ = false;
  bool stopping_ = false;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const PoolSnapshot> snapshot_;
};

}  // namespace kgai::gateway
