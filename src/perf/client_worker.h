// One worker of the perf client: a thread's epoll loop that owns its connections, sends its
// share of a stage's requests and records them. Private to the perf module.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/openai_json.h"
#include "common/result.h"
#include "perf/client.h"
#include "perf/record.h"
#include "perf/response_parser.h"

namespace kgai::perf {

// What every worker of a stage shares: the plan, and counters for progress reports.
struct StageShared {
  const ClientOptions* options = nullptr;
  const StageRun* stage = nullptr;
  const RequestSource* source = nullptr;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  std::string request_head;  // request line and fixed headers, without Content-Length
  SteadyTime run_start;
  SteadyTime stage_start;
  SteadyTime closed_loop_end = SteadyTime::max();  // no new closed-loop request after it

  std::atomic<int64_t> next_index{0};  // closed loop: the next request index to take
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> errors{0};
};

// A worker's share of a stage.
struct WorkerShare {
  int index = 0;            // this worker's number
  int num_workers = 1;      // open loop: it sends requests index, index + num_workers, ...
  int streams = 0;          // closed loop: requests it keeps in flight
  int max_connections = 0;  // 0 = no cap
  int max_in_flight = 0;    // 0 = no cap
};

class Worker {
 public:
  Worker(StageShared& shared, WorkerShare share);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until the worker's requests all ended. Fails only when epoll itself does.
  Result<void> run();
  std::vector<RequestRecord>& records() { return records_; }

 private:
  enum class ConnState { kClosed, kConnecting, kIdle, kWriting, kReading };
  struct Pending {
    uint64_t index;
    double scheduled;
  };
  struct Conn;
  struct Deadline {
    SteadyTime when;
    uint32_t conn;
    uint64_t serial;
    bool operator>(const Deadline& other) const { return when > other.when; }
  };

  double seconds(SteadyTime t) const;
  void admit_due(SteadyTime now);
  void next_closed_loop_request(SteadyTime now);
  void dispatch();
  Conn* acquire();
  void start_request(Conn& c, const Pending& pending);
  void open_connection(Conn& c);
  void send_request(Conn& c);
  void write_some(Conn& c);
  void set_events(Conn& c, uint32_t events);
  bool update_events(Conn& c, uint32_t events);
  void on_event(Conn& c, uint32_t events);
  void on_readable(Conn& c);
  void feed_body(Conn& c, const char* data, size_t size);
  bool on_sse_event(Conn& c, std::string_view data);
  void complete_response(Conn& c, bool reusable);
  void release(Conn& c, bool reusable);
  void fail_request(Conn& c, ErrorKind kind, std::string message);
  void end_request(Conn& c);
  void close_connection(Conn& c);
  void arm_deadline(Conn& c, double seconds_from_now);
  void expire_deadlines(SteadyTime now);
  SteadyTime next_wake() const;
  bool finished() const;
  int wait(SteadyTime until, void* events, int max_events);
  ssize_t read_stamped(Conn& c);

  StageShared& shared_;
  WorkerShare share_;
  int epoll_fd_ = -1;
  bool have_pwait2_ = true;
  std::vector<char> buffer_;  // one read buffer for all of this worker's connections
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint32_t> idle_;        // connections ready for a request (LIFO: warm ones first)
  std::vector<uint32_t> free_slots_;  // closed connection slots
  int open_connections_ = 0;
  int in_flight_ = 0;
  std::deque<Pending> pending_;  // due, waiting for a connection or the in-flight cap
  size_t next_due_ = 0;          // open loop: the next of this worker's requests to admit
  size_t num_due_ = 0;           // open loop: how many requests this worker has
  bool closed_loop_started_ = false;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  // When the bytes of the current read arrived: the kernel's receive time of the last segment
  // read (SO_TIMESTAMPNS) when it gives one, else when read() returned. Every token in the
  // read is stamped with it.
  SteadyTime read_time_;
  bool kernel_timestamps_ = true;  // false once the kernel refused SO_TIMESTAMPNS
  std::vector<RequestRecord> records_;
  OpenAiJson json_;
};

}  // namespace kgai::perf
