#include "perf/client_worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace kgai::perf {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadBufferSize = 1 << 20;  // one read drains a socket even after a stall
constexpr size_t kMaxBody = 64 << 20;        // a whole JSON response
constexpr size_t kMaxErrorBodyKept = 64 << 10;
constexpr int kMaxEvents = 1024;
constexpr size_t kMinTokenTimes = 16;

bool is_success(int status) { return status >= 200 && status < 300; }

SteadyTime after(SteadyTime t, double seconds) {
  return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

// One connection, and the request it carries (at most one: no pipelining).
struct Worker::Conn {
  uint32_t slot = 0;
  int fd = -1;
  uint32_t generation = 0;  // tells events of a closed socket from those of its successor
  uint64_t serial = 0;      // bumped whenever a pending deadline stops applying
  uint32_t events = 0;      // what epoll watches now
  ConnState state = ConnState::kClosed;
  std::string out;  // the request's bytes
  size_t written = 0;
  size_t record = 0;  // position in records_
  SteadyTime sent_at;
  ResponseParser parser;
  SseEventReader sse;
  std::string body;  // a JSON body, or an error body
  bool event_stream = false;
  bool done_event = false;
  int content_chunks = 0;
  UsageFields usage;
  // A failure found while the parser hands out body bytes; acted on once feed() returns.
  ErrorKind abort_kind = ErrorKind::kNone;
  std::string abort_message;
};

Worker::Worker(StageShared& shared, WorkerShare share) : shared_(shared), share_(share) {}

Worker::~Worker() {
  for (auto& c : conns_) {
    if (c->fd >= 0) ::close(c->fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

double Worker::seconds(SteadyTime t) const {
  return std::chrono::duration<double>(t - shared_.run_start).count();
}

Result<void> Worker::run() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fail("epoll_create1: {}", std::strerror(errno));
  buffer_.resize(kReadBufferSize);
  // The kernel may let a sleep overrun by the thread's timer slack (50 us by default), which
  // would land in every send time; ask for none.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const StageRun& stage = *shared_.stage;
  if (!stage.offsets.empty()) {
    const auto total = stage.offsets.size();
    const auto w = static_cast<size_t>(share_.index);
    const auto n = static_cast<size_t>(share_.num_workers);
    num_due_ = total > w ? (total - w + n - 1) / n : 0;
    records_.reserve(num_due_);
  } else if (stage.num_requests > 0) {
    // Workers take closed-loop requests from one counter, about evenly: a worker that takes
    // more grows its vector once or twice instead of a dozen times.
    records_.reserve(static_cast<size_t>(stage.num_requests / share_.num_workers + 1));
  }
  std::array<epoll_event, kMaxEvents> events;
  while (true) {
    const SteadyTime now = Clock::now();
    admit_due(now);
    expire_deadlines(now);
    dispatch();
    if (finished()) break;
    const int n = wait(next_wake(), events.data(), kMaxEvents);
    if (n < 0) return fail("epoll_wait: {}", std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      const uint64_t data = events[static_cast<size_t>(i)].data.u64;
      Conn& c = *conns_[data & 0xffffffffu];
      // Skip events of a socket closed earlier in this batch.
      if (c.fd < 0 || c.generation != static_cast<uint32_t>(data >> 32)) continue;
      on_event(c, events[static_cast<size_t>(i)].events);
    }
  }
  return {};
}

// Sleeps in epoll until `until` at the latest. epoll_wait counts in milliseconds, too coarse
// for send times; epoll_pwait2 takes nanoseconds. Without it (kernels before 5.11) the last
// sub-millisecond is spent polling.
int Worker::wait(SteadyTime until, void* events, int max_events) {
  auto* ev = static_cast<epoll_event*>(events);
  while (true) {
    const auto left =
        until == SteadyTime::max()
            ? std::chrono::nanoseconds::max()
            : std::chrono::duration_cast<std::chrono::nanoseconds>(until - Clock::now());
    int n;
    if (have_pwait2_) {
      timespec ts{};
      const timespec* timeout = nullptr;
      if (left != std::chrono::nanoseconds::max()) {
        const int64_t ns = std::max<int64_t>(0, left.count());
        ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        timeout = &ts;
      }
      n = epoll_pwait2(epoll_fd_, ev, max_events, timeout, nullptr);
      if (n < 0 && errno == ENOSYS) {
        have_pwait2_ = false;
        continue;
      }
    } else {
      int ms = -1;
      if (left != std::chrono::nanoseconds::max()) {
        ms = static_cast<int>(std::clamp<int64_t>(left.count() / 1'000'000, 0, 60'000));
      }
      n = epoll_wait(epoll_fd_, ev, max_events, ms);
    }
    if (n < 0 && errno == EINTR) return 0;
    return n;
  }
}

bool Worker::finished() const {
  if (!pending_.empty() || in_flight_ > 0) return false;
  if (shared_.stage->offsets.empty()) return closed_loop_started_;
  return next_due_ >= num_due_;
}

SteadyTime Worker::next_wake() const {
  SteadyTime wake = SteadyTime::max();
  if (shared_.stage->offsets.empty()) {
    if (!closed_loop_started_) wake = shared_.stage_start;
  } else if (next_due_ < num_due_) {
    const size_t i = static_cast<size_t>(share_.index) + next_due_ * share_.num_workers;
    wake = after(shared_.stage_start, shared_.stage->offsets[i]);
  }
  if (!deadlines_.empty()) wake = std::min(wake, deadlines_.top().when);
  return wake;
}

void Worker::admit_due(SteadyTime now) {
  const StageRun& stage = *shared_.stage;
  if (stage.offsets.empty()) {
    if (closed_loop_started_ || now < shared_.stage_start) return;
    closed_loop_started_ = true;
    for (int k = 0; k < share_.streams; ++k) next_closed_loop_request(shared_.stage_start);
    return;
  }
  const double stage_offset = seconds(shared_.stage_start);
  while (next_due_ < num_due_) {
    const size_t i = static_cast<size_t>(share_.index) + next_due_ * share_.num_workers;
    if (after(shared_.stage_start, stage.offsets[i]) > now) break;
    pending_.push_back({i, stage_offset + stage.offsets[i]});
    ++next_due_;
  }
}

// Closed loop: the stream that just became free takes the next index, if any is left.
void Worker::next_closed_loop_request(SteadyTime now) {
  if (now >= shared_.closed_loop_end) return;
  const int64_t limit = shared_.stage->num_requests;
  if (limit > 0 && shared_.next_index.load(std::memory_order_relaxed) >= limit) return;
  const int64_t index = shared_.next_index.fetch_add(1, std::memory_order_relaxed);
  if (limit > 0 && index >= limit) return;
  pending_.push_back({static_cast<uint64_t>(index), seconds(now)});
}

void Worker::dispatch() {
  while (!pending_.empty() && (share_.max_in_flight == 0 || in_flight_ < share_.max_in_flight)) {
    Conn* c = acquire();
    if (c == nullptr) return;  // every connection busy and no more allowed
    const Pending next = pending_.front();
    pending_.pop_front();
    start_request(*c, next);
  }
}

Worker::Conn* Worker::acquire() {
  while (!idle_.empty()) {
    Conn& c = *conns_[idle_.back()];
    idle_.pop_back();
    if (c.state == ConnState::kIdle) return &c;  // else it closed while idle
  }
  if (share_.max_connections > 0 && open_connections_ >= share_.max_connections) return nullptr;
  if (!free_slots_.empty()) {
    Conn* c = conns_[free_slots_.back()].get();
    free_slots_.pop_back();
    return c;
  }
  conns_.push_back(std::make_unique<Conn>());
  conns_.back()->slot = static_cast<uint32_t>(conns_.size() - 1);
  return conns_.back().get();
}

void Worker::start_request(Conn& c, const Pending& pending) {
  RequestRecord& record = records_.emplace_back();
  c.record = records_.size() - 1;
  record.stage = shared_.stage->stage;
  record.index = pending.index;
  record.scheduled = pending.scheduled;
  // Built here, just before it goes out, so a huge stage never holds all its bodies at once.
  OutgoingRequest request = (*shared_.source)(pending.index);
  record.input_tokens = request.input_tokens;
  record.lora = std::move(request.lora);
  c.out.assign(shared_.request_head);
  // format_int: no format string to parse on every request.
  const fmt::format_int length(request.body.size());
  c.out.append("Content-Length: ").append(length.data(), length.size());
  c.out.append("\r\n\r\n");
  c.out.append(request.body);
  c.written = 0;
  c.parser.reset();
  c.sse.reset();
  c.body.clear();
  c.event_stream = false;
  c.done_event = false;
  c.content_chunks = 0;
  c.usage = {};
  c.abort_kind = ErrorKind::kNone;
  c.abort_message.clear();
  ++in_flight_;
  if (c.state == ConnState::kIdle) {
    send_request(c);
  } else {
    open_connection(c);
  }
}

void Worker::open_connection(Conn& c) {
  const ClientOptions& options = *shared_.options;
  c.fd = ::socket(shared_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ++c.generation;
  ++open_connections_;
  c.state = ConnState::kConnecting;  // from here on close_connection() undoes it
  if (c.fd < 0) {
    return fail_request(c, ErrorKind::kConnect, fmt::format("socket: {}", std::strerror(errno)));
  }
  int one = 1;
  // Requests are single small writes; Nagle would only hold them back.
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Receive times from the kernel: when many streams get a token at once, the last socket
  // this worker reads would otherwise carry the time spent reading the others.
  if (kernel_timestamps_ && setsockopt(c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0) {
    kernel_timestamps_ = false;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = (static_cast<uint64_t>(c.generation) << 32) | c.slot;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    return fail_request(c, ErrorKind::kConnect, fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
  c.events = EPOLLOUT;
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&shared_.address), shared_.address_len) !=
          0 &&
      errno != EINPROGRESS) {
    return fail_request(
        c, ErrorKind::kConnect,
        fmt::format("connect to {}:{}: {}", options.host, options.port, std::strerror(errno)));
  }
  // Writable means connected (or failed: SO_ERROR says which); the request goes out then.
  if (options.connect_timeout > 0) arm_deadline(c, options.connect_timeout);
}

void Worker::send_request(Conn& c) {
  c.state = ConnState::kWriting;
  c.sent_at = Clock::now();
  records_[c.record].sent = seconds(c.sent_at);
  shared_.sent.fetch_add(1, std::memory_order_relaxed);
  ++c.serial;  // the connect deadline no longer applies
  if (shared_.options->request_timeout > 0) arm_deadline(c, shared_.options->request_timeout);
  write_some(c);
}

void Worker::write_some(Conn& c) {
  while (c.written < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return set_events(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
    } else {
      return fail_request(c, ErrorKind::kBrokenStream,
                          fmt::format("send: {}", std::strerror(n < 0 ? errno : EPIPE)));
    }
  }
  if (c.state == ConnState::kWriting) c.state = ConnState::kReading;
  set_events(c, EPOLLIN | EPOLLRDHUP);
}

void Worker::set_events(Conn& c, uint32_t events) {
  if (!update_events(c, events)) {
    fail_request(c, ErrorKind::kBrokenStream, fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
}

bool Worker::update_events(Conn& c, uint32_t events) {
  if (c.events == events) return true;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (static_cast<uint64_t>(c.generation) << 32) | c.slot;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) return false;
  c.events = events;
  return true;
}

void Worker::on_event(Conn& c, uint32_t events) {
  if (c.state == ConnState::kConnecting) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      return fail_request(c, ErrorKind::kConnect,
                          fmt::format("connect to {}:{}: {}", shared_.options->host,
                                      shared_.options->port, std::strerror(error)));
    }
    return send_request(c);
  }
  if ((events & EPOLLOUT) && c.state == ConnState::kWriting) write_some(c);
  if (c.fd < 0) return;
  // Errors and hang-ups are learnt from read(), which also delivers any bytes still queued.
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(c);
}

// read() that also sets read_time_: the kernel's receive timestamp of the last segment read
// (CLOCK_REALTIME, carried over to the steady clock by its age), or now when there is none.
// An age outside [0, 10 s) means the wall clock stepped meanwhile: now is used then too.
ssize_t Worker::read_stamped(Conn& c) {
  if (!kernel_timestamps_) {
    const ssize_t n = ::read(c.fd, buffer_.data(), buffer_.size());
    read_time_ = Clock::now();
    return n;
  }
  iovec iov{buffer_.data(), buffer_.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(c.fd, &msg, 0);
  read_time_ = Clock::now();
  if (n <= 0) return n;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec arrived;
    std::memcpy(&arrived, CMSG_DATA(cm), sizeof arrived);
    timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    const int64_t age_ns = (static_cast<int64_t>(wall.tv_sec) - arrived.tv_sec) * 1'000'000'000 +
                           (wall.tv_nsec - arrived.tv_nsec);
    if (age_ns >= 0 && age_ns < 10'000'000'000) read_time_ -= std::chrono::nanoseconds(age_ns);
  }
  return n;
}

void Worker::on_readable(Conn& c) {
  const ssize_t n = read_stamped(c);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (c.state == ConnState::kIdle) {
    // The server closed a keep-alive connection (or sent bytes nobody asked for): drop it.
    return close_connection(c);
  }
  if (n < 0) {
    return fail_request(c, ErrorKind::kBrokenStream, fmt::format("read: {}", std::strerror(errno)));
  }
  if (n == 0) {
    if (c.parser.finish_at_eof() == ResponseParser::Feed::kComplete) {
      return complete_response(c, false);
    }
    return fail_request(c, ErrorKind::kBrokenStream, c.parser.error());
  }
  size_t consumed = 0;
  const auto result =
      c.parser.feed(buffer_.data(), static_cast<size_t>(n), &consumed,
                    [&](const char* data, size_t size) { feed_body(c, data, size); });
  if (c.abort_kind != ErrorKind::kNone) {
    return fail_request(c, c.abort_kind, std::move(c.abort_message));
  }
  if (result == ResponseParser::Feed::kError) {
    return fail_request(c, ErrorKind::kBrokenStream,
                        fmt::format("malformed response: {}", c.parser.error()));
  }
  if (result == ResponseParser::Feed::kComplete) {
    // Bytes after the response belong to no request, and a request the server answered before
    // reading it all leaves the rest in flight: either way the connection cannot be trusted.
    complete_response(c, c.parser.keep_alive() && consumed == static_cast<size_t>(n) &&
                             c.written == c.out.size());
  }
}

void Worker::feed_body(Conn& c, const char* data, size_t size) {
  if (c.abort_kind != ErrorKind::kNone) return;
  const bool success = is_success(c.parser.status());
  c.event_stream = success && c.parser.event_stream();
  if (c.event_stream) {
    const bool ok =
        c.sse.feed(data, size, [&](std::string_view event) { return on_sse_event(c, event); });
    if (!ok && c.abort_kind == ErrorKind::kNone) {
      c.abort_kind = ErrorKind::kBrokenStream;
      c.abort_message =
          fmt::format("stream event longer than {} bytes", SseEventReader::kMaxEventBytes);
    }
    return;
  }
  const size_t cap = success ? kMaxBody : kMaxErrorBodyKept;
  if (success && c.body.size() + size > cap) {
    c.abort_kind = ErrorKind::kBrokenStream;
    c.abort_message = fmt::format("response body over {} bytes", cap);
    return;
  }
  c.body.append(data, std::min(size, cap - std::min(cap, c.body.size())));
}

bool Worker::on_sse_event(Conn& c, std::string_view data) {
  if (data == "[DONE]") {
    c.done_event = true;
    return true;
  }
  ChunkFields chunk;
  std::string error;
  if (!json_.parse_chunk(data, &chunk, &error)) {
    c.abort_kind = ErrorKind::kBrokenStream;
    c.abort_message = std::move(error);
    return false;
  }
  if (chunk.is_error) {
    // vLLM reports failures after the 200 headers went out as an event of their own.
    c.abort_kind = ErrorKind::kBrokenStream;
    c.abort_message = fmt::format("error event in the stream: {}", chunk.error_message);
    return false;
  }
  if (chunk.has_text) {
    RequestRecord& record = records_[c.record];
    if (record.first_token < 0) {
      record.first_token = seconds(read_time_);
      // Skips the vector's first four growth steps; a short answer wastes at most 60 bytes.
      record.token_times.reserve(kMinTokenTimes);
    }
    record.token_times.push_back(std::chrono::duration<float>(read_time_ - c.sent_at).count());
    ++c.content_chunks;
  }
  if (chunk.usage.reported) c.usage = chunk.usage;
  return true;
}

void Worker::complete_response(Conn& c, bool reusable) {
  const int status = c.parser.status();
  RequestRecord& record = records_[c.record];
  record.http_status = status;
  if (!is_success(status)) {
    const std::string message =
        c.body.empty() ? fmt::format("HTTP {}", status) : json_.error_message(c.body);
    // The response was framed correctly: only the request failed, the connection may serve on.
    record.error = ErrorKind::kHttpStatus;
    record.error_message = message;
    shared_.errors.fetch_add(1, std::memory_order_relaxed);
    return release(c, reusable);
  }
  if (c.event_stream) {
    if (!c.done_event) {
      return fail_request(c, ErrorKind::kBrokenStream,
                          fmt::format("stream ended without 'data: [DONE]' after {} content chunks",
                                      c.content_chunks));
    }
    record.output_tokens = c.content_chunks;
  } else {
    BodyFields body;
    std::string error;
    if (!json_.parse_body(c.body, &body, &error)) {
      return fail_request(c, ErrorKind::kBrokenStream, std::move(error));
    }
    record.output_tokens = static_cast<int>((body.text_bytes + 3) / 4);
    record.first_token = seconds(read_time_);
    c.usage = body.usage;
  }
  if (c.usage.reported) {
    record.usage_reported = true;
    record.input_tokens = c.usage.prompt_tokens;
    record.output_tokens = c.usage.completion_tokens;
    record.cached_tokens = c.usage.cached_tokens;
  }
  release(c, reusable);
}

// Ends a request whose response was read whole; its connection serves the next one if it can.
void Worker::release(Conn& c, bool reusable) {
  records_[c.record].end = seconds(read_time_);
  end_request(c);
  if (reusable && update_events(c, EPOLLIN | EPOLLRDHUP)) {
    c.state = ConnState::kIdle;
    idle_.push_back(c.slot);
  } else {
    close_connection(c);
  }
}

// A failed request takes its connection down: whatever is left on it is unusable.
void Worker::fail_request(Conn& c, ErrorKind kind, std::string message) {
  RequestRecord& record = records_[c.record];
  record.error = kind;
  record.error_message = std::move(message);
  record.end = seconds(Clock::now());
  // A request that failed before its bytes went out (no connection) counts as sent when it
  // failed, so its schedule delay and latency stay meaningful instead of going negative.
  if (record.sent <= 0) record.sent = record.end;
  if (kind == ErrorKind::kBrokenStream || kind == ErrorKind::kTimeout) {
    record.http_status = c.parser.status();
  }
  shared_.errors.fetch_add(1, std::memory_order_relaxed);
  close_connection(c);
  end_request(c);
}

void Worker::end_request(Conn& c) {
  ++c.serial;  // its request deadline no longer applies
  --in_flight_;
  shared_.done.fetch_add(1, std::memory_order_relaxed);
  if (shared_.stage->offsets.empty()) next_closed_loop_request(Clock::now());
}

void Worker::close_connection(Conn& c) {
  if (c.state == ConnState::kClosed) return;
  if (c.fd >= 0) ::close(c.fd);  // also takes it out of the epoll set
  c.fd = -1;
  c.events = 0;
  c.state = ConnState::kClosed;
  ++c.generation;
  ++c.serial;
  --open_connections_;
  free_slots_.push_back(c.slot);
}

void Worker::arm_deadline(Conn& c, double seconds_from_now) {
  deadlines_.push({after(Clock::now(), seconds_from_now), c.slot, c.serial});
}

void Worker::expire_deadlines(SteadyTime now) {
  while (!deadlines_.empty() && deadlines_.top().when <= now) {
    const Deadline d = deadlines_.top();
    deadlines_.pop();
    Conn& c = *conns_[d.conn];
    if (c.serial != d.serial) continue;  // stale: its request or connection moved on
    const ClientOptions& options = *shared_.options;
    if (c.state == ConnState::kConnecting) {
      fail_request(c, ErrorKind::kConnect,
                   fmt::format("connect to {}:{}: no answer within {} s", options.host,
                               options.port, options.connect_timeout));
    } else if (c.state == ConnState::kWriting || c.state == ConnState::kReading) {
      fail_request(c, ErrorKind::kTimeout,
                   fmt::format("no complete response within {} s", options.request_timeout));
    }
  }
}

}  // namespace kgai::perf
