#include "perf/client.h"

#include "common/file_limit.h"

#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "perf/client_worker.h"

namespace kgai::perf {
namespace {

using namespace std::chrono_literals;

// A benchmark may hold tens of thousands of connections: take every descriptor allowed.
// `total` spread over `parts`: the first total % parts get one more.
int share_of(int total, int parts, int part) {
  return total / parts + (part < total % parts ? 1 : 0);
}

Result<void> check_stage(const StageRun& stage) {
  for (double offset : stage.offsets) {
    if (!std::isfinite(offset) || offset < 0) {
      return fail("stage {}: send offset {} is not a time >= 0", stage.stage, offset);
    }
  }
  if (!stage.offsets.empty()) return {};
  if (stage.concurrency <= 0) {
    return fail("stage {}: no send offsets and concurrency {}: nothing to send", stage.stage,
                stage.concurrency);
  }
  if (stage.num_requests <= 0 && stage.max_duration <= 0) {
    return fail("stage {}: a closed-loop stage needs num_requests or max_duration", stage.stage);
  }
  return {};
}

class EpollClient final : public Client {
 public:
  EpollClient(ClientOptions options, const sockaddr_storage& address, socklen_t address_len)
      : options_(std::move(options)), address_(address), address_len_(address_len) {
    request_head_ =
        fmt::format("POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n",
                    options_.path, options_.host, options_.port);
    if (options_.stream) request_head_ += "Accept: text/event-stream\r\n";
    for (const auto& [name, value] : options_.headers) {
      request_head_ += fmt::format("{}: {}\r\n", name, value);
    }
    request_head_ += "Connection: keep-alive\r\n";
  }

  Result<std::vector<RequestRecord>> run_stage(
      const StageRun& stage, const RequestSource& source, SteadyTime run_start,
      SteadyTime stage_start, const std::function<void(const Progress&)>& progress) override;

 private:
  int worker_count(const StageRun& stage) const;
  void report_until_done(int workers, const std::function<void(const Progress&)>& progress);
  static std::vector<RequestRecord> merge_by_index(std::vector<std::unique_ptr<Worker>>& workers);

  ClientOptions options_;
  sockaddr_storage address_;
  socklen_t address_len_;
  std::string request_head_;

  // Workers tell the calling thread they ended (it wakes every 250 ms for progress anyway).
  std::mutex mutex_;
  std::condition_variable ended_;
  int workers_ended_ = 0;
  StageShared* shared_ = nullptr;
  SteadyTime stage_start_;
};

int EpollClient::worker_count(const StageRun& stage) const {
  int n = options_.num_workers > 0 ? options_.num_workers
                                   : static_cast<int>(std::thread::hardware_concurrency());
  n = std::max(n, 1);
  // Every worker needs a share of the requests, connections and in-flight cap.
  const int64_t requests =
      stage.offsets.empty() ? stage.concurrency : static_cast<int64_t>(stage.offsets.size());
  n = static_cast<int>(std::min<int64_t>(n, std::max<int64_t>(requests, 1)));
  if (options_.max_connections > 0) n = std::min(n, options_.max_connections);
  if (stage.max_in_flight > 0) n = std::min(n, stage.max_in_flight);
  return n;
}

Result<std::vector<RequestRecord>> EpollClient::run_stage(
    const StageRun& stage, const RequestSource& source, SteadyTime run_start,
    SteadyTime stage_start, const std::function<void(const Progress&)>& progress) {
  if (auto ok = check_stage(stage); !ok) return fail(ok.error());
  StageShared shared;
  shared.options = &options_;
  shared.stage = &stage;
  shared.source = &source;
  shared.address = address_;
  shared.address_len = address_len_;
  shared.request_head = request_head_;
  shared.run_start = run_start;
  shared.stage_start = stage_start;
  if (stage.offsets.empty() && stage.max_duration > 0) {
    shared.closed_loop_end = stage_start + std::chrono::duration_cast<SteadyTime::duration>(
                                               std::chrono::duration<double>(stage.max_duration));
  }

  const int n = worker_count(stage);
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Result<void>> results(static_cast<size_t>(n));
  for (int w = 0; w < n; ++w) {
    WorkerShare share;
    share.index = w;
    share.num_workers = n;
    share.streams = share_of(stage.concurrency, n, w);
    share.max_connections =
        options_.max_connections > 0 ? share_of(options_.max_connections, n, w) : 0;
    share.max_in_flight = stage.max_in_flight > 0 ? share_of(stage.max_in_flight, n, w) : 0;
    workers.push_back(std::make_unique<Worker>(shared, share));
  }
  {
    std::lock_guard lock(mutex_);
    workers_ended_ = 0;
    shared_ = &shared;
    stage_start_ = stage_start;
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < n; ++w) {
    threads.emplace_back([this, &workers, &results, w] {
      results[static_cast<size_t>(w)] = workers[static_cast<size_t>(w)]->run();
      std::lock_guard lock(mutex_);
      ++workers_ended_;
      ended_.notify_all();
    });
  }
  report_until_done(n, progress);
  for (auto& t : threads) t.join();
  shared_ = nullptr;
  for (auto& r : results) {
    if (!r) return fail(r.error());
  }

  return merge_by_index(workers);
}

// A stage's indices are 0..n-1, each once (open loop: the plan's; closed loop: a shared
// counter), so each record moves straight to its place; sorting hundreds of thousands of
// records showed in profiles. Should that ever not hold, a sort still gives the order.
std::vector<RequestRecord> EpollClient::merge_by_index(
    std::vector<std::unique_ptr<Worker>>& workers) {
  size_t total = 0;
  for (auto& w : workers) total += w->records().size();
  std::vector<char> seen(total, 0);
  bool dense = true;
  for (auto& w : workers) {
    for (const auto& r : w->records()) {
      dense = dense && r.index < total && !seen[r.index];
      if (dense) seen[r.index] = 1;
    }
  }
  std::vector<RequestRecord> records;
  if (dense) {
    records.resize(total);
    for (auto& w : workers) {
      for (auto& r : w->records()) records[r.index] = std::move(r);
    }
    return records;
  }
  records.reserve(total);
  for (auto& w : workers) {
    std::move(w->records().begin(), w->records().end(), std::back_inserter(records));
  }
  std::sort(records.begin(), records.end(),
            [](const RequestRecord& a, const RequestRecord& b) { return a.index < b.index; });
  return records;
}

void EpollClient::report_until_done(int workers,
                                    const std::function<void(const Progress&)>& progress) {
  std::unique_lock lock(mutex_);
  while (workers_ended_ < workers) {
    ended_.wait_for(lock, 250ms, [&] { return workers_ended_ >= workers; });
    if (!progress) continue;
    Progress p;
    p.elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start_).count();
    p.sent = shared_->sent.load(std::memory_order_relaxed);
    p.done = shared_->done.load(std::memory_order_relaxed);
    p.errors = shared_->errors.load(std::memory_order_relaxed);
    p.in_flight = p.sent >= p.done ? p.sent - p.done : 0;
    lock.unlock();  // a slow callback must not hold up a worker that ends meanwhile
    progress(p);
    lock.lock();
  }
}

}  // namespace

Result<std::unique_ptr<Client>> Client::create(ClientOptions options) {
  if (options.host.empty()) return fail("client: empty host");
  if (options.port == 0) return fail("client: port 0");
  if (options.path.empty() || options.path.front() != '/') {
    return fail("client: path '{}' must start with '/'", options.path);
  }
  if (options.num_workers < 0 || options.max_connections < 0 || options.request_timeout < 0 ||
      options.connect_timeout < 0) {
    return fail("client: num_workers, max_connections and timeouts must not be negative");
  }
  for (const auto& [name, value] : options.headers) {
    if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return fail("client: bad header '{}'", name);
    }
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  if (int rc = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found); rc != 0 || !found) {
    return fail("client: cannot resolve '{}': {}", options.host, gai_strerror(rc));
  }
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  const auto address_len = static_cast<socklen_t>(found->ai_addrlen);
  freeaddrinfo(found);
  raise_open_file_limit();
  return std::make_unique<EpollClient>(std::move(options), address, address_len);
}

}  // namespace kgai::perf
