// An asynchronous HTTP/1.1 client for a reverse proxy: it forwards requests to upstream
// servers over pooled keep-alive connections and streams each response back through
// callbacks as its bytes arrive (Boost.Beast's parser inside http_upstream.cpp; no Beast
// here).
//
// Everything runs on one EventLoop's thread: send() and cancel() must be called there, and
// every callback runs there. A callback never runs inside send() or cancel(): errors found
// at once (a malformed request) are reported from a posted task.
//
//   auto exchange = pool.send("10.0.0.7", 8000, std::move(request), handler);
//   ...
//   exchange->cancel();  // the client went away: close the upstream connection
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "common/http.h"

namespace kgai::http {

struct UpstreamOptions {
  // Time allowed to establish the TCP connection (name resolution included).
  std::chrono::milliseconds connect_timeout{2'000};
  // From the moment the request is handed to the socket until the response's header is
  // complete: a model server may queue the request for a while before it answers.
  std::chrono::milliseconds header_timeout{60'000};
  // The longest gap allowed between two reads of the response body (a stalled stream).
  std::chrono::milliseconds idle_timeout{60'000};
  // Keep-alive connections kept per host:port; a connection finishing when the host already
  // has this many idle ones is closed.
  std::size_t max_idle_per_host = 256;
  // A response header (status line and fields) over this size is a kBrokenResponse.
  std::size_t max_header_bytes = 64 * 1024;
};

enum class UpstreamErrorKind {
  // Refused, unreachable, name not resolved, or connect timeout: the request was not sent.
  kConnect,
  // The connection closed or was reset before any byte of the response: the upstream did
  // not answer, so sending the request elsewhere is safe for a proxy.
  kNoResponse,
  kHeaderTimeout,
  kIdleTimeout,
  // A malformed response, a header over the limit, or a connection closed mid-body.
  kBrokenResponse,
  // The request cannot be sent as given (a header or target with CR/LF, a bad method).
  kInvalidRequest,
};

std::string_view to_string(UpstreamErrorKind kind);

struct UpstreamError {
  UpstreamErrorKind kind;
  std::string message;  // e.g. "connect 127.0.0.1:9: connection refused"

  // True when the upstream cannot have seen (kConnect) or answered (kNoResponse) the
  // request: a proxy may send it to another endpoint.
  bool retryable() const {
    return kind == UpstreamErrorKind::kConnect || kind == UpstreamErrorKind::kNoResponse;
  }
};

struct UpstreamRequest {
  std::string method = "POST";
  std::string target = "/";  // origin form: path and query
  // Sent as given, except the framing and hop-by-hop headers the pool manages itself
  // (Content-Length, Transfer-Encoding, Connection, Keep-Alive), which are dropped. Host is
  // added ("host:port") unless present.
  std::vector<Header> headers;
  // Shared so that a retry, or attempts at several endpoints, send it without a copy. Null
  // is an empty body. Content-Length is always sent with a body, and for POST/PUT/PATCH.
  std::shared_ptr<const std::string> body;
};

// Receives one response. All calls come on the loop's thread, in this order: on_headers
// once (1xx responses are skipped), on_body zero or more times, then exactly one of
// on_complete or on_error; on_error may come at any point (also instead of on_headers).
// After cancel() or the pool's destruction, nothing more is called. The pool holds the
// handler until the last call, so the caller need not keep it alive.
class UpstreamHandler {
 public:
  virtual ~UpstreamHandler() = default;
  virtual void on_headers(int status, std::vector<Header> headers) = 0;
  // De-chunked body bytes as they arrive. The view is valid only during the call.
  virtual void on_body(std::string_view chunk) = 0;
  virtual void on_complete() = 0;
  virtual void on_error(const UpstreamError& error) = 0;
};

// A request in flight. Dropping the handle does not stop the request (its handler still
// hears the end); cancel() does.
class UpstreamExchange {
 public:
  virtual ~UpstreamExchange() = default;
  // Closes the upstream connection unless the response already completed, and releases the
  // handler. No callback runs after it returns. Safe at any point: twice, after completion,
  // from inside any of the handler's callbacks, after the pool is gone.
  virtual void cancel() = 0;

  // Backpressure for a proxy whose client reads slower than the upstream writes: pause()
  // stops reading the response body from the upstream socket (the upstream then blocks on a
  // full TCP window), so memory per stream stays bounded; resume() reads again. Bytes of the
  // read in progress may still reach on_body after pause() (at most one read, 16 KiB). While
  // paused the idle timeout does not run: the slow party is the client, whose server-side
  // write timeout bounds a client that reads nothing. on_body never runs inside resume()
  // (it resumes from a posted task). A pause before the response header is complete takes
  // effect once it is. Both are no-ops once the exchange ended.
  virtual void pause() = 0;
  virtual void resume() = 0;
};

// Keep-alive connections per host:port, reused most recently used first (the warmest
// connection, and the least likely to have been closed by the server's idle timeout).
// A reused connection that turns out closed by the server (end of input or reset before
// any byte of the response) is retried once on a fresh connection, transparently.
//
// One pool per EventLoop; not thread-safe: use it on the loop's thread only, and destroy it
// there (or after the loop stopped), before the loop.
class UpstreamPool {
 public:
  explicit UpstreamPool(EventLoop& loop, UpstreamOptions options = {});
  // Closes every connection and cancels every request in flight, without callbacks.
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Sends `request` to host:port (an IP address, or a name resolved asynchronously) and
  // streams the response to `handler` (not null).
  std::shared_ptr<UpstreamExchange> send(const std::string& host, uint16_t port,
                                         UpstreamRequest request,
                                         std::shared_ptr<UpstreamHandler> handler);

  // Keep-alive connections waiting for a request.
  std::size_t idle_connections() const;
  // All connections: connecting, busy and idle.
  std::size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kgai::http
