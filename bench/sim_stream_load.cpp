// kgai_stream_load: a lean closed-loop streaming client for `kgai sim` (or any OpenAI-compatible
// server), behind bench/sim_realtime_lag.sh. It measures whether the simulator writes each token
// on time while many streams run at once.
//
// It shares the machine's few cores with the server it measures, so every choice is about
// taking as little CPU as possible: one thread on epoll (level-triggered, blocking waits with
// deadlines, never a busy loop), one large read buffer shared by all connections, and an
// incremental HTTP/1.1 + SSE parser that works on the bytes in place (memchr for line ends, no
// allocation per event). Only errors allocate.
//
//   kgai_stream_load --host 127.0.0.1 --ports 8000-8015 --connections-per-port 64
//       --duration 30 --max-tokens 200 --prompt-tokens 200 [--warmup 5] [--ramp-up 4] [--json]
//
// Exit status: 0 ok, 1 the run finished but saw errors (or could not read the server's stats),
// 2 bad flags or the run could not start.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "perf/response_parser.h"

namespace {

using kgai::excerpt;
using kgai::kMaxErrorBody;
using kgai::perf::ResponseParser;
using kgai::perf::SseScanner;

constexpr size_t kReadBufferSize = 1 << 20;  // one read drains a socket even after a stall
constexpr size_t kMaxStatsBody = 64 << 20;
constexpr size_t kMaxErrorMessages = 5;
constexpr double kStatsTimeoutSeconds = 15.0;
constexpr double kMinBackoffSeconds = 0.01;
constexpr double kMaxBackoffSeconds = 1.0;

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Flags.

struct Options {
  std::string host = "127.0.0.1";
  std::vector<uint16_t> ports;
  int connections_per_port = 64;
  double duration = 30;
  double warmup = 5;
  double ramp_up = 0;  // connections open evenly over this many seconds
  int max_tokens = 200;
  int prompt_tokens = 200;
  std::string model;  // empty: the server's default model
  // > 0: sleep this long between non-blocking polls instead of blocking in epoll_wait. A
  // co-located client blocked in epoll_wait makes every server write pay for waking it up
  // (on loopback the sender runs the receiver's TCP path too); a polling client does not,
  // which is closer to what remote clients cost a server.
  int poll_interval_us = 0;
  bool json = false;
};

constexpr std::string_view kUsage =
    R"(usage: kgai_stream_load [flags]
A closed-loop streaming client: each connection sends a streamed /v1/completions request and,
when its response ends, the next one. Reports client token rate and inter-token gaps, and the
server's token send lag from GET /kgai/stats on every port (kgai sim), warmup excluded.

  --host HOST                 server address (default 127.0.0.1)
  --ports LIST                START-END, or a comma-separated list of ports and ranges (default 8000)
  --connections-per-port N    concurrent streams per port (default 64)
  --duration SECONDS          whole run, warmup included (default 30)
  --warmup SECONDS            first seconds left out of every statistic (default 5)
  --ramp-up SECONDS           open the connections evenly over this time instead of all at
                              once, so streams do not start and end in lockstep (default 0;
                              at most --warmup)
  --max-tokens N              output tokens per request, with ignore_eos (default 200)
  --prompt-tokens N           prompt length; 4 bytes of text a token, unique per request (default 200)
  --poll-interval-us N        poll for data every N microseconds instead of sleeping in
                              epoll_wait (default 0: sleep); see Options::poll_interval_us
  --model NAME                "model" field of each request (default: none, the server's own)
  --json                      print one JSON object instead of text
)";

struct FlagError {
  std::string message;
};

std::optional<std::vector<uint16_t>> parse_ports(std::string_view text) {
  auto parse_one = [](std::string_view s) -> std::optional<uint16_t> {
    s = trim(s);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || value < 1 ||
        value > 65535) {
      return std::nullopt;
    }
    return static_cast<uint16_t>(value);
  };
  std::vector<uint16_t> ports;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      auto port = parse_one(item);
      if (!port) return std::nullopt;
      ports.push_back(*port);
    } else {
      auto first = parse_one(item.substr(0, dash));
      auto last = parse_one(item.substr(dash + 1));
      if (!first || !last || *first > *last) return std::nullopt;
      for (unsigned p = *first; p <= *last; ++p) ports.push_back(static_cast<uint16_t>(p));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::vector<uint16_t> sorted = ports;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return std::nullopt;
  return ports;
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
  T value{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

// Returns the options, or nullopt after printing usage (--help).
std::optional<Options> parse_flags(int argc, char** argv, FlagError* error) {
  Options o;
  std::string ports_text = "8000";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", kUsage);
      return std::nullopt;
    }
    if (!arg.starts_with("--")) {
      error->message = fmt::format("unexpected argument '{}' (see --help)", arg);
      return std::nullopt;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "--json") {
      if (value) {
        error->message = "--json takes no value";
        return std::nullopt;
      }
      o.json = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) {
        error->message = fmt::format("{}: missing value", name);
        return std::nullopt;
      }
      value = argv[++i];
    }
    auto bad = [&](std::string_view expected) {
      error->message = fmt::format("{}: expected {}, got '{}'", name, expected, *value);
      return std::nullopt;
    };
    if (name == "--host") {
      if (value->empty()) return bad("a host name or address");
      o.host = *value;
    } else if (name == "--ports") {
      ports_text = *value;
      if (!parse_ports(ports_text)) {
        return bad("START-END or a list of ports and ranges (1-65535, no repeats), e.g. 8000-8015");
      }
    } else if (name == "--connections-per-port") {
      auto n = parse_number<int>(*value);
      if (!n || *n < 1 || *n > 100000) return bad("an integer in [1, 100000]");
      o.connections_per_port = *n;
    } else if (name == "--duration" || name == "--warmup" || name == "--ramp-up") {
      auto n = parse_number<double>(*value);
      if (!n || !std::isfinite(*n) || *n < 0 || *n > 86400 || (name == "--duration" && *n <= 0)) {
        return bad(name == "--duration" ? "seconds in (0, 86400]" : "seconds in [0, 86400]");
      }
      (name == "--duration" ? o.duration : name == "--warmup" ? o.warmup : o.ramp_up) = *n;
    } else if (name == "--max-tokens" || name == "--prompt-tokens") {
      auto n = parse_number<int>(*value);
      if (!n || *n < 1 || *n > 1000000) return bad("an integer in [1, 1000000]");
      (name == "--max-tokens" ? o.max_tokens : o.prompt_tokens) = *n;
    } else if (name == "--model") {
      o.model = *value;
    } else if (name == "--poll-interval-us") {
      auto n = parse_number<int>(*value);
      if (!n || *n < 0 || *n > 1000000) return bad("microseconds in [0, 1000000]");
      o.poll_interval_us = *n;
    } else {
      error->message = fmt::format("unknown flag '{}' (see --help)", name);
      return std::nullopt;
    }
  }
  o.ports = *parse_ports(ports_text);
  if (o.warmup >= o.duration) {
    error->message =
        fmt::format("--warmup ({} s) must be shorter than --duration ({} s)", o.warmup, o.duration);
    return std::nullopt;
  }
  if (o.ramp_up > o.warmup) {
    // A ramp inside the measured window would measure a load that is still growing.
    error->message = fmt::format("--ramp-up ({} s) must not be longer than --warmup ({} s)",
                                 o.ramp_up, o.warmup);
    return std::nullopt;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Histograms from /kgai/stats: (upper bound, count) pairs. Replicas share one bucket layout, so
// equal bounds are the same bucket; a tiny relative tolerance absorbs float printing.

using Buckets = std::vector<std::pair<double, uint64_t>>;

bool same_bound(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(a, b); }

struct LagSnapshot {
  uint64_t count = 0;
  double mean = 0;
  double max = 0;
  Buckets buckets;  // sorted by bound
};

std::optional<LagSnapshot> parse_lag(std::string_view body, std::string* error) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded()) {
    *error = fmt::format("/kgai/stats is not JSON: '{}'", excerpt(body, 100));
    return std::nullopt;
  }
  try {
    const auto& lag = json.at("token_send_lag_seconds");
    LagSnapshot s;
    s.count = lag.at("count").get<uint64_t>();
    s.mean = lag.at("mean").get<double>();
    s.max = lag.at("max").get<double>();
    for (const auto& b : lag.at("buckets")) {
      s.buckets.emplace_back(b.at(0).get<double>(), b.at(1).get<uint64_t>());
    }
    std::sort(s.buckets.begin(), s.buckets.end());
    return s;
  } catch (const nlohmann::json::exception& e) {
    *error = fmt::format("/kgai/stats has no usable token_send_lag_seconds: {}", e.what());
    return std::nullopt;
  }
}

// `after` minus `before`, bucket by bucket: the tokens sent between the two snapshots.
// `*negative` is set when a count went down (the server restarted between them).
LagSnapshot subtract(const LagSnapshot& after, const LagSnapshot& before, bool* negative) {
  LagSnapshot d;
  size_t j = 0;
  for (const auto& [bound, count] : after.buckets) {
    while (j < before.buckets.size() && before.buckets[j].first < bound &&
           !same_bound(before.buckets[j].first, bound)) {
      *negative = *negative || before.buckets[j].second > 0;  // a bucket that vanished
      ++j;
    }
    uint64_t old = 0;
    if (j < before.buckets.size() && same_bound(before.buckets[j].first, bound)) {
      old = before.buckets[j++].second;
    }
    if (old > count) *negative = true;
    if (count > old) d.buckets.emplace_back(bound, count - old);
  }
  if (j < before.buckets.size()) *negative = true;
  for (const auto& [bound, count] : d.buckets) d.count += count;
  const double sum = static_cast<double>(after.count) * after.mean -
                     static_cast<double>(before.count) * before.mean;
  d.mean = d.count ? std::max(0.0, sum) / static_cast<double>(d.count) : 0.0;
  // The exact max of the window is unknown: the top non-empty bucket bounds it, and so does
  // the max since start.
  d.max = d.buckets.empty() ? 0.0 : std::min(after.max, d.buckets.back().first);
  if (before.count == 0) d.max = after.max;
  return d;
}

LagSnapshot merge(const std::vector<const LagSnapshot*>& parts) {
  LagSnapshot m;
  Buckets all;
  for (const LagSnapshot* p : parts) {
    all.insert(all.end(), p->buckets.begin(), p->buckets.end());
    m.mean = (m.mean * static_cast<double>(m.count) + p->mean * static_cast<double>(p->count));
    m.count += p->count;
    m.mean = m.count ? m.mean / static_cast<double>(m.count) : 0.0;
    m.max = std::max(m.max, p->max);
  }
  std::sort(all.begin(), all.end());
  for (const auto& [bound, count] : all) {
    if (!m.buckets.empty() && same_bound(m.buckets.back().first, bound)) {
      m.buckets.back().second += count;
    } else {
      m.buckets.emplace_back(bound, count);
    }
  }
  return m;
}

// Same rule as the server's LogHistogram: the bound of the bucket holding the rank, clamped to
// the max, so merged and per-replica figures compare.
double percentile(const LagSnapshot& s, double p) {
  if (s.count == 0) return 0.0;
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(s.count)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (const auto& [bound, count] : s.buckets) {
    seen += count;
    if (seen >= rank) return std::min(bound, s.max);
  }
  return s.max;
}

// Exact nearest-rank percentiles of client samples (sorted in place).
struct SampleSummary {
  size_t count = 0;
  double mean = 0, p50 = 0, p99 = 0, max = 0;
};

SampleSummary summarize(std::vector<float>& samples) {
  SampleSummary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (float v : samples) sum += v;
  auto at = [&](double p) {
    auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
    return static_cast<double>(samples[std::max<size_t>(rank, 1) - 1]);
  };
  s.mean = sum / static_cast<double>(samples.size());
  s.p50 = at(50);
  s.p99 = at(99);
  s.max = samples.back();
  return s;
}

// ---------------------------------------------------------------------------------------------
// The client.

enum class ErrorKind { kConnect, kIo, kClosed, kHttpStatus, kProtocol, kStream, kCount };
constexpr std::array<std::string_view, static_cast<size_t>(ErrorKind::kCount)> kErrorNames = {
    "connect", "io", "closed_early", "http_status", "protocol", "stream"};

struct Connection {
  enum class Kind { kStream, kStats };
  enum class State { kClosed, kConnecting, kWriting, kReading };

  Kind kind = Kind::kStream;
  size_t port_index = 0;
  int stats_phase = 0;  // for kStats: 0 end of warmup, 1 end of run
  int fd = -1;
  uint32_t generation = 0;  // tells events of a closed socket from those of its successor
  State state = State::kClosed;
  bool want_write = false;
  std::string request;
  size_t counter_offset = 0;  // where the per-request unique id sits in `request`
  size_t counter_digits = 0;
  size_t written = 0;
  ResponseParser parser;
  SseScanner sse;
  std::string body;  // non-200 bodies (capped) and stats bodies
  double sent_at = 0;
  double last_token_at = 0;
  bool got_token = false;
  int tokens = 0;
  bool done_event = false;
  std::string in_band_error;
  double backoff = 0;
  bool scheduled = false;
  double due = 0;
  bool finished = false;  // kStats: its snapshot (or error) is recorded
};

struct ReplicaStats {
  std::optional<LagSnapshot> snapshot[2];
  std::string error[2];
};

class LoadClient {
 public:
  LoadClient(const Options& options, const sockaddr_storage& address, socklen_t address_len)
      : options_(options), address_(address), address_len_(address_len) {}
  ~LoadClient();

  // Runs the whole load, then prints the report. Returns the exit status.
  int run();

 private:
  Connection& conn(size_t index) { return *conns_[index]; }
  void build_stream_request(Connection& c);
  void open(size_t index);
  void close_conn(Connection& c);
  void set_events(size_t index, bool want_write);
  void start_request(size_t index);
  void write_some(size_t index);
  void on_event(size_t index, uint32_t events);
  void on_readable(size_t index);
  void on_response_end(size_t index);
  void on_token(Connection& c);
  void fail(size_t index, ErrorKind kind, std::string message);
  void schedule(size_t index, double delay);
  void run_timers();
  void start_stats(int phase);
  void finish_stats(Connection& c, std::optional<std::string> error);
  void record_error(ErrorKind kind, size_t port_index, std::string_view message);
  bool in_window(double t) const { return t >= window_start_ && t < window_end_; }
  void report(double cpu_user, double cpu_system);

  Options options_;
  sockaddr_storage address_;
  socklen_t address_len_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Connection>> conns_;  // streams, then stats per phase and port
  size_t num_streams_ = 0;
  std::vector<char> buffer_;
  using Timer = std::pair<double, size_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  double now_ = 0;
  double start_ = 0;
  double window_start_ = 0;
  double window_end_ = std::numeric_limits<double>::infinity();
  bool stop_streams_ = false;
  uint64_t request_counter_ = 0;
  int stats_pending_[2] = {0, 0};

  // Client statistics: window figures only count in [window_start_, window_end_).
  uint64_t responses_ = 0;
  uint64_t tokens_ = 0;
  uint64_t total_responses_ = 0;
  uint64_t total_tokens_ = 0;
  uint64_t reconnects_ = 0;
  std::vector<float> gaps_;
  std::vector<float> ttfts_;
  std::array<uint64_t, static_cast<size_t>(ErrorKind::kCount)> errors_{};
  std::map<int, uint64_t> statuses_;
  std::vector<std::string> first_errors_;
  std::vector<ReplicaStats> replicas_;
};

LoadClient::~LoadClient() {
  for (auto& c : conns_) {
    if (c->fd >= 0) ::close(c->fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void LoadClient::record_error(ErrorKind kind, size_t port_index, std::string_view message) {
  ++errors_[static_cast<size_t>(kind)];
  if (first_errors_.size() < kMaxErrorMessages) {
    first_errors_.push_back(fmt::format("[{:.3f} s] port {}: {}: {}", now_ - start_,
                                        options_.ports[port_index],
                                        kErrorNames[static_cast<size_t>(kind)], message));
  }
}

void LoadClient::build_stream_request(Connection& c) {
  // Each prompt starts with a unique hex id so no two requests share a prefix: prefill is
  // paid in full, as with distinct users, instead of hitting the prefix cache every time.
  const size_t prompt_bytes = static_cast<size_t>(options_.prompt_tokens) * 4;
  std::string body = R"({"prompt":")";
  c.counter_offset = body.size();
  c.counter_digits = std::min<size_t>(16, prompt_bytes);
  body.append(c.counter_digits, '0');
  static constexpr std::string_view kFiller = " the quick brown fox jumps over the lazy dog";
  while (body.size() - c.counter_offset < prompt_bytes) {
    body.append(kFiller.substr(0, prompt_bytes - (body.size() - c.counter_offset)));
  }
  body += fmt::format(R"(","max_tokens":{},"ignore_eos":true,"stream":true)", options_.max_tokens);
  if (!options_.model.empty()) body += R"(,"model":)" + nlohmann::json(options_.model).dump();
  body += "}";
  std::string head = fmt::format(
      "POST /v1/completions HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n"
      "Accept: text/event-stream\r\nContent-Length: {}\r\n\r\n",
      options_.host, options_.ports[c.port_index], body.size());
  c.counter_offset += head.size();
  c.request = head + body;
}

void LoadClient::set_events(size_t index, bool want_write) {
  Connection& c = conn(index);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0u);
  ev.data.u64 = (static_cast<uint64_t>(c.generation) << 32) | index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) {
    fail(index, ErrorKind::kIo, fmt::format("epoll_ctl: {}", std::strerror(errno)));
    return;
  }
  c.want_write = want_write;
}

void LoadClient::open(size_t index) {
  Connection& c = conn(index);
  c.fd = ::socket(address_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    fail(index, ErrorKind::kConnect, fmt::format("socket: {}", std::strerror(errno)));
    return;
  }
  ++c.generation;
  int one = 1;
  // Tokens are small writes; Nagle on the request side would only add delay.
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage addr = address_;
  const uint16_t port = htons(options_.ports[c.port_index]);
  if (addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = port;
  } else {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = port;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u64 = (static_cast<uint64_t>(c.generation) << 32) | index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    fail(index, ErrorKind::kConnect, fmt::format("epoll_ctl: {}", std::strerror(errno)));
    return;
  }
  c.want_write = true;
  c.state = Connection::State::kConnecting;
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), address_len_) != 0 &&
      errno != EINPROGRESS) {
    fail(index, ErrorKind::kConnect, std::strerror(errno));
  }
  // Writable means connected (or failed: SO_ERROR says which); the request goes out then.
}

void LoadClient::close_conn(Connection& c) {
  if (c.fd >= 0) ::close(c.fd);  // also removes it from the epoll set
  c.fd = -1;
  c.state = Connection::State::kClosed;
}

void LoadClient::fail(size_t index, ErrorKind kind, std::string message) {
  Connection& c = conn(index);
  if (c.kind == Connection::Kind::kStats) {
    close_conn(c);
    finish_stats(c, std::move(message));
    return;
  }
  record_error(kind, c.port_index, message);
  close_conn(c);
  // Reopen, backing off so a dead server is not hammered with connects.
  c.backoff = std::clamp(c.backoff * 2, kMinBackoffSeconds, kMaxBackoffSeconds);
  schedule(index, c.backoff);
}

void LoadClient::schedule(size_t index, double delay) {
  Connection& c = conn(index);
  c.scheduled = true;
  c.due = now_ + delay;
  timers_.emplace(c.due, index);
}

void LoadClient::run_timers() {
  while (!timers_.empty() && timers_.top().first <= now_) {
    auto [due, index] = timers_.top();
    timers_.pop();
    Connection& c = conn(index);
    if (!c.scheduled || c.due != due) continue;
    c.scheduled = false;
    if (stop_streams_ && c.kind == Connection::Kind::kStream) continue;
    if (c.fd < 0) {
      if (c.generation > 0) ++reconnects_;  // not the first open of a ramp-up
      open(index);
    } else {
      start_request(index);
    }
  }
}

void LoadClient::start_request(size_t index) {
  Connection& c = conn(index);
  if (c.kind == Connection::Kind::kStream) {
    uint64_t id = request_counter_++;
    for (size_t i = 0; i < c.counter_digits; ++i) {
      c.request[c.counter_offset + c.counter_digits - 1 - i] = "0123456789abcdef"[id & 15];
      id >>= 4;
    }
  }
  c.parser.reset();
  c.sse.reset();
  c.body.clear();
  c.in_band_error.clear();
  c.tokens = 0;
  c.got_token = false;
  c.done_event = false;
  c.written = 0;
  c.sent_at = now_;
  c.state = Connection::State::kWriting;
  write_some(index);
}

void LoadClient::write_some(size_t index) {
  Connection& c = conn(index);
  while (c.written < c.request.size()) {
    ssize_t n =
        ::send(c.fd, c.request.data() + c.written, c.request.size() - c.written, MSG_NOSIGNAL);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.want_write) set_events(index, true);
      return;
    } else {
      return fail(index, ErrorKind::kIo, fmt::format("send: {}", std::strerror(errno)));
    }
  }
  c.state = Connection::State::kReading;
  if (c.want_write) set_events(index, false);
}

void LoadClient::on_event(size_t index, uint32_t events) {
  Connection& c = conn(index);
  if (c.state == Connection::State::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      return fail(index, ErrorKind::kConnect, std::strerror(error));
    }
    return start_request(index);
  }
  if ((events & EPOLLOUT) && c.state == Connection::State::kWriting) write_some(index);
  if (c.fd < 0) return;
  // Errors and hang-ups are learnt from read(), which also delivers any bytes still queued.
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(index);
}

void LoadClient::on_token(Connection& c) {
  ++c.tokens;
  ++total_tokens_;
  if (in_window(now_)) {
    ++tokens_;
    // The first token's wait is time to first token; only later ones are inter-token gaps.
    (c.got_token ? gaps_ : ttfts_)
        .push_back(static_cast<float>(now_ - (c.got_token ? c.last_token_at : c.sent_at)));
  }
  c.got_token = true;
  c.last_token_at = now_;
}

void LoadClient::on_readable(size_t index) {
  Connection& c = conn(index);
  ssize_t n = ::read(c.fd, buffer_.data(), buffer_.size());
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return fail(index, ErrorKind::kIo, fmt::format("read: {}", std::strerror(errno)));
  }
  now_ = now_seconds();  // one clock read per read(): every token in it arrived together
  if (n == 0) {
    if (c.state != Connection::State::kReading ||
        c.parser.finish_at_eof() != ResponseParser::Feed::kComplete) {
      // A keep-alive connection may be closed by the server between responses; ours never
      // idle (the next request follows at once), so any close with a request out is an error.
      return fail(index, ErrorKind::kClosed,
                  c.state == Connection::State::kReading ? c.parser.error()
                                                         : "connection closed by the server");
    }
    return on_response_end(index);
  }
  if (c.state != Connection::State::kReading) {
    return fail(index, ErrorKind::kProtocol,
                fmt::format("{} bytes before the request was sent: '{}'", n,
                            excerpt({buffer_.data(), static_cast<size_t>(n)}, 80)));
  }
  const bool stream = c.kind == Connection::Kind::kStream;
  auto sink = [&](const char* data, size_t size) {
    if (stream && c.parser.status() == 200) {
      c.sse.feed(data, size, [&](SseScanner::Event event) {
        if (event == SseScanner::Event::kDone) {
          c.done_event = true;
        } else if (event == SseScanner::Event::kError) {
          if (c.in_band_error.empty()) c.in_band_error = c.sse.error_text();
        } else {
          on_token(c);
        }
      });
    } else {
      const size_t cap = stream ? kMaxErrorBody : kMaxStatsBody;
      c.body.append(data, std::min(size, cap - std::min(cap, c.body.size())));
    }
  };
  size_t consumed = 0;
  auto result = c.parser.feed(buffer_.data(), static_cast<size_t>(n), &consumed, sink);
  if (result == ResponseParser::Feed::kError) {
    return fail(index, ErrorKind::kProtocol, c.parser.error());
  }
  if (result == ResponseParser::Feed::kComplete) {
    if (consumed != static_cast<size_t>(n)) {
      return fail(
          index, ErrorKind::kProtocol,
          fmt::format("{} bytes after the end of the response: '{}'",
                      static_cast<size_t>(n) - consumed,
                      excerpt({buffer_.data() + consumed, static_cast<size_t>(n) - consumed}, 80)));
    }
    on_response_end(index);
  }
}

void LoadClient::on_response_end(size_t index) {
  Connection& c = conn(index);
  if (c.kind == Connection::Kind::kStats) {
    close_conn(c);
    if (c.parser.status() != 200) {
      return finish_stats(
          c, fmt::format("GET /kgai/stats: HTTP {}: {}", c.parser.status(), excerpt(c.body)));
    }
    return finish_stats(c, std::nullopt);
  }
  const int status = c.parser.status();
  bool ok = true;
  if (status != 200) {
    ++statuses_[status];
    record_error(ErrorKind::kHttpStatus, c.port_index,
                 fmt::format("HTTP {}: {}", status, excerpt(c.body)));
    ok = false;
  } else if (!c.parser.event_stream()) {
    record_error(ErrorKind::kStream, c.port_index,
                 fmt::format("200 with Content-Type '{}', expected text/event-stream",
                             excerpt(c.parser.content_type())));
    ok = false;
  } else if (!c.in_band_error.empty()) {
    record_error(ErrorKind::kStream, c.port_index,
                 fmt::format("error event in the stream: {}", excerpt(c.in_band_error)));
    ok = false;
  } else if (!c.done_event) {
    record_error(ErrorKind::kStream, c.port_index,
                 fmt::format("stream ended without 'data: [DONE]' after {} tokens", c.tokens));
    ok = false;
  } else if (c.tokens != options_.max_tokens) {
    // ignore_eos makes the length exact: anything else is a lost or invented token.
    record_error(ErrorKind::kStream, c.port_index,
                 fmt::format("{} tokens, expected {} (max_tokens with ignore_eos)", c.tokens,
                             options_.max_tokens));
    ok = false;
  }
  if (ok) {
    ++total_responses_;
    if (in_window(now_)) ++responses_;
    c.backoff = 0;
  } else {
    c.backoff = std::clamp(c.backoff * 2, kMinBackoffSeconds, kMaxBackoffSeconds);
  }
  if (!c.parser.keep_alive()) {
    close_conn(c);
    if (ok) ++reconnects_;
  }
  if (stop_streams_) return;
  // Closed loop: the next request at once, unless the server refuses work (then back off,
  // or a 429 storm would spin this loop at full speed).
  if (ok && c.fd >= 0) return start_request(index);
  schedule(index, ok ? 0.0 : c.backoff);
}

void LoadClient::start_stats(int phase) {
  stats_pending_[phase] = static_cast<int>(options_.ports.size());
  for (size_t p = 0; p < options_.ports.size(); ++p) {
    const size_t index = num_streams_ + static_cast<size_t>(phase) * options_.ports.size() + p;
    Connection& c = conn(index);
    c.request = fmt::format("GET /kgai/stats HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
                            options_.host, options_.ports[p]);
    open(index);
  }
}

void LoadClient::finish_stats(Connection& c, std::optional<std::string> error) {
  if (c.finished) return;
  c.finished = true;
  ReplicaStats& r = replicas_[c.port_index];
  if (error) {
    r.error[c.stats_phase] = std::move(*error);
  } else {
    std::string parse_error;
    r.snapshot[c.stats_phase] = parse_lag(c.body, &parse_error);
    if (!r.snapshot[c.stats_phase]) r.error[c.stats_phase] = std::move(parse_error);
  }
  std::string().swap(c.body);
  --stats_pending_[c.stats_phase];
}

int LoadClient::run() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    fmt::print(stderr, "kgai_stream_load: epoll_create1: {}\n", std::strerror(errno));
    return 2;
  }
  buffer_.resize(kReadBufferSize);
  replicas_.resize(options_.ports.size());
  num_streams_ = options_.ports.size() * static_cast<size_t>(options_.connections_per_port);
  for (size_t i = 0; i < num_streams_; ++i) {
    auto c = std::make_unique<Connection>();
    c->port_index = i % options_.ports.size();  // interleaved: every replica ramps up together
    build_stream_request(*c);
    conns_.push_back(std::move(c));
  }
  for (int phase = 0; phase < 2; ++phase) {
    for (size_t p = 0; p < options_.ports.size(); ++p) {
      auto c = std::make_unique<Connection>();
      c->kind = Connection::Kind::kStats;
      c->port_index = p;
      c->stats_phase = phase;
      conns_.push_back(std::move(c));
    }
  }
  // Room for one token per stream every 2 ms over the window, so the sample vectors do not
  // regrow (a copy of many MB, a stall) mid-run. Untouched capacity costs no memory.
  const double window = options_.duration - options_.warmup;
  gaps_.reserve(static_cast<size_t>(
      std::min(static_cast<double>(num_streams_) * window * 500.0, double{1 << 26})));
  ttfts_.reserve(static_cast<size_t>(
      std::min(static_cast<double>(num_streams_) * window * 10.0, double{1 << 22})));

  rusage usage_start{};
  getrusage(RUSAGE_SELF, &usage_start);
  now_ = start_ = now_seconds();
  const double warmup_end = start_ + options_.warmup;
  const double run_end = start_ + options_.duration;
  window_start_ = warmup_end;
  bool warmup_stats_started = options_.warmup <= 0;
  bool final_stats_started = false;
  double stats_deadline = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < num_streams_; ++i) {
    if (options_.ramp_up > 0) {
      schedule(i, options_.ramp_up * static_cast<double>(i) / static_cast<double>(num_streams_));
    } else {
      open(i);
    }
  }

  std::vector<epoll_event> events(4096);
  while (true) {
    now_ = now_seconds();
    if (!warmup_stats_started && now_ >= warmup_end) {
      // Taken while the load runs, so the server-side window starts under the same load.
      warmup_stats_started = true;
      start_stats(0);
    }
    if (!final_stats_started && now_ >= run_end) {
      // The load keeps going until the snapshots are in, so the server's window ends under
      // load too; client figures stop here.
      final_stats_started = true;
      window_end_ = run_end;
      start_stats(1);
      stats_deadline = now_ + kStatsTimeoutSeconds;
    }
    if (final_stats_started && stats_pending_[0] <= 0 && stats_pending_[1] <= 0) break;
    if (now_ >= stats_deadline) break;
    run_timers();

    double next = final_stats_started ? stats_deadline : run_end;
    if (!warmup_stats_started) next = std::min(next, warmup_end);
    if (!timers_.empty()) next = std::min(next, timers_.top().first);
    const int timeout_ms =
        static_cast<int>(std::clamp(std::ceil((next - now_) * 1000.0), 0.0, 1000.0));
    int n;
    if (options_.poll_interval_us > 0) {
      const auto pause = std::min<int64_t>(options_.poll_interval_us, int64_t{timeout_ms} * 1000);
      if (pause > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause));
      n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0);
    } else {
      n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      fmt::print(stderr, "kgai_stream_load: epoll_wait: {}\n", std::strerror(errno));
      return 2;
    }
    now_ = now_seconds();
    for (int i = 0; i < n; ++i) {
      const auto index = static_cast<size_t>(events[static_cast<size_t>(i)].data.u64 & 0xffffffffu);
      const auto generation = static_cast<uint32_t>(events[static_cast<size_t>(i)].data.u64 >> 32);
      Connection& c = conn(index);
      // Skip events of a socket closed earlier in this batch.
      if (c.fd < 0 || c.generation != generation) continue;
      on_event(index, events[static_cast<size_t>(i)].events);
    }
  }
  stop_streams_ = true;
  for (auto& c : conns_) close_conn(*c);
  for (size_t p = 0; p < replicas_.size(); ++p) {
    for (int phase = 0; phase < 2; ++phase) {
      ReplicaStats& r = replicas_[p];
      const size_t index = num_streams_ + static_cast<size_t>(phase) * options_.ports.size() + p;
      const bool asked = phase == 1 || options_.warmup > 0;
      if (asked && !r.snapshot[phase] && r.error[phase].empty() && !conn(index).finished) {
        r.error[phase] = "GET /kgai/stats: no answer within 15 s";
      }
    }
  }
  rusage usage_end{};
  getrusage(RUSAGE_SELF, &usage_end);
  auto seconds = [](const timeval& a, const timeval& b) {
    return static_cast<double>(b.tv_sec - a.tv_sec) +
           static_cast<double>(b.tv_usec - a.tv_usec) * 1e-6;
  };
  report(seconds(usage_start.ru_utime, usage_end.ru_utime),
         seconds(usage_start.ru_stime, usage_end.ru_stime));
  uint64_t total_errors = 0;
  for (uint64_t e : errors_) total_errors += e;
  bool stats_ok = true;
  for (const auto& r : replicas_) stats_ok = stats_ok && r.snapshot[1].has_value();
  return total_errors == 0 && stats_ok ? 0 : 1;
}

void LoadClient::report(double cpu_user, double cpu_system) {
  const double window = window_end_ - window_start_;
  const SampleSummary gap = summarize(gaps_);
  const SampleSummary ttft = summarize(ttfts_);

  // Server side: per replica, the final snapshot minus the end-of-warmup one.
  std::vector<LagSnapshot> deltas(replicas_.size());
  std::vector<const LagSnapshot*> parts;
  std::vector<std::string> stats_errors;
  bool warmup_excluded = options_.warmup > 0;
  std::optional<std::pair<double, size_t>> p99_min, p99_max;
  for (size_t p = 0; p < replicas_.size(); ++p) {
    const ReplicaStats& r = replicas_[p];
    for (int phase = 0; phase < 2; ++phase) {
      if (!r.error[phase].empty()) {
        stats_errors.push_back(fmt::format("port {} ({}): {}", options_.ports[p],
                                           phase == 0 ? "end of warmup" : "end of run",
                                           r.error[phase]));
      }
    }
    if (!r.snapshot[1]) continue;
    if (options_.warmup > 0 && r.snapshot[0]) {
      bool negative = false;
      deltas[p] = subtract(*r.snapshot[1], *r.snapshot[0], &negative);
      if (negative) {
        stats_errors.push_back(
            fmt::format("port {}: lag counts went down between snapshots (server restarted?)",
                        options_.ports[p]));
      }
    } else {
      deltas[p] = *r.snapshot[1];
      warmup_excluded = false;
    }
    parts.push_back(&deltas[p]);
    if (deltas[p].count == 0) continue;
    const double p99 = percentile(deltas[p], 99);
    if (!p99_min || p99 < p99_min->first) p99_min = {p99, p};
    if (!p99_max || p99 > p99_max->first) p99_max = {p99, p};
  }
  const LagSnapshot merged = merge(parts);
  uint64_t total_errors = 0;
  for (uint64_t e : errors_) total_errors += e;

  if (options_.json) {
    auto samples = [](const SampleSummary& s) {
      return nlohmann::json{
          {"count", s.count}, {"mean", s.mean}, {"p50", s.p50}, {"p99", s.p99}, {"max", s.max}};
    };
    nlohmann::json errors = {{"total", total_errors}};
    for (size_t k = 0; k < errors_.size(); ++k) errors[std::string(kErrorNames[k])] = errors_[k];
    nlohmann::json by_status = nlohmann::json::object();
    for (const auto& [status, count] : statuses_) by_status[std::to_string(status)] = count;
    errors["by_status"] = by_status;
    errors["first"] = first_errors_;
    nlohmann::json server = {
        {"replicas", replicas_.size()},
        {"replicas_reporting", parts.size()},
        {"warmup_excluded", warmup_excluded},
        {"token_send_lag_seconds",
         {{"count", merged.count},
          {"mean", merged.mean},
          {"p50", percentile(merged, 50)},
          {"p90", percentile(merged, 90)},
          {"p99", percentile(merged, 99)},
          {"p99.9", percentile(merged, 99.9)},
          {"max", merged.max}}},
        {"per_replica_p99_seconds",
         p99_min ? nlohmann::json{{"min", p99_min->first},
                                  {"min_port", options_.ports[p99_min->second]},
                                  {"max", p99_max->first},
                                  {"max_port", options_.ports[p99_max->second]}}
                 : nlohmann::json(nullptr)},
        {"errors", stats_errors}};
    nlohmann::json out = {{"settings",
                           {{"host", options_.host},
                            {"ports", options_.ports},
                            {"connections_per_port", options_.connections_per_port},
                            {"duration_seconds", options_.duration},
                            {"warmup_seconds", options_.warmup},
                            {"ramp_up_seconds", options_.ramp_up},
                            {"max_tokens", options_.max_tokens},
                            {"prompt_tokens", options_.prompt_tokens},
                            {"model", options_.model}}},
                          {"client",
                           {{"window_seconds", window},
                            {"responses", responses_},
                            {"tokens", tokens_},
                            {"tokens_per_second", static_cast<double>(tokens_) / window},
                            {"responses_per_second", static_cast<double>(responses_) / window},
                            {"total_responses", total_responses_},
                            {"total_tokens", total_tokens_},
                            {"reconnects", reconnects_},
                            {"inter_token_gap_seconds", samples(gap)},
                            {"ttft_seconds", samples(ttft)},
                            {"cpu_seconds", {{"user", cpu_user}, {"system", cpu_system}}}}},
                          {"server", server},
                          {"errors", errors}};
    fmt::print("{}\n", out.dump(2));
    return;
  }

  auto ms = [](double s) { return fmt::format("{:.3f} ms", s * 1e3); };
  fmt::print(
      "kgai_stream_load: {} ports x {} connections, {} s (first {} s warmup, {} s ramp-up), "
      "max_tokens {}, prompt {} tokens\n",
      options_.ports.size(), options_.connections_per_port, options_.duration, options_.warmup,
      options_.ramp_up, options_.max_tokens, options_.prompt_tokens);
  fmt::print(
      "client: {} responses, {} tokens in {:.1f} s = {:.0f} tokens/s ({:.1f} responses/s); "
      "whole run {} tokens\n",
      responses_, tokens_, window, static_cast<double>(tokens_) / window,
      static_cast<double>(responses_) / window, total_tokens_);
  fmt::print("client inter-token gap: p50 {} p99 {} max {} ({} samples); TTFT p50 {} p99 {}\n",
             ms(gap.p50), ms(gap.p99), ms(gap.max), gap.count, ms(ttft.p50), ms(ttft.p99));
  fmt::print("client cpu: {:.2f} s user + {:.2f} s system ({:.0f}% of a core)\n", cpu_user,
             cpu_system, 100 * (cpu_user + cpu_system) / (now_ - start_));
  fmt::print(
      "server token send lag ({} of {} replicas, {} tokens, {}): mean {} p50 {} "
      "p90 {} p99 {} p99.9 {} max {}\n",
      parts.size(), replicas_.size(), merged.count,
      options_.warmup <= 0 ? "no warmup"
      : warmup_excluded    ? "warmup excluded"
                           : "warmup INCLUDED: a snapshot is missing",
      ms(merged.mean), ms(percentile(merged, 50)), ms(percentile(merged, 90)),
      ms(percentile(merged, 99)), ms(percentile(merged, 99.9)), ms(merged.max));
  if (p99_min) {
    fmt::print("server per-replica p99: min {} (port {}) max {} (port {})\n", ms(p99_min->first),
               options_.ports[p99_min->second], ms(p99_max->first),
               options_.ports[p99_max->second]);
  }
  std::string kinds;
  for (size_t k = 0; k < errors_.size(); ++k) {
    if (errors_[k])
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", kErrorNames[k], errors_[k]);
  }
  fmt::print("errors: {}{}\n", total_errors, kinds.empty() ? "" : " (" + kinds + ")");
  for (const auto& e : first_errors_) fmt::print("  {}\n", e);
  for (const auto& e : stats_errors) fmt::print("stats error: {}\n", e);
}

}  // namespace

int main(int argc, char** argv) {
  FlagError flag_error;
  auto options = parse_flags(argc, argv, &flag_error);
  if (!options) {
    if (flag_error.message.empty()) return 0;  // --help
    fmt::print(stderr, "kgai_stream_load: {}\n", flag_error.message);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(options->host.c_str(), nullptr, &hints, &found); rc != 0 || !found) {
    fmt::print(stderr, "kgai_stream_load: --host {}: {}\n", options->host, gai_strerror(rc));
    return 2;
  }
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  const auto address_len = static_cast<socklen_t>(found->ai_addrlen);
  freeaddrinfo(found);

  // One descriptor per connection, plus the stats fetches and a margin.
  const size_t needed =
      options->ports.size() * (static_cast<size_t>(options->connections_per_port) + 2) + 64;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < needed) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, std::max<rlim_t>(needed, limit.rlim_cur));
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < needed) {
      fmt::print(stderr,
                 "kgai_stream_load: {} connections need {} file descriptors, the limit is {} "
                 "(raise it with ulimit -n)\n",
                 options->ports.size() * static_cast<size_t>(options->connections_per_port), needed,
                 limit.rlim_cur);
      return 2;
    }
  }
  LoadClient client(*options, address, address_len);
  return client.run();
}
