// An HTTP/1.1 server (Boost.Beast + C++20 coroutines inside http_server.cpp): keep-alive,
// chunked responses for streaming (SSE), limits on header and body size, timeouts.
//
// A handler gets each parsed request with a ResponseStream and answers through it, either
// at once or later (from a timer on the same loop): the connection waits for the answer
// before reading the next request. Malformed requests never reach the handler: the server
// answers 400 (bad syntax), 413 (body over the limit) or 431 (headers over the limit) with a
// plain-text reason and closes the connection. So do requests whose framing two parsers could
// read differently (request smuggling, RFC 9112 6.1 and 3.2): a Transfer-Encoding whose final
// coding is not chunked, or on HTTP/1.0, or beside a Content-Length; and an HTTP/1.1 request
// without exactly one Host. Pipelined bytes after a rejected request are never parsed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "common/http.h"
#include "common/result.h"

namespace kgai::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; listen() returns it
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = kDefaultMaxBodyBytes;
  // Time allowed to receive one whole request once its first byte arrived.
  std::chrono::milliseconds read_timeout{30'000};
  // Time a keep-alive connection may sit idle between requests.
  std::chrono::milliseconds idle_timeout{120'000};
  // Time allowed for one write to make progress (a stalled reader is dropped).
  std::chrono::milliseconds write_timeout{30'000};
  // SO_REUSEPORT: several servers (one per event-loop thread) listen on one port and the
  // kernel spreads connections over them.
  bool reuse_port = false;
  // Connections open at once (0: no cap). At the cap the server stops accepting, so new
  // clients wait in the kernel's listen backlog (and then time out) instead of costing a
  // descriptor and a coroutine each; accepting resumes when a connection closes. First the
  // keep-alive connection idle longest is closed to make room, if there is one. The default
  // leaves room under a raised descriptor limit for one upstream connection per client.
  std::size_t max_connections = 10'000;
  // Connections open at once from one client address (0: no cap). A connection over it is
  // closed as soon as it is accepted, unread. Off by default: behind a load balancer, a NAT
  // or a kube-proxy every client shares one address, and a load generator is one host.
  std::size_t max_connections_per_source = 0;
  // Backpressure for streamed responses (write()): ResponseStream::congested() is true while
  // more than write_high_water bytes wait for a slow reader, and on_drained() fires once they
  // are down to write_low_water. write() itself never refuses bytes: a producer that can wait
  // (a proxy reading an upstream) is expected to.
  std::size_t write_high_water = 256 * 1024;
  std::size_t write_low_water = 64 * 1024;
  // The answer to a request rejected before the handler (400, 413, 431): by default plain
  // text with the reason; an API server can answer in its own error shape. Framing headers
  // are the server's (Content-Length, Connection: close).
  std::function<Response(int status, std::string_view reason)> reject_response;
};

// The answer side of one request. All methods must be called on the loop's thread.
// Exactly one of respond() or start()...finish() per request.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;

  // Sends a whole response with Content-Length.
  virtual void respond(Response response) = 0;

  // Starts a chunked response (status + headers now, body in chunks).
  virtual void start(int status, std::vector<Header> headers) = 0;
  // Starts a response whose body length is known (a proxy relaying a Content-Length body):
  // no chunked framing, and the head waits to leave with the first body bytes, so a small
  // response goes out in one system call. Writing fewer or more than `length` bytes before
  // finish() closes the connection after the response (its framing would be wrong).
  virtual void start_sized(int status, std::vector<Header> headers, uint64_t length) = 0;
  // Queues one chunk and starts writing it at once. Returns false once the peer is gone.
  virtual bool write(std::string_view data) = 0;
  // Ends the chunked body; the connection then reads its next request.
  virtual void finish() = 0;
  // Drops the connection without ending the response, so the peer sees a truncated body
  // rather than a complete one (a proxy whose upstream broke mid-stream). on_close callbacks
  // are not called.
  virtual void abort() = 0;

  // False once the connection failed or closed.
  virtual bool is_open() const = 0;
  // `callback` runs once if the connection closes before the response completed (peer went
  // away, write error, timeout, server stop). Used to abort work nobody will read.
  virtual void on_close(std::function<void()> callback) = 0;

  // Response bytes accepted by write() (or start...) that the peer has not taken yet.
  virtual std::size_t buffered_bytes() const = 0;
  // True while buffered_bytes() is over ServerOptions::write_high_water: stop producing and
  // wait for on_drained().
  virtual bool congested() const = 0;
  // `callback` runs once, on the loop but never inside a call to this stream, when the
  // buffered bytes are down to ServerOptions::write_low_water (soon, if they already are).
  // Replaces a callback not yet run. Not run if the connection closes first (on_close is).
  virtual void on_drained(std::function<void()> callback) = 0;
};

using Handler = std::function<void(Request&& request, std::shared_ptr<ResponseStream> stream)>;

class Server {
 public:
  Server(EventLoop& loop, ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Returns the bound port (useful with port 0), or an error
  // such as "127.0.0.1:8000: address already in use".
  Result<uint16_t> listen();
  // Stops accepting and closes every connection. Safe to call twice; called by the
  // destructor. Must run on the loop's thread (or after the loop stopped).
  void stop();

  std::size_t open_connections() const;

  // Counters since listen(), for metrics. Thread-safe (relaxed reads).
  struct Stats {
    std::size_t open_connections = 0;
    // Connections closed unread for being over max_connections_per_source.
    uint64_t rejected_per_source = 0;
    // Times accepting stopped at max_connections.
    uint64_t paused_at_limit = 0;
    // accept() failures (EMFILE, ENFILE, ENOBUFS...), each followed by a short pause.
    uint64_t accept_errors = 0;
    // Keep-alive connections idle between requests, closed at max_connections to make room.
    uint64_t reclaimed_idle = 0;

    // Sums the counters of several servers (one per event-loop thread on one port).
    Stats& operator+=(const Stats& other) {
      open_connections += other.open_connections;
      rejected_per_source += other.rejected_per_source;
      paused_at_limit += other.paused_at_limit;
      accept_errors += other.accept_errors;
      reclaimed_idle += other.reclaimed_idle;
      return *this;
    }
  };
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kgai::http
