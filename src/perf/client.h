// The load generator's HTTP client: sends a stage's requests at their planned times (open
// loop) or keeps N streams busy (closed loop), and records every request's timings. It has
// its own epoll loops (one per worker thread) and a minimal HTTP/1.1 response parser: being
// the bottleneck of a benchmark is the one thing it must never be.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "perf/record.h"

namespace kgai::perf {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  std::string path = "/v1/completions";  // or /v1/chat/completions
  bool stream = false;                   // the requests ask for SSE streaming
  // Extra headers on every request (e.g. "Authorization: Bearer ...").
  std::vector<std::pair<std::string, std::string>> headers;
  int num_workers = 0;          // threads; 0 = one per core
  int max_connections = 0;      // across workers; 0 = one per request in flight
  double request_timeout = 0;   // seconds; 0 = none
  double connect_timeout = 10;  // seconds
};

// The body of request `index` of a stage. Called from worker threads, possibly out of order
// and concurrently: it must be a pure function of the index (seed a generator from it).
struct OutgoingRequest {
  std::string body;
  int input_tokens = 0;  // the prompt's token count, used when the server reports no usage
  std::string lora;
};
using RequestSource = std::function<OutgoingRequest(uint64_t index)>;

struct StageRun {
  int stage = 0;
  // Open loop: send request i at start + offsets[i] seconds, however many are in flight
  // (unless max_in_flight caps it; then a request waits, and its schedule delay shows it).
  std::vector<double> offsets;
  // Closed loop (when offsets is empty): keep `concurrency` requests in flight until
  // `num_requests` were sent, or `max_duration` seconds passed (0 = no limit).
  int concurrency = 0;
  int64_t num_requests = 0;
  double max_duration = 0;
  int max_in_flight = 0;  // 0 = no cap
};

struct Progress {
  double elapsed = 0;  // seconds since the stage start
  uint64_t sent = 0;
  uint64_t in_flight = 0;
  uint64_t done = 0;
  uint64_t errors = 0;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> create(ClientOptions options);
  virtual ~Client() = default;

  // Runs one stage starting at `stage_start` and blocks until every request ended. Times in
  // the records are seconds since `run_start`. `progress` (may be empty) is called about every
  // 250 ms from the calling thread. Records come back ordered by index.
  virtual Result<std::vector<RequestRecord>> run_stage(
      const StageRun& stage, const RequestSource& source, SteadyTime run_start,
      SteadyTime stage_start, const std::function<void(const Progress&)>& progress) = 0;
};

}  // namespace kgai::perf
