#include "envoy_double/upstream.h"

#include <charconv>
#include <map>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "common/http_client.h"

namespace kgai::envoy_double::internal {
namespace {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

Result<HostPort> split_endpoint(std::string_view endpoint) {
  const std::size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail("endpoint \"{}\" is not host:port", endpoint);
  }
  std::string_view host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view digits = endpoint.substr(colon + 1);
  unsigned port = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (error != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535) {
    return fail("endpoint \"{}\" has no valid port", endpoint);
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace

Result<http::Response> forward(std::string_view endpoint, const http::Request& request,
                               std::chrono::milliseconds timeout,
                               const std::function<bool(const http::Response&)>& on_head,
                               const std::function<bool(std::string_view)>& on_body) {
  auto where = split_endpoint(endpoint);
  if (!where) return fail(where.error());
  // http::Client is one connection and not thread-safe: each thread keeps its own per
  // endpoint, so the double's worker threads reuse connections the way Envoy's workers do.
  thread_local std::map<std::string, std::unique_ptr<http::Client>> clients;
  const std::string key = fmt::format("{} {}", endpoint, timeout.count());
  auto it = clients.find(key);
  if (it == clients.end()) {
    http::ClientOptions options;
    options.request_timeout = timeout;
    it = clients.emplace(key, std::make_unique<http::Client>(where->host, where->port, options))
             .first;
  }
  return it->second->send_streaming(request, on_head, on_body);
}

}  // namespace kgai::envoy_double::internal
