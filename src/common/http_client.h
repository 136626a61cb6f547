// A blocking HTTP/1.1 client for tools and tests (Boost.Beast inside http_client.cpp):
// keep-alive across calls, chunked and Content-Length bodies, streaming bodies to a
// callback, limits and timeouts. Not thread-safe: one Client per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/http.h"
#include "common/result.h"

namespace kgai::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  // Limit for a whole exchange (send, headers and the complete body).
  std::chrono::milliseconds request_timeout{60'000};
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 64 * 1024 * 1024;
};

// Parts of "http://host:port/path". Only plain http is supported here.
struct Url {
  std::string host;
  uint16_t port = 80;
  std::string target = "/";
};
Result<Url> parse_url(std::string_view url);

class Client {
 public:
  Client(std::string host, uint16_t port, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Sends `request` (Host, Content-Length and Connection headers are added; a caller's
  // "Connection: close" is kept and the connection dropped after the answer) and reads the
  // whole response. Reuses the connection when the server keeps it alive; reconnects
  // once when a reused connection turns out to be closed.
  Result<Response> send(const Request& request);

  // Like send(), but hands the body to `on_body` piece by piece as it arrives (decoded from
  // chunked encoding); the returned Response has status and headers and an empty body.
  // `on_body` returning false stops reading and closes the connection.
  Result<Response> send_streaming(const Request& request,
                                  const std::function<bool(std::string_view)>& on_body);
  // Like send_streaming(), and hands the status and headers (body empty) to `on_head` as soon
  // as they arrive, before any body byte: a relay can pass the head on without waiting for the
  // body. `on_head` returning false stops there (no body is read) and closes the connection.
  Result<Response> send_streaming(const Request& request,
                                  const std::function<bool(const Response&)>& on_head,
                                  const std::function<bool(std::string_view)>& on_body);

  // Drops the connection (the next call reconnects).
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-off helpers on a fresh connection.
Result<Response> get(std::string_view url, ClientOptions options = {});
Result<Response> post(std::string_view url, std::string body,
                      std::string_view content_type = "application/json",
                      ClientOptions options = {});

}  // namespace kgai::http
