// The blocking client runs Beast's asynchronous operations on a private io_context, one at a
// time: that is how each step gets a deadline (beast::tcp_stream closes the socket when it
// passes) while the caller simply waits.
#include "common/http_client.h"

#include <utility>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/asio_internal.h"

namespace kgai::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using BodyCallback = std::function<bool(std::string_view)>;
using HeadCallback = std::function<bool(const Response&)>;

// Bytes handed to on_body at most per call.
constexpr std::size_t kStreamChunk = 16 * 1024;

std::string_view to_std(boost::string_view view) { return {view.data(), view.size()}; }
boost::string_view to_boost(std::string_view view) { return {view.data(), view.size()}; }

bool is_managed_header(std::string_view name) {
  return ascii_iequals(name, "Content-Length") || ascii_iequals(name, "Transfer-Encoding");
}

// Errors that mean "the server had closed this kept-alive connection" when they come before
// any byte of the response: the request never reached a handler, so sending it again is safe.
bool is_stale_connection_error(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

template <typename Body>
void copy_head(const bhttp::response<Body>& message, Response& response) {
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.push_back(
        {std::string(to_std(field.name_string())), std::string(to_std(field.value()))});
  }
}

}  // namespace

struct Client::Impl {
  Impl(std::string host_in, uint16_t port_in, ClientOptions options_in)
      : host(std::move(host_in)),
        port(port_in),
        options(options_in),
        where(fmt::format("{}:{}", host, port)) {}

  Result<Response> exchange(const Request& request, const BodyCallback* on_body,
                            const HeadCallback* on_head = nullptr);
  Result<void> connect();
  void disconnect();
  bool connection_dropped();
  bhttp::request<bhttp::string_body> build(const Request& request) const;
  Error read_error(const error_code& ec) const;
  Error bad_status();

  // Runs the io_context until the operation that `start` begins has completed (with the
  // timer tcp_stream keeps for it).
  template <typename Start>
  error_code run(Start&& start) {
    error_code result;
    std::forward<Start>(start)([&result](const error_code& ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  std::string host;
  uint16_t port;
  ClientOptions options;
  std::string where;  // "host:port" for messages
  asio::io_context io{1};
  // Recreated per connection, so that nothing of a timed-out socket carries over.
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

Result<void> Client::Impl::connect() {
  disconnect();
  error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return fail("connect {}: cannot resolve host: {}", where, error_text(ec));
  stream.emplace(io);
  stream->expires_after(options.connect_timeout);
  ec = run([&](auto handler) { stream->async_connect(endpoints, std::move(handler)); });
  if (ec) {
    disconnect();
    if (ec == beast::error::timeout) {
      return fail("connect {}: timeout after {} ms", where, options.connect_timeout.count());
    }
    return fail("connect {}: {}", where, error_text(ec));
  }
  stream->socket().set_option(tcp::no_delay(true), ec);
  return {};
}

void Client::Impl::disconnect() {
  if (stream) {
    error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->close();
    io.restart();
    io.run();  // lets the cancelled timer handlers finish before the stream goes
    stream.reset();
  }
  buffer.clear();
}

// A kept-alive connection that the server closed while we were idle reads as end of input
// (or has stray bytes, which would corrupt the next response): detect it before sending.
bool Client::Impl::connection_dropped() {
  if (!stream) return true;
  char byte;
  const ssize_t n = ::recv(stream->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

bhttp::request<bhttp::string_body> Client::Impl::build(const Request& request) const {
  bhttp::request<bhttp::string_body> message;
  const bhttp::verb verb = bhttp::string_to_verb(to_boost(request.method));
  if (verb == bhttp::verb::unknown) {
    message.method_string(to_boost(request.method));
  } else {
    message.method(verb);
  }
  message.target(to_boost(request.target));
  message.version(11);
  bool has_host = false;
  bool close_asked = false;
  for (const Header& header : request.headers) {
    if (ascii_iequals(header.name, "Connection")) {
      // The one say the caller has over this header: asking the server to close after this.
      close_asked = close_asked || ascii_iequals(header.value, "close");
      continue;
    }
    if (is_managed_header(header.name)) continue;
    has_host = has_host || ascii_iequals(header.name, "Host");
    message.insert(to_boost(header.name), to_boost(header.value));
  }
  if (!has_host) {
    const bool ipv6 = host.find(':') != std::string::npos;
    std::string value = ipv6 ? fmt::format("[{}]", host) : host;
    if (port != 80) value += fmt::format(":{}", port);
    message.set(bhttp::field::host, value);
  }
  message.body() = request.body;
  if (!request.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put ||
      verb == bhttp::verb::patch) {
    message.content_length(request.body.size());
  }
  message.keep_alive(!close_asked);
  return message;
}

// Beast reads "000" to "099" as a status code; RFC 9110 has none below 100 (found by
// tests/fuzz/http_client_fuzz.cpp: such a response came back as status 0).
Error Client::Impl::bad_status() {
  disconnect();
  return read_error(bhttp::error::bad_status);
}

Error Client::Impl::read_error(const error_code& ec) const {
  if (ec == beast::error::timeout) {
    return Error{fmt::format("timeout after {} ms reading response from {}",
                             options.request_timeout.count(), where)};
  }
  if (ec == bhttp::error::body_limit) {
    return Error{fmt::format("response body over {} bytes", options.max_body_bytes)};
  }
  if (ec == bhttp::error::header_limit) {
    return Error{fmt::format("response headers over {} bytes", options.max_header_bytes)};
  }
  return Error{fmt::format("reading response from {}: {}", where, error_text(ec))};
}

Result<Response> Client::Impl::exchange(const Request& request, const BodyCallback* on_body,
                                        const HeadCallback* on_head) {
  const SteadyTime deadline = Clock::now() + options.request_timeout;
  bhttp::request<bhttp::string_body> message = build(request);
  const bool head = message.method() == bhttp::verb::head;
  for (int attempt = 0;; ++attempt) {
    const bool reused = !connection_dropped();
    if (!reused) {
      if (Result<void> connected = connect(); !connected) return fail(connected.error());
    }
    // Only a reused connection may have been closed by the server under our feet.
    const bool may_retry = attempt == 0 && reused;

    stream->expires_at(deadline);
    error_code ec =
        run([&](auto handler) { bhttp::async_write(*stream, message, std::move(handler)); });
    if (ec) {
      disconnect();
      if (may_retry && is_stale_connection_error(ec)) continue;
      if (ec == beast::error::timeout) {
        return fail("timeout after {} ms sending request to {}", options.request_timeout.count(),
                    where);
      }
      return fail("sending request to {}: {}", where, error_text(ec));
    }

    Response response;
    bool keep_alive = false;
    if (on_body == nullptr) {
      bhttp::response_parser<bhttp::string_body> parser;
      parser.header_limit(
          static_cast<std::uint32_t>(std::min<std::size_t>(options.max_header_bytes, UINT32_MAX)));
      parser.body_limit(options.max_body_bytes);
      parser.skip(head);
      stream->expires_at(deadline);
      // The header first, on its own: Beast 1.74 loses a Content-Length over body_limit when
      // the body arrives in the same read as the header and the parser runs eagerly.
      ec = run([&](auto handler) {
        bhttp::async_read_header(*stream, buffer, parser, std::move(handler));
      });
      if (!ec && !parser.is_done()) {
        ec = run(
            [&](auto handler) { bhttp::async_read(*stream, buffer, parser, std::move(handler)); });
      }
      if (ec) {
        const bool retry = may_retry && !parser.got_some() && is_stale_connection_error(ec);
        disconnect();
        if (retry) continue;
        return fail(read_error(ec));
      }
      copy_head(parser.get(), response);
      if (response.status < 100) return fail(bad_status());
      response.body = std::move(parser.get().body());
      keep_alive = parser.keep_alive();
    } else {
      bhttp::response_parser<bhttp::buffer_body> parser;
      parser.header_limit(
          static_cast<std::uint32_t>(std::min<std::size_t>(options.max_header_bytes, UINT32_MAX)));
      parser.body_limit(options.max_body_bytes);
      parser.skip(head);
      stream->expires_at(deadline);
      ec = run([&](auto handler) {
        bhttp::async_read_header(*stream, buffer, parser, std::move(handler));
      });
      if (ec) {
        const bool retry = may_retry && !parser.got_some() && is_stale_connection_error(ec);
        disconnect();
        if (retry) continue;
        return fail(read_error(ec));
      }
      copy_head(parser.get(), response);
      if (response.status < 100) return fail(bad_status());
      if (on_head != nullptr && !(*on_head)(response)) {
        disconnect();
        return response;
      }
      std::array<char, kStreamChunk> chunk;
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        stream->expires_at(deadline);
        // read_some returns as soon as the parser has something, so bytes reach the caller
        // as they arrive rather than when the buffer is full.
        ec = run([&](auto handler) {
          bhttp::async_read_some(*stream, buffer, parser, std::move(handler));
        });
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) {
          disconnect();
          return fail(read_error(ec));
        }
        const std::size_t n = chunk.size() - parser.get().body().size;
        if (n > 0 && !(*on_body)(std::string_view(chunk.data(), n))) {
          disconnect();
          return response;
        }
      }
      keep_alive = parser.keep_alive();
    }
    if (!keep_alive) disconnect();
    return response;
  }
}

Client::Client(std::string host, uint16_t port, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(host), port, options)) {}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Response> Client::send(const Request& request) { return impl_->exchange(request, nullptr); }

Result<Response> Client::send_streaming(const Request& request, const BodyCallback& on_body) {
  return impl_->exchange(request, &on_body);
}

Result<Response> Client::send_streaming(const Request& request, const HeadCallback& on_head,
                                        const BodyCallback& on_body) {
  return impl_->exchange(request, &on_body, &on_head);
}

void Client::close() { impl_->disconnect(); }

Result<Url> parse_url(std::string_view url) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return fail("malformed URL '{}': spaces or control characters", url);
    }
  }
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("malformed URL '{}': expected http://host[:port][/path]", url);
  }
  const std::string_view scheme = url.substr(0, scheme_end);
  if (ascii_iequals(scheme, "https")) {
    return fail("{}: https is not supported here, only plain http", url);
  }
  if (!ascii_iequals(scheme, "http")) {
    return fail("{}: unsupported scheme '{}', only http", url, scheme);
  }
  std::string_view rest = url.substr(scheme_end + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view target = rest.substr(authority.size());
  target = target.substr(0, target.find('#'));
  if (authority.find('@') != std::string_view::npos) {
    return fail("malformed URL '{}': credentials in URLs are not supported", url);
  }

  Url result;
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("malformed URL '{}': unclosed '['", url);
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      return fail("malformed URL '{}': junk after ']'", url);
    }
    if (!after.empty()) port = after.substr(1);
  } else if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("malformed URL '{}': no host", url);
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return fail("malformed URL '{}': bad port '{}'", url, port);
    }
    result.port = static_cast<uint16_t>(value);
  }
  result.host = std::string(host);
  if (target.empty()) {
    result.target = "/";
  } else if (target.front() == '?') {
    result.target = "/" + std::string(target);
  } else {
    result.target = std::string(target);
  }
  return result;
}

Result<Response> get(std::string_view url, ClientOptions options) {
  Result<Url> parsed = parse_url(url);
  if (!parsed) return fail(parsed.error());
  Client client(parsed->host, parsed->port, options);
  Request request;
  request.method = "GET";
  request.target = parsed->target;
  return client.send(request);
}

Result<Response> post(std::string_view url, std::string body, std::string_view content_type,
                      ClientOptions options) {
  Result<Url> parsed = parse_url(url);
  if (!parsed) return fail(parsed.error());
  Client client(parsed->host, parsed->port, options);
  Request request;
  request.method = "POST";
  request.target = parsed->target;
  request.headers.push_back({"Content-Type", std::string(content_type)});
  request.body = std::move(body);
  return client.send(request);
}

}  // namespace kgai::http
