// The HTTP/1.1 server: one coroutine per connection reads requests (Beast's parser). The
// response side is plain code, not a coroutine: it writes straight to the non-blocking socket
// and hands only what the socket cannot take yet to an asio write, so a token reaches the
// kernel inside the handler's write() call instead of one loop turn later.
//
// Per connection, the coroutine is always doing one of:
//   - reading a few bytes (the next request's start; while a response is being written this
//     read doubles as the watch that notices a peer who went away),
//   - parsing one request (header, then body) under the read timeout,
//   - waiting for the response to finish before parsing a pipelined request,
//   - draining input after an error answer or "Connection: close" (a lingering close, so the
//     peer reads our answer instead of a reset).
// A single timer per connection enforces whichever deadline applies now (lazy_deadline.h).
#include "common/http_server.h"

#include <utility>

#include <array>
#include <atomic>
#include <cerrno>
#include <exception>
#include <iterator>
#include <list>
#include <map>
#include <optional>

#include <sys/socket.h>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "common/asio_internal.h"
#include "common/lazy_deadline.h"
#include "common/log.h"

namespace kgai::http {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr SteadyTime kNever = SteadyTime::max();
// Bytes asked of the socket when waiting for the start of a request.
constexpr std::size_t kReadChunk = 8 * 1024;
// Spare capacity left after a request body read by length, so that a parser needing padding
// past the end (simdjson reads 64 bytes beyond) can use the body in place without a copy.
constexpr std::size_t kBodySpareCapacity = 64;
// A respond() body up to this size is copied behind the header (one buffer); a larger one is
// written from where it lies.
constexpr std::size_t kCopyBodyLimit = 16 * 1024;
// How long input is drained after the answer on a connection we close.
constexpr std::chrono::seconds kLingerTime{2};
// The pause after accept() fails for lack of file descriptors, so as not to spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// Accept failures repeat ten times a second while descriptors are short, and per-source
// rejections as fast as a hostile client connects: at most one log line per interval.
constexpr std::chrono::seconds kLogInterval{10};

std::string_view to_std(boost::string_view view) { return {view.data(), view.size()}; }

// Calls `fn` with each comma-separated element of a header list, whitespace trimmed, empty
// elements skipped (RFC 9110 5.6.1).
template <typename Fn>
void for_each_list_item(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool contains_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_list_item(list,
                     [&](std::string_view item) { found = found || ascii_iequals(item, token); });
  return found;
}

// A header the handler set that would break the message framing is dropped.
bool is_valid_header(const Header& header) {
  if (header.name.empty()) return false;
  for (char c : header.name) {
    if (c <= ' ' || c == ':' || c == 0x7f) return false;
  }
  return header.value.find_first_of("\r\n", 0) == std::string::npos &&
         header.value.find('\0') == std::string::npos;
}

// Framing headers belong to the server; the handler's Connection header is read for "close".
bool is_framing_header(std::string_view name) {
  return ascii_iequals(name, "Content-Length") || ascii_iequals(name, "Transfer-Encoding") ||
         ascii_iequals(name, "Connection");
}

bool status_has_body(int status) { return status >= 200 && status != 204 && status != 304; }

struct Rejection {
  int status = 0;  // 0: the request may go on
  std::string reason;
};

// What Beast 1.74 lets through but a proxy must not act on, since another parser on the path
// could frame the same bytes differently (request smuggling, RFC 9112 6.1 and 3.2). Beast
// itself rejects Content-Length values that differ, and Transfer-Encoding: chunked next to
// Content-Length; it takes a request whose Transfer-Encoding is not chunked as bodiless,
// which would let the body be read as the next request.
Rejection check_framing(const bhttp::request_parser<bhttp::string_body>& parser) {
  const auto& message = parser.get();
  std::size_t hosts = 0;
  bool has_length = false;
  bool has_coding = false;
  std::size_t codings = 0;
  std::string_view final_coding;
  for (const auto& field : message) {
    const std::string_view name = to_std(field.name_string());
    if (ascii_iequals(name, "Host")) {
      ++hosts;
    } else if (ascii_iequals(name, "Content-Length")) {
      has_length = true;
    } else if (ascii_iequals(name, "Transfer-Encoding")) {
      has_coding = true;
      for_each_list_item(to_std(field.value()), [&](std::string_view coding) {
        ++codings;
        final_coding = coding;
      });
    }
  }
  if (has_coding) {
    // HTTP/1.0 has no transfer codings; a peer that sent one cannot be framed reliably.
    if (message.version() < 11) return {400, "bad request: Transfer-Encoding in HTTP/1.0"};
    if (has_length) {
      return {400, "bad request: both Transfer-Encoding and Content-Length"};
    }
    if (!ascii_iequals(final_coding, "chunked")) {
      return {400, "bad request: Transfer-Encoding whose final coding is not chunked"};
    }
    // gzip, chunked: framed fine, but the handler would get a body it cannot read.
    if (codings > 1) return {501, "transfer codings other than chunked are not supported"};
  }
  if (message.version() >= 11 && hosts != 1) {
    return {400, hosts == 0 ? "bad request: no Host header" : "bad request: more than one Host"};
  }
  return {};
}

// At most one line per kLogInterval; the next line counts the ones left out.
class LogLimiter {
 public:
  // Null: stay quiet. Otherwise log now, mentioning the count returned (left out since).
  std::optional<uint64_t> allow() {
    const SteadyTime now = Clock::now();
    if (last_ && now - *last_ < kLogInterval) {
      ++suppressed_;
      return std::nullopt;
    }
    last_ = now;
    return std::exchange(suppressed_, 0);
  }

 private:
  std::optional<SteadyTime> last_;
  uint64_t suppressed_ = 0;
};

std::string left_out(uint64_t count) {
  return count == 0 ? std::string() : fmt::format(" ({} more since the last report)", count);
}

const boost::system::error_category& beast_http_category() {
  return bhttp::make_error_code(bhttp::error::bad_target).category();
}

void log_coroutine_exception(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::error("http server: {}", e.what());
  } catch (...) {
    log::error("http server: unknown exception");
  }
}

class Connection;

// What the Server owns, shared with its connections so that a connection finishing after the
// Server object is gone still finds it.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(EventLoop& loop, ServerOptions options, Handler handler)
      : io_(io_context_of(loop)),
        options_(std::move(options)),
        handler_(std::move(handler)),
        acceptor_(io_),
        resume_(io_) {}

  Result<uint16_t> listen();
  void stop();
  std::size_t open_connections() const { return open_count_.load(std::memory_order_relaxed); }
  Server::Stats stats() const {
    return {open_connections(), rejected_per_source_.load(std::memory_order_relaxed),
            paused_at_limit_.load(std::memory_order_relaxed),
            accept_errors_.load(std::memory_order_relaxed),
            reclaimed_idle_.load(std::memory_order_relaxed)};
  }

  // Keep-alive connections waiting for their next request, oldest first: at max_connections
  // the oldest is closed to make room (as nginx reuses connections), so that clients who
  // keep connections idle cannot starve new ones.
  std::list<Connection*>::iterator mark_idle(Connection* connection) {
    return idle_.insert(idle_.end(), connection);
  }
  void unmark_idle(std::list<Connection*>::iterator it) { idle_.erase(it); }
  bool reclaim_idle();

  const ServerOptions& options() const { return options_; }
  const Handler& handler() const { return handler_; }
  bool stopped() const { return stopped_; }

  std::list<Connection*>::iterator add(Connection* connection, const asio::ip::address& source) {
    open_count_.fetch_add(1, std::memory_order_relaxed);
    if (options_.max_connections_per_source > 0) ++per_source_[source];
    return connections_.insert(connections_.end(), connection);
  }
  void remove(std::list<Connection*>::iterator it, const asio::ip::address& source) {
    connections_.erase(it);
    open_count_.fetch_sub(1, std::memory_order_relaxed);
    if (options_.max_connections_per_source > 0) {
      const auto found = per_source_.find(source);
      if (found != per_source_.end() && --found->second == 0) per_source_.erase(found);
    }
    if (waiting_for_room_) resume_.cancel();
  }

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<Listener> self);
  asio::awaitable<void> wait_for_room();
  asio::awaitable<void> pause_after_error(const error_code& ec);
  bool over_source_limit(const tcp::socket& socket, asio::ip::address& source);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  tcp::acceptor acceptor_;
  std::string bound_;  // "address:port" as bound (the port picked for port 0), for logs
  std::list<Connection*> connections_;
  std::list<Connection*> idle_;
  // Open connections per client address, kept only with max_connections_per_source.
  std::map<asio::ip::address, std::size_t> per_source_;
  // The accept loop waits on it at max_connections (a timer set to "never" and cancelled when
  // a connection closes: asio 1.74 has no channel).
  asio::steady_timer resume_;
  bool waiting_for_room_ = false;
  LogLimiter accept_log_;
  LogLimiter source_log_;
  // Read from other threads (tests, metrics) while the loop runs.
  std::atomic<std::size_t> open_count_{0};
  std::atomic<uint64_t> rejected_per_source_{0};
  std::atomic<uint64_t> paused_at_limit_{0};
  std::atomic<uint64_t> accept_errors_{0};
  std::atomic<uint64_t> reclaimed_idle_{0};
  bool listening_ = false;
  bool stopped_ = false;
};

class Exchange;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Listener> listener, tcp::socket socket, asio::ip::address source);
  ~Connection();

  static asio::awaitable<void> serve(std::shared_ptr<Connection> self);

  // The response side, called through the request's Exchange.
  void respond(Response response);
  void start(int status, const std::vector<Header>& headers);
  void start_sized(int status, const std::vector<Header>& headers, uint64_t length);
  void write_chunk(std::string_view data);
  void finish();
  void exchange_gone(Exchange& exchange, bool unanswered, bool streaming);

  // Closes the socket now; an unfinished response learns of it through on_close.
  void close();
  // True once the connection cannot carry more of the response (closed, or closing).
  bool closed() const { return closed_ || broken_; }

  // Backpressure (ResponseStream::buffered_bytes, congested, on_drained).
  std::size_t buffered_bytes() const { return pending_.size() + unsent(); }
  bool congested() const { return buffered_bytes() > options_.write_high_water; }
  void drain_requested();

 private:
  asio::awaitable<void> run();
  asio::awaitable<bool> read_some();
  asio::awaitable<void> wait_for_response();
  asio::awaitable<bool> read_request();
  asio::awaitable<void> read_sized_body(std::size_t length, error_code& ec);
  asio::awaitable<bool> reject(const error_code& ec);
  asio::awaitable<bool> reject(int status, std::string_view reason);
  asio::awaitable<void> write_now(std::string_view bytes, error_code& ec);
  void dispatch();

  void append_head(int status, const std::vector<Header>& headers);
  void flush();
  void write_rest();
  void on_written(const error_code& ec, std::size_t n);
  void advance(std::size_t n);
  std::size_t unsent() const { return (out_.size() - out_sent_) + (body_.size() - body_sent_); }
  void after_write();
  void notify_drained();
  void fail_later(const error_code& ec);
  void response_complete();
  void begin_linger();
  void set_idle(bool idle);

  void set_deadline(SteadyTime deadline) { deadline_.set(deadline); }
  friend class LazyDeadline<Connection>;
  void on_deadline_passed();

  std::shared_ptr<Listener> listener_;
  const ServerOptions& options_;
  std::list<Connection*>::iterator registration_;
  std::optional<std::list<Connection*>::iterator> idle_registration_;
  asio::ip::address source_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;

  // Wakes the coroutine when it waits for a response to finish (a timer set to "never" and
  // cancelled, since asio 1.74 has no channel).
  asio::steady_timer wake_;
  LazyDeadline<Connection> deadline_;

  // The request being answered (not owned: the handler holds it). Cleared once the response
  // is written or the Exchange is destroyed.
  Exchange* current_ = nullptr;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_request_ = false;
  bool response_active_ = false;  // from dispatch until the last byte is written
  bool response_ending_ = false;  // the last bytes of the response are queued
  bool chunked_ = false;
  bool send_body_ = true;
  std::optional<uint64_t> sized_left_;  // start_sized: body bytes still to come

  // Bytes queued while a write is in flight, the bytes of that write, and a large respond()
  // body written behind them. Their capacity is kept, so streaming allocates nothing per chunk.
  std::string pending_;
  std::string out_;
  std::string body_;
  // How much of out_ and body_ the socket took: the write in flight goes one write_some at a
  // time, so that the write timeout measures progress (a slow reader that keeps reading is
  // not dropped) and buffered_bytes() is exact.
  std::size_t out_sent_ = 0;
  std::size_t body_sent_ = 0;
  bool writing_ = false;

  bool lingering_ = false;
  // A write failed inside a handler's call: the close is posted so that on_close never runs
  // inside write(), where the caller may be iterating over its own state.
  bool broken_ = false;
  bool closed_ = false;
};

// One request's ResponseStream. It keeps the connection alive while the handler holds it;
// the connection only points back at it while the response is unfinished.
class Exchange final : public ResponseStream {
 public:
  explicit Exchange(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}

  ~Exchange() override {
    connection_->exchange_gone(*this, state_ == State::kNew, state_ == State::kStreaming);
  }

  void respond(Response response) override {
    if (state_ != State::kNew) return;
    state_ = State::kDone;
    connection_->respond(std::move(response));
  }

  void start(int status, std::vector<Header> headers) override {
    if (state_ != State::kNew) return;
    state_ = State::kStreaming;
    connection_->start(status, headers);
  }

  void start_sized(int status, std::vector<Header> headers, uint64_t length) override {
    if (state_ != State::kNew) return;
    state_ = State::kStreaming;
    connection_->start_sized(status, headers, length);
  }

  bool write(std::string_view data) override {
    if (state_ != State::kStreaming || connection_->closed()) return false;
    connection_->write_chunk(data);
    return true;
  }

  void finish() override {
    if (state_ != State::kStreaming) return;
    state_ = State::kDone;
    on_drained_ = nullptr;
    connection_->finish();
  }

  void abort() override {
    if (state_ == State::kDone || state_ == State::kClosed) return;
    state_ = State::kClosed;
    on_close_ = nullptr;
    on_drained_ = nullptr;
    connection_->close();
  }

  bool is_open() const override { return state_ != State::kClosed && !connection_->closed(); }

  void on_close(std::function<void()> callback) override {
    if (state_ == State::kClosed) {
      // Registered too late to be told later: tell now.
      if (callback) callback();
      return;
    }
    if (state_ != State::kDone) on_close_ = std::move(callback);
  }

  // The connection died before this response completed.
  void connection_closed() {
    on_drained_ = nullptr;
    if (state_ == State::kDone || state_ == State::kClosed) return;
    state_ = State::kClosed;
    auto callback = std::exchange(on_close_, nullptr);
    if (callback) callback();
  }

  std::size_t buffered_bytes() const override {
    return connection_->closed() ? 0 : connection_->buffered_bytes();
  }

  bool congested() const override { return !connection_->closed() && connection_->congested(); }

  void on_drained(std::function<void()> callback) override {
    if (state_ == State::kDone || state_ == State::kClosed) return;
    on_drained_ = std::move(callback);
    if (on_drained_) connection_->drain_requested();
  }

  // The connection's queue is down to the low-water mark.
  void drained() {
    auto callback = std::exchange(on_drained_, nullptr);
    if (callback) callback();  // may drop the last reference to this exchange
  }

  bool answered() const { return state_ != State::kNew; }

 private:
  enum class State { kNew, kStreaming, kDone, kClosed };

  std::shared_ptr<Connection> connection_;
  State state_ = State::kNew;
  std::function<void()> on_close_;
  std::function<void()> on_drained_;
};

// ---------------------------------------------------------------------------------------
// Listener

Result<uint16_t> Listener::listen() {
  const std::string where = fmt::format("{}:{}", options_.address, options_.port);
  if (stopped_) return fail("{}: server already stopped", where);
  if (listening_) return fail("{}: already listening", where);
  error_code ec;
  asio::ip::address address = asio::ip::make_address(options_.address, ec);
  if (ec) {
    // A host name: resolving blocks, which is fine once at start-up.
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(options_.address, std::to_string(options_.port), ec);
    if (ec || results.empty()) return fail("{}: cannot resolve address: {}", where, error_text(ec));
    address = results.begin()->endpoint().address();
  }
  const tcp::endpoint endpoint(address, options_.port);
  auto give_up = [&](std::string_view step) {
    error_code ignored;
    acceptor_.close(ignored);
    return fail("{}: {}{}", where, step, error_text(ec));
  };
  if (acceptor_.open(endpoint.protocol(), ec)) return give_up("");
  // Lets a restarted server bind while old connections sit in TIME_WAIT.
  if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec)) return give_up("");
  if (options_.reuse_port) {
    const int one = 1;
    if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = error_code(errno, boost::system::system_category());
      return give_up("SO_REUSEPORT: ");
    }
  }
  if (acceptor_.bind(endpoint, ec)) return give_up("");
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec)) return give_up("listen: ");
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return give_up("");
  bound_ = bound.address().is_v6()
               ? fmt::format("[{}]:{}", bound.address().to_string(), bound.port())
               : fmt::format("{}:{}", bound.address().to_string(), bound.port());
  listening_ = true;
  asio::co_spawn(io_, accept_loop(shared_from_this()), log_coroutine_exception);
  return bound.port();
}

asio::awaitable<void> Listener::accept_loop(std::shared_ptr<Listener> self) {
  while (!self->stopped_) {
    if (self->options_.max_connections > 0 &&
        self->open_connections() >= self->options_.max_connections) {
      if (self->idle_.empty()) {
        co_await self->wait_for_room();
        continue;
      }
      // Close an idle connection only for a client actually waiting in the backlog.
      error_code ec;
      co_await self->acceptor_.async_wait(tcp::acceptor::wait_read,
                                          asio::redirect_error(asio::use_awaitable, ec));
      if (self->stopped_) co_return;
      if (!ec && self->open_connections() >= self->options_.max_connections) {
        self->reclaim_idle();
      }
      continue;
    }
    error_code ec;
    tcp::socket socket =
        co_await self->acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (self->stopped_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      co_await self->pause_after_error(ec);
      continue;
    }
    asio::ip::address source;
    if (self->over_source_limit(socket, source)) continue;
    // Tokens are small writes that must leave at once, not wait for Nagle.
    socket.set_option(tcp::no_delay(true), ec);
    auto connection = std::make_shared<Connection>(self, std::move(socket), source);
    asio::co_spawn(self->io_, Connection::serve(std::move(connection)), log_coroutine_exception);
  }
}

bool Listener::reclaim_idle() {
  if (idle_.empty()) return false;
  reclaimed_idle_.fetch_add(1, std::memory_order_relaxed);
  idle_.front()->close();  // unmarks it, and frees its slot at once
  return true;
}

// At max_connections: new clients wait in the listen backlog (the kernel completes their
// handshakes, up to the backlog, and then drops SYNs) until a connection closes.
asio::awaitable<void> Listener::wait_for_room() {
  paused_at_limit_.fetch_add(1, std::memory_order_relaxed);
  if (auto skipped = accept_log_.allow()) {
    log::warn("http server {}: {} connections open, the limit: not accepting until one closes{}",
              bound_, open_connections(), left_out(*skipped));
  }
  waiting_for_room_ = true;
  error_code ec;
  resume_.expires_at(kNever);
  co_await resume_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  waiting_for_room_ = false;
}

asio::awaitable<void> Listener::pause_after_error(const error_code& ec) {
  accept_errors_.fetch_add(1, std::memory_order_relaxed);
  const bool out_of_resources = ec == asio::error::no_descriptors ||
                                ec == asio::error::no_buffer_space ||
                                ec == asio::error::no_memory || ec.value() == ENFILE;
  if (auto skipped = accept_log_.allow()) {
    log::warn("http server {}: accept: {}{}{}", bound_, error_text(ec), left_out(*skipped),
              out_of_resources ? "; pausing accepts" : "");
  }
  // The pending connection stays in the backlog and the listening socket stays readable:
  // retrying at once would spin until a descriptor frees up.
  if (out_of_resources) {
    asio::steady_timer pause(io_, kAcceptRetryDelay);
    error_code ignored;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

// Closes `socket` unread if its address already has max_connections_per_source open. A
// closed-at-once connection costs the server one accept and one close, whatever the client
// sends; an answer (503) would be lost to the reset that closing with unread input causes.
bool Listener::over_source_limit(const tcp::socket& socket, asio::ip::address& source) {
  // No getpeername() per accept unless the cap is on (the address is only counted then).
  if (options_.max_connections_per_source == 0) return false;
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return false;  // already gone: the connection's first read finds out
  source = peer.address();
  const auto found = per_source_.find(source);
  if (found == per_source_.end() || found->second < options_.max_connections_per_source) {
    return false;
  }
  rejected_per_source_.fetch_add(1, std::memory_order_relaxed);
  if (auto skipped = source_log_.allow()) {
    log::warn(
        "http server {}: {} has {} connections open, the per-source limit: closing new "
        "ones{}",
        bound_, source.to_string(), found->second, left_out(*skipped));
  }
  return true;  // the socket closes as it goes out of scope
}

void Listener::stop() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  resume_.cancel();
  // Closing runs on_close callbacks, which may close other connections: work on a copy.
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* connection : open) connection->close();
}

// ---------------------------------------------------------------------------------------
// Connection: reading

Connection::Connection(std::shared_ptr<Listener> listener, tcp::socket socket,
                       asio::ip::address source)
    : listener_(std::move(listener)),
      options_(listener_->options()),
      source_(source),
      socket_(std::move(socket)),
      // Room for the largest allowed header plus one read; a longer header line fails the
      // parse instead of growing the buffer.
      buffer_(options_.max_header_bytes + 2 * kReadChunk),
      wake_(socket_.get_executor()),
      deadline_(socket_.get_executor(), this) {
  registration_ = listener_->add(this, source_);
  // Writes are tried synchronously first (see flush()); they must never block the loop.
  error_code ignored;
  socket_.non_blocking(true, ignored);
}

Connection::~Connection() {
  // Only reached without close() when the io_context is torn down with the coroutine pending.
  if (closed_) return;
  set_idle(false);
  listener_->remove(registration_, source_);
}

asio::awaitable<void> Connection::serve(std::shared_ptr<Connection> self) {
  try {
    co_await self->run();
  } catch (const std::exception& e) {
    log::error("http connection: {}", e.what());
  }
  self->close();
}

asio::awaitable<void> Connection::run() {
  // A fresh connection gets the request read timeout for its first byte: a client connecting
  // and sending nothing is as suspect as one sending slowly.
  set_deadline(Clock::now() + options_.read_timeout);
  while (!closed_) {
    if (lingering_) buffer_.clear();
    if (buffer_.size() == 0) {
      // (The results of co_await are kept in named variables: g++ 12 miscompiles some
      // co_await expressions used directly inside conditions.)
      const bool got_bytes = co_await read_some();
      if (!got_bytes) co_return;
      continue;
    }
    if (response_active_) {
      co_await wait_for_response();
      continue;
    }
    const bool keep_going = co_await read_request();
    if (!keep_going) co_return;
  }
}

asio::awaitable<bool> Connection::read_some() {
  error_code ec;
  const std::size_t n = co_await socket_.async_read_some(
      buffer_.prepare(kReadChunk), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    // End of input while a response is being written means the peer went away: close()
    // tells the handler. Otherwise it is the normal end of a keep-alive connection.
    if (!closed_ && response_active_) {
      log::debug("http connection: peer gone during a response: {}", error_text(ec));
    }
    co_return false;
  }
  buffer_.commit(n);
  set_idle(false);
  co_return true;
}

asio::awaitable<void> Connection::wait_for_response() {
  error_code ec;
  wake_.expires_at(kNever);
  co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Connection::write_now(std::string_view bytes, error_code& ec) {
  set_deadline(Clock::now() + options_.write_timeout);
  co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                             asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<bool> Connection::read_request() {
  set_deadline(Clock::now() + options_.read_timeout);
  auto& parser = parser_.emplace();
  parser.header_limit(
      static_cast<std::uint32_t>(std::min<std::size_t>(options_.max_header_bytes, UINT32_MAX)));
  parser.body_limit(options_.max_body_bytes);

  error_code ec;
  co_await bhttp::async_read_header(socket_, buffer_, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && !closed_) {
    // Before 100 Continue and before any body byte: the body of a request framed wrongly
    // must not be read at all.
    const Rejection bad = check_framing(parser);
    if (bad.status != 0) {
      const bool answered = co_await reject(bad.status, bad.reason);
      co_return answered;
    }
  }
  if (!ec && !parser.is_done() && parser.get().version() >= 11 &&
      ascii_iequals(to_std(parser.get()[bhttp::field::expect]), "100-continue")) {
    // curl and others wait for this before sending a large body.
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    co_await write_now(kContinue, ec);
    set_deadline(Clock::now() + options_.read_timeout);
  }
  if (!ec && !parser.is_done()) {
    const auto length = parser.content_length();
    if (length && !parser.chunked() && *length <= options_.max_body_bytes) {
      co_await read_sized_body(static_cast<std::size_t>(*length), ec);
    } else {
      co_await bhttp::async_read(socket_, buffer_, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  if (closed_) co_return false;
  if (ec) {
    const bool answered = co_await reject(ec);
    co_return answered;
  }
  set_deadline(kNever);
  dispatch();
  co_return true;
}

// Reads a body of known length straight from the socket into its final string: one copy
// out of the kernel, no zero-fill, and large reads. Beast's body reader would copy each
// chunk through the read buffer into a zero-filled string (two extra passes over a
// 200 KB prompt, measurable in the gateway's profile).
asio::awaitable<void> Connection::read_sized_body(std::size_t length, error_code& ec) {
  std::string& body = parser_->get().body();
  body.clear();
  body.reserve(length + kBodySpareCapacity);
  const std::size_t buffered = std::min(length, buffer_.size());
  body.resize_and_overwrite(length, [&](char* data, std::size_t) {
    asio::buffer_copy(asio::buffer(data, buffered), buffer_.data());
    return length;
  });
  buffer_.consume(buffered);
  if (buffered < length) {
    co_await asio::async_read(socket_, asio::buffer(body.data() + buffered, length - buffered),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // The input stopped mid-body: the same answer Beast gives for a truncated message.
      body.clear();
      if (ec == asio::error::eof) ec = bhttp::error::partial_message;
    }
  }
}

// Answers a request that cannot reach the handler. Returns false when there is nobody to
// answer (the peer closed or the input stopped mid-request).
asio::awaitable<bool> Connection::reject(const error_code& ec) {
  int status = 400;
  std::string reason;
  const bool header_done = parser_->is_header_done();
  if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !header_done)) {
    status = 431;
    reason = fmt::format("request headers over {} bytes", options_.max_header_bytes);
  } else if (ec == bhttp::error::body_limit) {
    status = 413;
    reason = fmt::format("request body over {} bytes", options_.max_body_bytes);
  } else if (ec.category() == beast_http_category() && ec != bhttp::error::end_of_stream &&
             ec != bhttp::error::partial_message) {
    reason = fmt::format("bad request: {}", error_text(ec));
  } else {
    log::debug("http connection: request read ended: {}", error_text(ec));
    co_return false;
  }
  const bool answered = co_await reject(status, reason);
  co_return answered;
}

// Answers `status` with `reason` and closes: the rest of the input (a body, pipelined
// requests) is drained unparsed.
asio::awaitable<bool> Connection::reject(int status, std::string_view reason) {
  parser_.reset();
  std::string message;
  if (options_.reject_response) {
    Response custom = options_.reject_response(status, reason);
    fmt::format_to(std::back_inserter(message), "HTTP/1.1 {} {}\r\nServer: kgai\r\n", status,
                   reason_phrase(status));
    for (const Header& h : custom.headers) {
      if (is_valid_header(h) && !is_framing_header(h.name)) {
        fmt::format_to(std::back_inserter(message), "{}: {}\r\n", h.name, h.value);
      }
    }
    fmt::format_to(std::back_inserter(message), "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                   custom.body.size(), custom.body);
  } else {
    message = fmt::format(
        "HTTP/1.1 {} {}\r\nServer: kgai\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n{}\n",
        status, reason_phrase(status), reason.size() + 1, reason);
  }
  error_code write_ec;
  co_await write_now(message, write_ec);
  if (write_ec || closed_) co_return false;
  begin_linger();
  co_return true;
}

void Connection::dispatch() {
  auto& message = parser_->get();
  Request request;
  request.method = to_std(message.method_string());
  request.target = to_std(message.target());
  request.headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    request.headers.push_back(
        {std::string(to_std(field.name_string())), std::string(to_std(field.value()))});
  }
  request.body = std::move(message.body());
  version_ = message.version();
  keep_alive_ = parser_->keep_alive() && !listener_->stopped();
  head_request_ = message.method() == bhttp::verb::head;
  parser_.reset();

  response_active_ = true;
  response_ending_ = false;
  chunked_ = false;
  send_body_ = true;
  sized_left_.reset();
  auto exchange = std::make_shared<Exchange>(shared_from_this());
  current_ = exchange.get();
  try {
    listener_->handler()(std::move(request), exchange);
  } catch (const std::exception& e) {
    log::error("http handler threw: {}", e.what());
    if (!exchange->answered()) {
      exchange->respond(Response{500, {{"Content-Type", "text/plain"}}, "internal error\n"});
    } else {
      close();
    }
  }
  // If the handler kept no reference, the Exchange goes now and answers 500 for it.
}

// ---------------------------------------------------------------------------------------
// Connection: writing

void Connection::append_head(int status, const std::vector<Header>& headers) {
  fmt::format_to(std::back_inserter(pending_), "HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
  bool has_server = false;
  for (const Header& header : headers) {
    if (!is_valid_header(header)) {
      log::warn("http handler set an invalid header '{}'; dropped", header.name);
      continue;
    }
    if (is_framing_header(header.name)) {
      if (ascii_iequals(header.name, "Connection") && contains_token(header.value, "close")) {
        keep_alive_ = false;
      }
      continue;
    }
    has_server = has_server || ascii_iequals(header.name, "Server");
    pending_ += header.name;
    pending_ += ": ";
    pending_ += header.value;
    pending_ += "\r\n";
  }
  if (!has_server) pending_ += "Server: kgai\r\n";
}

void Connection::respond(Response response) {
  if (closed()) return;
  send_body_ = !head_request_ && status_has_body(response.status);
  append_head(response.status, response.headers);
  if (!keep_alive_) {
    pending_ += "Connection: close\r\n";
  } else if (version_ < 11) {
    pending_ += "Connection: keep-alive\r\n";
  }
  if (status_has_body(response.status)) {
    fmt::format_to(std::back_inserter(pending_), "Content-Length: {}\r\n", response.body.size());
  }
  pending_ += "\r\n";
  if (send_body_) {
    if (response.body.size() > kCopyBodyLimit && !writing_) {
      body_ = std::move(response.body);
    } else {
      pending_ += response.body;
    }
  }
  response_ending_ = true;
  flush();
}

void Connection::start(int status, const std::vector<Header>& headers) {
  if (closed()) return;
  send_body_ = !head_request_ && status_has_body(status);
  // HTTP/1.0 has no chunked encoding: there the body ends when the connection does.
  chunked_ = send_body_ && version_ >= 11;
  if (version_ < 11) keep_alive_ = false;
  append_head(status, headers);
  if (!keep_alive_) pending_ += "Connection: close\r\n";
  if (chunked_) pending_ += "Transfer-Encoding: chunked\r\n";
  pending_ += "\r\n";
  flush();
}

void Connection::start_sized(int status, const std::vector<Header>& headers, uint64_t length) {
  if (closed()) return;
  send_body_ = !head_request_ && status_has_body(status);
  chunked_ = false;
  append_head(status, headers);
  if (!keep_alive_) {
    pending_ += "Connection: close\r\n";
  } else if (version_ < 11) {
    pending_ += "Connection: keep-alive\r\n";
  }
  if (status_has_body(status)) {
    fmt::format_to(std::back_inserter(pending_), "Content-Length: {}\r\n", length);
  }
  pending_ += "\r\n";
  sized_left_ = send_body_ ? length : 0;
  // No flush: the head leaves with the first body bytes (or at finish()).
  if (*sized_left_ == 0) flush();
}

void Connection::write_chunk(std::string_view data) {
  // An empty chunk would read as the end of the body.
  if (closed() || !send_body_ || data.empty()) return;
  if (sized_left_) {
    if (data.size() > *sized_left_) {
      // More than announced: the peer would read the excess as the next response.
      data = data.substr(0, *sized_left_);
      keep_alive_ = false;
    }
    *sized_left_ -= data.size();
  }
  if (chunked_) {
    fmt::format_to(std::back_inserter(pending_), "{:x}\r\n", data.size());
    pending_ += data;
    pending_ += "\r\n";
  } else {
    pending_ += data;
  }
  flush();
}

void Connection::finish() {
  if (closed()) return;
  if (chunked_) pending_ += "0\r\n\r\n";
  // Fewer bytes than announced: the peer waits for the rest, so the connection must end.
  if (sized_left_ && *sized_left_ > 0) keep_alive_ = false;
  response_ending_ = true;
  flush();
}

// Writes what is queued unless a write is in flight (whose completion picks up whatever
// queued meanwhile, so chunks written in a burst leave in one system call). The bytes go to
// the socket right here when it has room: a token reaches the kernel inside the handler's
// write() call, with no completion to run afterwards; only a full socket waits in asio.
void Connection::flush() {
  if (closed() || writing_) return;
  if (pending_.empty() && body_.empty()) {
    if (response_ending_) response_complete();
    return;
  }
  out_.swap(pending_);
  pending_.clear();
  out_sent_ = 0;
  body_sent_ = 0;
  error_code ec;
  const std::array<asio::const_buffer, 2> all{asio::buffer(out_), asio::buffer(body_)};
  const std::size_t written = socket_.write_some(all, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
  } else if (ec) {
    fail_later(ec);
    return;
  }
  advance(written);
  if (unsent() == 0) {
    after_write();
    return;
  }
  writing_ = true;
  write_rest();
}

void Connection::advance(std::size_t n) {
  const std::size_t from_out = std::min(n, out_.size() - out_sent_);
  out_sent_ += from_out;
  body_sent_ += n - from_out;
}

// One write_some for what the socket has not taken, under a fresh write timeout: each bit of
// progress earns the reader another write_timeout.
void Connection::write_rest() {
  set_deadline(Clock::now() + options_.write_timeout);
  const std::array<asio::const_buffer, 2> rest{asio::buffer(out_) + out_sent_,
                                               asio::buffer(body_) + body_sent_};
  socket_.async_write_some(rest, [self = shared_from_this()](const error_code& ec, std::size_t n) {
    self->on_written(ec, n);
  });
}

void Connection::on_written(const error_code& ec, std::size_t n) {
  if (closed_) {
    writing_ = false;
    return;
  }
  if (ec) {
    writing_ = false;
    log::debug("http connection: write failed: {}", error_text(ec));
    close();
    return;
  }
  advance(n);
  if (unsent() > 0) {
    write_rest();
  } else {
    writing_ = false;
    after_write();
  }
  // Here, in a completion, and not in flush(): a producer is never called back from inside
  // its own write().
  notify_drained();
}

void Connection::after_write() {
  out_.clear();
  out_sent_ = 0;
  body_sent_ = 0;
  if (body_.capacity() > kCopyBodyLimit) {
    std::string().swap(body_);  // do not keep a large body's memory per idle connection
  } else {
    body_.clear();
  }
  if (!pending_.empty() || response_ending_) {
    flush();
    return;
  }
  set_deadline(kNever);  // waiting on the handler, which may take its time
}

void Connection::notify_drained() {
  if (current_ == nullptr || closed() || buffered_bytes() > options_.write_low_water) return;
  current_->drained();
}

// Registered while already drained: run it from the loop, not inside on_drained().
void Connection::drain_requested() {
  if (closed() || buffered_bytes() > options_.write_low_water) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->notify_drained(); });
}

void Connection::fail_later(const error_code& ec) {
  log::debug("http connection: write failed: {}", error_text(ec));
  broken_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void Connection::response_complete() {
  response_active_ = false;
  response_ending_ = false;
  current_ = nullptr;
  if (!keep_alive_ || listener_->stopped()) {
    begin_linger();
    return;
  }
  set_deadline(Clock::now() + options_.idle_timeout);
  // A pipelined request already read is work, not idleness.
  if (buffer_.size() == 0) set_idle(true);
  wake_.cancel();  // the coroutine may hold a pipelined request until now
}

void Connection::set_idle(bool idle) {
  if (idle && !idle_registration_) {
    idle_registration_ = listener_->mark_idle(this);
  } else if (!idle && idle_registration_) {
    listener_->unmark_idle(*idle_registration_);
    idle_registration_.reset();
  }
}

// Half-closes and reads (and drops) what the peer still sends, so that closing with unread
// input does not reset the connection before the peer read our answer.
void Connection::begin_linger() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  set_deadline(Clock::now() + kLingerTime);
  wake_.cancel();
}

void Connection::exchange_gone(Exchange& exchange, bool unanswered, bool streaming) {
  if (current_ != &exchange) return;
  current_ = nullptr;
  if (closed()) return;
  if (unanswered) {
    log::warn("http handler dropped a request without answering it");
    respond(Response{500, {{"Content-Type", "text/plain"}}, "handler dropped the request\n"});
  } else if (streaming) {
    // Finishing the body cleanly would pass a truncated stream off as complete.
    log::warn("http handler dropped a streaming response before finish()");
    close();
  }
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  auto keep_alive = shared_from_this();  // on_close callbacks may drop the last Exchange
  error_code ignored;
  socket_.close(ignored);
  wake_.cancel();
  deadline_.cancel();
  set_idle(false);
  listener_->remove(registration_, source_);
  if (Exchange* exchange = std::exchange(current_, nullptr)) exchange->connection_closed();
}

// ---------------------------------------------------------------------------------------
// Connection: deadlines

void Connection::on_deadline_passed() {
  if (closed_) return;
  log::debug("http connection: timeout");
  close();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Server

struct Server::Impl : Listener {
  using Listener::Listener;
};

Server::Server(EventLoop& loop, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(loop, std::move(options), std::move(handler))) {}

Server::~Server() { stop(); }

Result<uint16_t> Server::listen() { return impl_->listen(); }

void Server::stop() { impl_->stop(); }

std::size_t Server::open_connections() const { return impl_->open_connections(); }

Server::Stats Server::stats() const { return impl_->stats(); }

}  // namespace kgai::http
