#include "envoy_double/front.h"

#include <cstdio>
#include <utility>

#include <fmt/core.h>

#include "common/ascii.h"

namespace kgai::envoy_double {
namespace {

// Framing is the front's own (chunked); the rest of the upstream's headers pass through.
bool framing(std::string_view name) {
  return ascii_iequals(name, "content-length") || ascii_iequals(name, "transfer-encoding") ||
         ascii_iequals(name, "connection") || ascii_iequals(name, "keep-alive");
}

http::Response text_response(int status, std::string text) {
  return http::Response{status, {{"Content-Type", "text/plain"}}, std::move(text) + "\n"};
}

// Logs the first violations in full, then one in a thousand (a broken processor under load
// would flood the terminal otherwise).
void log_violations(const Exchange& exchange, uint64_t seen_before) {
  for (std::size_t i = 0; i < exchange.violations.size(); ++i) {
    const uint64_t n = seen_before + i;
    if (n < 20 || n % 1000 == 0) {
      fmt::print(stderr, "kgai-envoy-double: protocol violation #{}: {}\n", n + 1,
                 exchange.violations[i]);
    }
  }
}

}  // namespace

Front::Front(EventLoop& loop, FrontOptions options)
    : loop_(loop),
      options_(std::move(options)),
      server_(loop,
              http::ServerOptions{.address = options_.address,
                                  .port = options_.port,
                                  .max_body_bytes = options_.max_body_bytes},
              [this](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
                handle(std::move(request), std::move(stream));
              }),
      double_(options_.ext_proc, EnvoyDoubleOptions{.channels = options_.channels}),
      workers_(options_.max_workers) {}

Front::~Front() = default;

Result<uint16_t> Front::listen() { return server_.listen(); }

void Front::stop() { server_.stop(); }

void Front::handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  HttpRequest out;
  out.method = std::move(request.method);
  out.path = std::move(request.target);
  for (auto& header : request.headers) {
    if (ascii_iequals(header.name, "host")) {
      out.authority = std::move(header.value);
    } else if (!framing(header.name)) {
      out.headers.push_back(std::move(header));
    }
  }
  out.body = std::move(request.body);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  stream->on_close([gone] { gone->store(true); });
  workers_.submit([this, out = std::move(out), stream = std::move(stream), gone]() mutable {
    exchange(std::move(out), std::move(stream), std::move(gone));
  });
}

void Front::exchange(HttpRequest request, std::shared_ptr<http::ResponseStream> stream,
                     std::shared_ptr<std::atomic<bool>> gone) {
  ExchangeOptions options = options_.exchange;
  options.forward = true;
  bool head_sent = false;
  options.on_response_head = [&](int status, const std::vector<http::Header>& headers) {
    head_sent = true;
    std::vector<http::Header> relayed;
    for (const auto& header : headers) {
      if (!framing(header.name)) relayed.push_back(header);
    }
    loop_.post([stream, status, relayed = std::move(relayed)]() mutable {
      if (stream->is_open()) stream->start(status, std::move(relayed));
    });
  };
  options.on_response_body = [&](std::string_view chunk) {
    if (gone->load()) return false;
    loop_.post([stream, chunk = std::string(chunk)] {
      if (stream->is_open()) stream->write(chunk);
    });
    return true;
  };

  const Exchange result = double_.run(request, options);

  if (!result.violations.empty()) {
    log_violations(result, stats_.violations.fetch_add(result.violations.size()));
  }
  if (head_sent) {
    const bool complete = result.grpc_code == 0 && result.error.empty() && !result.immediate;
    if (!complete) stats_.failed.fetch_add(1, std::memory_order_relaxed);
    loop_.post([stream, complete] {
      if (!stream->is_open()) return;
      if (complete) {
        stream->finish();
      } else {
        stream->abort();
      }
    });
    return;
  }
  http::Response response;
  if (result.immediate) {
    stats_.immediate.fetch_add(1, std::memory_order_relaxed);
    // Envoy insists on a status; one without is a processor bug, answered like a failure.
    response.status = result.immediate->status >= 100 ? result.immediate->status : 500;
    response.headers = result.immediate->headers;
    response.body = result.immediate->body;
  } else {
    stats_.failed.fetch_add(1, std::memory_order_relaxed);
    if (result.grpc_code == 4) {  // DEADLINE_EXCEEDED
      response = text_response(504, "ext_proc exchange timed out: " + result.summary());
    } else if (result.grpc_code != 0) {
      response = text_response(500, "ext_proc stream failed: " + result.summary());
    } else {
      response = text_response(503, "no upstream: " + result.summary());
    }
  }
  loop_.post([stream, response = std::move(response)]() mutable {
    if (stream->is_open()) stream->respond(std::move(response));
  });
}

}  // namespace kgai::envoy_double
