// The upstream pool: plain callbacks on asio (no coroutines: a proxy runs one exchange per
// client request, and each step here is a handful of instructions between system calls).
//
// Per exchange, a connection goes through:
//   connecting  (connect_timeout)  -> resolve if needed, connect, TCP_NODELAY
//   awaiting    (header_timeout)   -> request written with one gather write (synchronously
//                                     when the socket takes it, which is nearly always), reads
//                                     until the response header is complete
//   body        (idle_timeout)     -> each read is parsed in place: Beast's basic_parser hands
//                                     body pieces straight from the read buffer to on_body
//   idle                           -> back in the pool after a complete keep-alive response
// One timer per connection enforces whichever deadline applies (lazy_deadline.h: moving a
// deadline later costs nothing; the timer re-arms itself when it fires early).
//
// Ownership: while a request is in flight the connection and the exchange point at each
// other (shared), and the pending asio operations hold the connection. Every end of the
// exchange (complete, error, cancel, pool gone) breaks that cycle.
#include "common/http_upstream.h"

#include <utility>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <functional>
#include <limits>
#include <list>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional/optional.hpp>

#include "common/asio_internal.h"
#include "common/lazy_deadline.h"
#include "common/log.h"

namespace kgai::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Kind = UpstreamErrorKind;

constexpr SteadyTime kNever = SteadyTime::max();
// Bytes asked of the socket per read. A read returns what has arrived, so this bounds the
// piece handed to on_body, not the latency.
constexpr std::size_t kReadChunk = 16 * 1024;

std::string_view to_std(beast::string_view view) { return {view.data(), view.size()}; }

struct HostPort {
  std::string host;
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

struct HostPortHash {
  std::size_t operator()(const HostPort& key) const {
    return std::hash<std::string_view>{}(key.host) ^ (std::size_t{key.port} * 0x9e3779b97f4a7c15);
  }
};

bool is_tchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// What would let the request's bytes be read as something else by the upstream (request
// smuggling through a header value with CR/LF), or cannot be sent at all; "" if fine.
std::string check_request(const UpstreamRequest& request) {
  if (!is_token(request.method)) return fmt::format("invalid method '{}'", request.method);
  if (request.target.empty()) return "empty request target";
  for (char c : request.target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return "request target with spaces or control characters";
    }
  }
  for (const Header& header : request.headers) {
    if (!is_token(header.name)) return fmt::format("invalid header name '{}'", header.name);
    if (header.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return fmt::format("header '{}' has CR, LF or NUL in its value", header.name);
    }
  }
  return {};
}

// Framing and hop-by-hop headers belong to the pool, which owns the connection.
bool is_managed_header(std::string_view name) {
  return ascii_iequals(name, "Content-Length") || ascii_iequals(name, "Transfer-Encoding") ||
         ascii_iequals(name, "Connection") || ascii_iequals(name, "Keep-Alive");
}

bool method_implies_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

void append_request_head(std::string& out, const UpstreamRequest& request,
                         std::string_view host_header) {
  out += request.method;
  out += ' ';
  out += request.target;
  out += " HTTP/1.1\r\n";
  bool has_host = false;
  for (const Header& header : request.headers) {
    if (is_managed_header(header.name)) continue;
    has_host = has_host || ascii_iequals(header.name, "Host");
    out += header.name;
    out += ": ";
    out += header.value;
    out += "\r\n";
  }
  if (!has_host) {
    out += "Host: ";
    out += host_header;
    out += "\r\n";
  }
  if (request.body != nullptr || method_implies_body(request.method)) {
    out += "Content-Length: ";
    const fmt::format_int length(request.body != nullptr ? request.body->size() : 0);
    out.append(length.data(), length.size());
    out += "\r\n";
  }
  out += "\r\n";
}

class Connection;
class PoolCore;

// One request's life, and the handle its caller may cancel.
class Exchange final : public UpstreamExchange {
 public:
  Exchange(HostPort target, UpstreamRequest request, std::shared_ptr<UpstreamHandler> handler)
      : target_(std::move(target)), request_(std::move(request)), handler_(std::move(handler)) {}

  void cancel() override;
  void pause() override;
  void resume() override;
  bool paused() const { return paused_; }

  const HostPort& target() const { return target_; }
  const UpstreamRequest& request() const { return request_; }
  // Null once the exchange ended.
  const std::shared_ptr<UpstreamHandler>& handler() const { return handler_; }
  bool done() const { return done_; }

  // The connection carrying the request (null while none does).
  void attach(std::shared_ptr<Connection> connection) { connection_ = std::move(connection); }
  void detach() { connection_.reset(); }

  // Ends the exchange with its last callback. The handler is moved to the stack first: the
  // callback may drop the last reference to this exchange or cancel it.
  void complete() {
    if (done_) return;
    done_ = true;
    const auto handler = std::move(handler_);
    handler->on_complete();
  }
  void fail(Kind kind, std::string message) {
    if (done_) return;
    done_ = true;
    const auto handler = std::move(handler_);
    handler->on_error(UpstreamError{kind, std::move(message)});
  }
  // Ends the exchange without a callback (the pool is going away).
  void abandon() {
    done_ = true;
    connection_.reset();
    handler_.reset();
  }

  // The transparent retry of a request whose reused connection was found closed is spent.
  bool retried = false;

 private:
  HostPort target_;
  UpstreamRequest request_;
  std::shared_ptr<UpstreamHandler> handler_;
  std::shared_ptr<Connection> connection_;
  bool done_ = false;
  bool paused_ = false;
};

// Beast's parser with its callbacks wired to the connection: fields become Headers, and
// body pieces go to the handler from where they lie in the read buffer (no copy, no
// accumulation).
class ResponseParser final : public bhttp::basic_parser<false> {
 public:
  explicit ResponseParser(Connection& connection) : connection_(connection) {}

  int status() const { return status_; }
  std::vector<Header>& headers() { return headers_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       error_code& ec) override {
    ec = bhttp::error::bad_method;  // not called for a response parser
  }
  void on_response_impl(int code, beast::string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                     error_code&) override {
    // An interim (1xx) response's fields are not reported.
    if (status_ >= 200) headers_.push_back({std::string(to_std(name)), std::string(to_std(value))});
  }
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  Connection& connection_;
  int status_ = 0;
  std::vector<Header> headers_;
};

// What the pool keeps; UpstreamPool::Impl is this.
class PoolCore {
 public:
  PoolCore(EventLoop& loop, UpstreamOptions options)
      : io_(io_context_of(loop)), options_(std::move(options)) {}
  ~PoolCore();

  asio::io_context& io() { return io_; }
  const UpstreamOptions& options() const { return options_; }

  std::shared_ptr<UpstreamExchange> send(const std::string& host, uint16_t port,
                                         UpstreamRequest request,
                                         std::shared_ptr<UpstreamHandler> handler);
  // Puts `exchange` on an idle connection to its target (when `reuse`) or a new one.
  void dispatch(std::shared_ptr<Exchange> exchange, bool reuse);
  // Takes back a connection whose response completed with keep-alive.
  void release(std::shared_ptr<Connection> connection);

  std::list<Connection*>::iterator add(Connection* connection) {
    return connections_.insert(connections_.end(), connection);
  }
  void remove(std::list<Connection*>::iterator it) { connections_.erase(it); }

  std::size_t idle_connections() const { return idle_count_; }
  std::size_t open_connections() const { return connections_.size(); }

 private:
  asio::io_context& io_;
  UpstreamOptions options_;
  // Most recently used last.
  std::unordered_map<HostPort, std::vector<std::shared_ptr<Connection>>, HostPortHash> idle_;
  std::size_t idle_count_ = 0;
  // Every open connection, for open_connections() and for closing them all at the end.
  std::list<Connection*> connections_;
  // Tasks posted by send() check it, so none runs after the pool is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(PoolCore& pool, HostPort target);
  ~Connection();

  const HostPort& target() const { return target_; }

  // Connects, then sends `exchange`'s request.
  void connect(std::shared_ptr<Exchange> exchange);
  // Sends `exchange`'s request on this idle, kept-alive connection.
  void reuse(std::shared_ptr<Exchange> exchange);

  // The request's owner cancelled it: the connection cannot carry another (the response is
  // unfinished), so it closes.
  void drop_exchange();
  // The pool is going away: close, with no callback and no further use of the pool.
  void abandon();
  // Closes the socket; pending operations complete with nothing left to do.
  void close();

  // For an idle connection: the server closed it (or sent bytes nobody asked for, which
  // would be read as the next response) while it sat in the pool.
  bool unusable();

  // From the parser, in the middle of put().
  void on_parsed_header(ResponseParser& parser, error_code& ec);
  bool on_parsed_body(std::string_view chunk);

  // The exchange was paused or resumed (Exchange::pause, resume).
  void reading_paused();
  void reading_resumed();

 private:
  enum class Phase { kConnecting, kAwaiting, kBody, kIdle, kClosed };

  void begin(std::shared_ptr<Exchange> exchange);
  void on_connected(const error_code& ec);
  void send_request();
  void start_parser();
  void on_written(const error_code& ec);
  void on_send_failed(const error_code& ec);
  void start_read();
  void on_read(const error_code& ec, std::size_t n);
  void on_read_failed(const error_code& ec);
  void parse();
  void finish_response(bool keep_alive);
  void no_response(const error_code& ec);
  void fail(Kind kind, std::string message);
  std::string where() const { return fmt::format("{}:{}", target_.host, target_.port); }
  // Reading is held back: the exchange is paused and its response body is being read.
  bool held() const { return phase_ == Phase::kBody && current_ != nullptr && current_->paused(); }

  void set_deadline(SteadyTime deadline) { deadline_.set(deadline); }
  friend class LazyDeadline<Connection>;
  void on_deadline_passed();

  PoolCore* pool_;  // null once the pool is gone
  // A copy: a callback may destroy the pool while this connection is still on the stack.
  const UpstreamOptions options_;
  std::list<Connection*>::iterator registration_;
  HostPort target_;
  std::string host_header_;
  tcp::socket socket_;
  std::optional<tcp::resolver> resolver_;
  LazyDeadline<Connection> deadline_;

  // Kept across requests, so that a kept-alive connection allocates nothing per request for
  // its buffers once warm.
  beast::flat_buffer buffer_;
  std::string head_;
  std::optional<ResponseParser> parser_;
  // The body being written (held in case the exchange goes first).
  std::shared_ptr<const std::string> body_;

  std::shared_ptr<Exchange> current_;
  Phase phase_ = Phase::kConnecting;
  bool reused_ = false;     // the current request went out on a kept-alive connection
  bool got_bytes_ = false;  // some byte of the current response arrived
  bool writing_ = false;    // an asynchronous write of the request is in flight
  bool reading_ = false;    // an asynchronous read is in flight (it owns buffer_'s tail)
};

// ---------------------------------------------------------------------------------------
// Exchange and parser callbacks

void Exchange::cancel() {
  if (done_) return;
  done_ = true;
  if (auto connection = std::move(connection_)) connection->drop_exchange();
  // Whoever is in one of the handler's calls holds its own reference.
  handler_.reset();
}

void Exchange::pause() {
  if (done_ || paused_) return;
  paused_ = true;
  if (connection_) connection_->reading_paused();
}

void Exchange::resume() {
  if (done_ || !paused_) return;
  paused_ = false;
  if (connection_) connection_->reading_resumed();
}

void ResponseParser::on_header_impl(error_code& ec) { connection_.on_parsed_header(*this, ec); }

std::size_t ResponseParser::on_body_impl(beast::string_view body, error_code& ec) {
  if (!connection_.on_parsed_body(to_std(body))) ec = asio::error::operation_aborted;
  return body.size();
}

// ---------------------------------------------------------------------------------------
// Connection

Connection::Connection(PoolCore& pool, HostPort target)
    : pool_(&pool),
      options_(pool.options()),
      target_(std::move(target)),
      socket_(pool.io()),
      deadline_(pool.io().get_executor(), this),
      // A header over the limit fails in the parser before the buffer outgrows this.
      buffer_(options_.max_header_bytes + 2 * kReadChunk) {
  registration_ = pool.add(this);
  const bool ipv6 = target_.host.find(':') != std::string::npos;
  host_header_ = ipv6 ? fmt::format("[{}]", target_.host) : target_.host;
  if (target_.port != 80) host_header_ += fmt::format(":{}", target_.port);
}

Connection::~Connection() {
  // Reached without close() only when the io_context is torn down with operations pending.
  if (phase_ != Phase::kClosed && pool_ != nullptr) pool_->remove(registration_);
}

void Connection::begin(std::shared_ptr<Exchange> exchange) {
  exchange->attach(shared_from_this());
  current_ = std::move(exchange);
}

void Connection::connect(std::shared_ptr<Exchange> exchange) {
  begin(std::move(exchange));
  phase_ = Phase::kConnecting;
  reused_ = false;
  set_deadline(Clock::now() + options_.connect_timeout);
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(target_.host, ec);
  if (!ec) {
    socket_.async_connect(
        tcp::endpoint(address, target_.port),
        [self = shared_from_this()](const error_code& ec) { self->on_connected(ec); });
    return;
  }
  resolver_.emplace(pool_->io());
  resolver_->async_resolve(
      target_.host, std::to_string(target_.port),
      [self = shared_from_this()](const error_code& ec, tcp::resolver::results_type results) {
        if (self->phase_ == Phase::kClosed) return;
        if (ec) {
          self->fail(Kind::kConnect, fmt::format("connect {}: cannot resolve host: {}",
                                                 self->where(), error_text(ec)));
          return;
        }
        asio::async_connect(
            self->socket_, results,
            [self](const error_code& ec, const tcp::endpoint&) { self->on_connected(ec); });
      });
}

void Connection::on_connected(const error_code& ec) {
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    fail(Kind::kConnect, fmt::format("connect {}: {}", where(), error_text(ec)));
    return;
  }
  error_code ignored;
  // Requests and tokens are small writes that must leave at once.
  socket_.set_option(tcp::no_delay(true), ignored);
  // The request is written synchronously when the socket has room; that must never block.
  socket_.non_blocking(true, ignored);
  send_request();
}

void Connection::reuse(std::shared_ptr<Exchange> exchange) {
  begin(std::move(exchange));
  reused_ = true;
  send_request();
}

void Connection::send_request() {
  phase_ = Phase::kAwaiting;
  got_bytes_ = false;
  set_deadline(Clock::now() + options_.header_timeout);

  const UpstreamRequest& request = current_->request();
  start_parser();

  head_.clear();
  append_request_head(head_, request, host_header_);
  body_ = request.body;
  const asio::const_buffer body =
      body_ != nullptr ? asio::buffer(*body_) : asio::const_buffer(nullptr, 0);
  const std::array<asio::const_buffer, 2> all{asio::buffer(head_), body};

  error_code ec;
  const std::size_t written = socket_.write_some(all, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
  } else if (ec) {
    on_send_failed(ec);
    return;
  }
  if (written == head_.size() + body.size()) {
    body_.reset();
  } else {
    // Rare (a large body, a full socket buffer). The response is read meanwhile: a server
    // may answer (say 413) before taking the whole body.
    const std::size_t head_written = std::min(written, head_.size());
    const std::array<asio::const_buffer, 2> rest{asio::buffer(head_) + head_written,
                                                 body + (written - head_written)};
    writing_ = true;
    asio::async_write(
        socket_, rest,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_written(ec); });
  }
  start_read();
}

void Connection::start_parser() {
  parser_.emplace(*this);
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<std::size_t>(options_.max_header_bytes, UINT32_MAX)));
  // A stream may run for hours. Not boost::none: Beast 1.74 compares a Content-Length
  // against an unset limit as over it.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  parser_->eager(true);  // the whole read in one put() call
  if (current_->request().method == "HEAD") parser_->skip(true);
}

void Connection::on_written(const error_code& ec) {
  writing_ = false;
  body_.reset();
  if (phase_ == Phase::kClosed) return;
  if (ec) on_send_failed(ec);
}

void Connection::on_send_failed(const error_code& ec) {
  // A response that started anyway decides the outcome on the read side.
  if (got_bytes_) return;
  no_response(ec);
}

void Connection::start_read() {
  // One read at a time; and none while the exchange is paused in the body (the bytes would
  // only pile up here instead of in the upstream's socket).
  if (reading_ || held()) return;
  // Only a chunk-size line of absurd length keeps unparsed bytes around past the header.
  if (buffer_.size() + kReadChunk > buffer_.max_size()) {
    fail(Kind::kBrokenResponse,
         fmt::format("malformed response from {}: unparsable line over {} bytes", where(),
                     buffer_.size()));
    return;
  }
  reading_ = true;
  socket_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const error_code& ec, std::size_t n) {
  reading_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    on_read_failed(ec);
    return;
  }
  buffer_.commit(n);
  got_bytes_ = true;
  if (phase_ == Phase::kBody && !held()) set_deadline(Clock::now() + options_.idle_timeout);
  parse();
}

void Connection::parse() {
  if (current_ == nullptr) return;
  // Held across the callbacks: one of them may cancel the exchange or destroy the pool,
  // which drops the references the connection and the exchange keep.
  const std::shared_ptr<Exchange> exchange = current_;
  const std::shared_ptr<UpstreamHandler> handler = exchange->handler();
  for (;;) {
    // Paused: what is left in the buffer waits for resume() (bounded by one read).
    if (held()) return;
    const asio::const_buffer data = buffer_.data();
    if (data.size() == 0) break;
    error_code ec;
    const std::size_t used = parser_->put(data, ec);
    buffer_.consume(used);
    if (current_ != exchange) return;  // cancelled from a callback
    if (ec == bhttp::error::need_more) break;
    if (ec == bhttp::error::header_limit) {
      fail(Kind::kBrokenResponse, fmt::format("response header from {} over {} bytes", where(),
                                              options_.max_header_bytes));
      return;
    }
    if (ec) {
      fail(Kind::kBrokenResponse,
           fmt::format("malformed response from {}: {}", where(), error_text(ec)));
      return;
    }
    if (parser_->is_done()) {
      if (parser_->status() >= 200) {
        finish_response(parser_->keep_alive());
        return;
      }
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      start_parser();
      continue;
    }
    if (used == 0) break;
  }
  start_read();
}

void Connection::on_parsed_header(ResponseParser& parser, error_code& ec) {
  const int status = parser.status();
  if (status < 100) {
    // Beast reads "000" to "099" as a status; taken for an interim response, it sent the body
    // to a handler that never had on_headers (found by tests/fuzz/http_upstream_fuzz.cpp).
    ec = bhttp::error::bad_status;
    return;
  }
  if (status == 101) {
    // The connection would switch protocols, which no request here asks for.
    ec = bhttp::error::bad_version;
    return;
  }
  if (status < 200) return;
  phase_ = Phase::kBody;
  set_deadline(held() ? kNever : Clock::now() + options_.idle_timeout);
  current_->handler()->on_headers(status, std::move(parser.headers()));
  if (current_ == nullptr) ec = asio::error::operation_aborted;
}

bool Connection::on_parsed_body(std::string_view chunk) {
  if (current_ == nullptr) return false;
  if (!chunk.empty()) current_->handler()->on_body(chunk);
  return current_ != nullptr;
}

void Connection::reading_paused() {
  // The client is the slow party now; its own write timeout bounds the wait.
  if (phase_ == Phase::kBody) set_deadline(kNever);
}

void Connection::reading_resumed() {
  if (phase_ != Phase::kBody) return;
  set_deadline(Clock::now() + options_.idle_timeout);
  // Posted: the caller (a drain callback) must not be re-entered through on_body. A read in
  // flight continues by itself.
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), exchange = std::weak_ptr<Exchange>(current_)] {
               if (self->phase_ != Phase::kBody || self->reading_ || self->held()) return;
               if (self->current_ == nullptr || self->current_ != exchange.lock()) return;
               self->parse();
             });
}

void Connection::on_read_failed(const error_code& ec) {
  if (!got_bytes_) {
    no_response(ec);
    return;
  }
  if (ec == asio::error::eof && parser_->is_header_done() && parser_->need_eof()) {
    // A body delimited by the end of the connection (no Content-Length, not chunked).
    error_code eof_ec;
    parser_->put_eof(eof_ec);
    if (!eof_ec && parser_->is_done()) {
      finish_response(false);
      return;
    }
  }
  if (ec == asio::error::eof) {
    fail(Kind::kBrokenResponse,
         fmt::format("{} closed the connection in the middle of the response", where()));
  } else {
    fail(Kind::kBrokenResponse,
         fmt::format("reading the response from {}: {}", where(), error_text(ec)));
  }
}

// The upstream closed or reset the connection before answering.
void Connection::no_response(const error_code& ec) {
  if (reused_ && !current_->retried && pool_ != nullptr) {
    // Most likely the server closed the idle connection as we sent on it (its keep-alive
    // timeout): the request never reached it, so it goes again, once, on a new connection.
    log::debug("upstream {}: kept-alive connection closed ({}); retrying on a new one", where(),
               error_text(ec));
    std::shared_ptr<Exchange> exchange = std::move(current_);
    exchange->detach();
    exchange->retried = true;
    PoolCore* pool = pool_;
    close();
    pool->dispatch(std::move(exchange), /*reuse=*/false);
    return;
  }
  fail(Kind::kNoResponse,
       fmt::format("{} closed the connection without responding: {}", where(), error_text(ec)));
}

void Connection::finish_response(bool keep_alive) {
  std::shared_ptr<Exchange> exchange = std::move(current_);
  exchange->detach();
  phase_ = Phase::kIdle;
  set_deadline(kNever);
  parser_.reset();
  // Bytes past the response would be read as the next one; a request body still being
  // written would be taken for the next request's start.
  const bool reusable = keep_alive && !writing_ && buffer_.size() == 0 && pool_ != nullptr;
  if (reusable) {
    // Back in the pool before on_complete, so that a request sent from there can reuse it.
    pool_->release(shared_from_this());
  } else {
    close();
  }
  exchange->complete();
}

void Connection::fail(Kind kind, std::string message) {
  std::shared_ptr<Exchange> exchange = std::move(current_);
  close();
  if (exchange == nullptr) return;
  exchange->detach();
  exchange->fail(kind, std::move(message));
}

void Connection::drop_exchange() {
  current_.reset();
  close();
}

void Connection::abandon() {
  std::shared_ptr<Exchange> exchange = std::move(current_);
  close();
  pool_ = nullptr;
  if (exchange != nullptr) exchange->abandon();
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  error_code ignored;
  socket_.close(ignored);
  if (resolver_) resolver_->cancel();
  deadline_.cancel();
  if (pool_ != nullptr) pool_->remove(registration_);
}

bool Connection::unusable() {
  char byte;
  const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

// ---------------------------------------------------------------------------------------
// Connection: deadlines

void Connection::on_deadline_passed() {
  switch (phase_) {
    case Phase::kConnecting:
      fail(Kind::kConnect, fmt::format("connect {}: timed out after {} ms", where(),
                                       options_.connect_timeout.count()));
      break;
    case Phase::kAwaiting:
      fail(Kind::kHeaderTimeout, fmt::format("no response header from {} within {} ms", where(),
                                             options_.header_timeout.count()));
      break;
    case Phase::kBody:
      fail(Kind::kIdleTimeout, fmt::format("response body from {} stalled for {} ms", where(),
                                           options_.idle_timeout.count()));
      break;
    case Phase::kIdle:
    case Phase::kClosed:
      break;
  }
}

// ---------------------------------------------------------------------------------------
// PoolCore

PoolCore::~PoolCore() {
  alive_.reset();
  std::vector<std::shared_ptr<Connection>> open;
  open.reserve(connections_.size());
  for (Connection* connection : connections_) open.push_back(connection->shared_from_this());
  for (const auto& connection : open) connection->abandon();
  idle_.clear();
}

std::shared_ptr<UpstreamExchange> PoolCore::send(const std::string& host, uint16_t port,
                                                 UpstreamRequest request,
                                                 std::shared_ptr<UpstreamHandler> handler) {
  auto exchange =
      std::make_shared<Exchange>(HostPort{host, port}, std::move(request), std::move(handler));
  std::string problem = check_request(exchange->request());
  if (!problem.empty()) {
    asio::post(io_, [exchange, alive = std::weak_ptr<char>(alive_), problem = std::move(problem),
                     where = fmt::format("{}:{}", host, port)]() mutable {
      if (alive.expired()) return;
      exchange->fail(Kind::kInvalidRequest,
                     fmt::format("request to {} not sent: {}", where, problem));
    });
    return exchange;
  }
  dispatch(exchange, /*reuse=*/true);
  return exchange;
}

void PoolCore::dispatch(std::shared_ptr<Exchange> exchange, bool reuse) {
  if (reuse) {
    const auto found = idle_.find(exchange->target());
    if (found != idle_.end()) {
      auto& idle = found->second;
      while (!idle.empty()) {
        std::shared_ptr<Connection> connection = std::move(idle.back());
        idle.pop_back();
        --idle_count_;
        if (connection->unusable()) {
          connection->close();
          continue;
        }
        connection->reuse(std::move(exchange));
        return;
      }
    }
  }
  auto connection = std::make_shared<Connection>(*this, exchange->target());
  connection->connect(std::move(exchange));
}

void PoolCore::release(std::shared_ptr<Connection> connection) {
  auto& idle = idle_[connection->target()];
  if (idle.size() >= options_.max_idle_per_host) {
    connection->close();
    return;
  }
  idle.push_back(std::move(connection));
  ++idle_count_;
}

}  // namespace

std::string_view to_string(UpstreamErrorKind kind) {
  switch (kind) {
    case Kind::kConnect:
      return "connect";
    case Kind::kNoResponse:
      return "no response";
    case Kind::kHeaderTimeout:
      return "header timeout";
    case Kind::kIdleTimeout:
      return "idle timeout";
    case Kind::kBrokenResponse:
      return "broken response";
    case Kind::kInvalidRequest:
      return "invalid request";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
// UpstreamPool

struct UpstreamPool::Impl : PoolCore {
  using PoolCore::PoolCore;
};

UpstreamPool::UpstreamPool(EventLoop& loop, UpstreamOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

UpstreamPool::~UpstreamPool() = default;

std::shared_ptr<UpstreamExchange> UpstreamPool::send(const std::string& host, uint16_t port,
                                                     UpstreamRequest request,
                                                     std::shared_ptr<UpstreamHandler> handler) {
  return impl_->send(host, port, std::move(request), std::move(handler));
}

std::size_t UpstreamPool::idle_connections() const { return impl_->idle_connections(); }

std::size_t UpstreamPool::open_connections() const { return impl_->open_connections(); }

}  // namespace kgai::http
