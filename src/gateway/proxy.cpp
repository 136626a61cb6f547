#include "gateway/proxy.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/http_server.h"
#include "common/http_upstream.h"
#include "common/log.h"
#include "common/utf8.h"
#include "gateway/openai_error.h"

namespace kgai::gateway {

namespace {

// Headers that describe one hop, not the message: never forwarded either way.
bool hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                             "te", "trailer", "upgrade", "content-length", "host"}) {
    if (ascii_iequals(name, h)) return true;
  }
  return false;
}

// Response headers an endpoint may not pass off as the gateway's: the gateway's protocol
// headers (x-gateway-*) and its own (x-kgai-*) are set by the gateway alone.
bool reserved_response_header(std::string_view name) {
  return ascii_istarts_with(name, "x-gateway-") || ascii_istarts_with(name, "x-kgai-");
}

}  // namespace

struct Proxy::Impl : std::enable_shared_from_this<Proxy::Impl> {
  Impl(EventLoop& loop, ProxyOptions options, std::shared_ptr<Director> director)
      : loop(loop),
        options(std::move(options)),
        director(std::move(director)),
        upstream(loop, upstream_options(this->options)) {}

  static http::UpstreamOptions upstream_options(const ProxyOptions& o) {
    http::UpstreamOptions u;
    u.connect_timeout = o.connect_timeout;
    u.header_timeout = o.header_timeout;
    u.idle_timeout = o.idle_timeout;
    return u;
  }

  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream);
  void answer_health(std::string_view path, std::shared_ptr<http::ResponseStream> stream);
  void answer_models(std::shared_ptr<http::ResponseStream> stream);

  EventLoop& loop;
  ProxyOptions options;
  std::shared_ptr<Director> director;
  http::UpstreamPool upstream;
  std::unique_ptr<http::Server> server;
  bool stopped = false;
};

namespace {

// One client request through the proxy: HTTP glue around a DirectedRequest. Lives until the
// client's answer is complete or the client went away; the upstream pool holds it as the
// handler of the current attempt.
class Call final : public http::UpstreamHandler, public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<Proxy::Impl> proxy, std::shared_ptr<http::ResponseStream> stream,
       http::Request request)
      : proxy_(std::move(proxy)),
        stream_(std::move(stream)),
        request_(proxy_->director),
        target_(std::move(request.target)),
        headers_(std::move(request.headers)),
        body_(std::move(request.body)) {}

  void begin(ApiKind api);
  // Ends the call with a 500 after an unexpected failure (an exception from a handler), so
  // that it still releases everything it holds.
  void fail_internal();

  // http::UpstreamHandler
  void on_headers(int status, std::vector<http::Header> headers) override;
  void on_body(std::string_view chunk) override;
  void on_complete() override;
  void on_error(const http::UpstreamError& error) override;

 private:
  void admit();
  void schedule();
  void attempt();
  void answer(const Rejection& rejection);
  // The current attempt failed before anything reached the client: try the next endpoint,
  // or answer `status` when none is left.
  void endpoint_failed(int status, std::string_view why, bool count_failure = true);
  void done(int code);
  // Stops everything done on the client's behalf (the upstream attempt, its endpoint slot, a
  // flow-control ticket) when the call ends before its answer does.
  void abandon();
  std::string_view header(std::string_view name) const { return http::find_header(headers_, name); }

  std::shared_ptr<Proxy::Impl> proxy_;
  std::shared_ptr<http::ResponseStream> stream_;
  DirectedRequest request_;
  std::string target_;
  std::vector<http::Header> headers_;
  std::string body_;  // until read() takes it
  bool debug_ = false;
  std::shared_ptr<http::UpstreamExchange> exchange_;
  std::unique_ptr<Timer> deadline_;  // request_timeout, when set
  bool started_ = false;             // response headers went to the client
  int status_ = 0;
  bool finished_ = false;
};

void Call::begin(ApiKind api) {
  auto self = shared_from_this();
  stream_->on_close([self] {
    // The client went away: stop everything done on its behalf.
    if (self->finished_) return;
    self->abandon();
    self->done(499);
  });
  Proxy::Impl& p = *proxy_;
  if (p.options.request_timeout > 0) {
    deadline_ = std::make_unique<Timer>(p.loop);
    std::weak_ptr<Call> weak = self;
    deadline_->arm(
        request_.arrival() + std::chrono::duration_cast<SteadyTime::duration>(
                                 std::chrono::duration<double>(p.options.request_timeout)),
        [weak] {
          auto call = weak.lock();
          if (!call || call->finished_) return;
          call->abandon();
          if (call->started_) {
            call->stream_->abort();
            return call->done(504);
          }
          call->answer({504, "the request took longer than the gateway's timeout"});
        });
  }
  debug_ = p.director->options().expose_debug && header("x-kgai-debug") == "1";
  if (auto rejection = request_.read(api, headers_, std::move(body_))) return answer(*rejection);
  admit();
}

// Shedding and flow control (the Director decides); a queued request comes back to this loop.
void Call::admit() {
  Rejection rejection;
  std::weak_ptr<Call> weak = weak_from_this();
  EventLoop* loop = &proxy_->loop;
  const auto admission = request_.admit(
      [weak, loop](FlowOutcome outcome) {
        loop->post([weak, outcome] {
          auto self = weak.lock();
          if (!self || self->finished_) return;
          if (auto rejection = self->request_.dequeued(outcome)) return self->answer(*rejection);
          self->schedule();
        });
      },
      &rejection);
  switch (admission) {
    case DirectedRequest::Admission::kNow:
      return schedule();
    case DirectedRequest::Admission::kRejected:
      return answer(rejection);
    case DirectedRequest::Admission::kQueued:
      return;
  }
}

void Call::schedule() {
  if (auto rejection = request_.schedule(debug_)) return answer(*rejection);
  attempt();
}

void Call::attempt() {
  Proxy::Impl& p = *proxy_;
  const EndpointState* endpoint = request_.next_attempt();
  if (!endpoint) return answer(request_.exhausted(503));
  http::UpstreamRequest upstream;
  upstream.method = "POST";
  upstream.target = target_;
  upstream.headers.reserve(headers_.size());
  for (const auto& h : headers_) {
    if (!hop_by_hop(h.name)) upstream.headers.push_back(h);
  }
  upstream.body = request_.send_body();
  exchange_ = p.upstream.send(endpoint->endpoint->host, endpoint->endpoint->port,
                              std::move(upstream), shared_from_this());
  request_.sent();
}

void Call::on_headers(int status, std::vector<http::Header> headers) {
  if (finished_) return;
  Proxy::Impl& p = *proxy_;
  const bool failed = endpoint_failure_status(status);
  // A failing server's answer, or an overloaded one's (429): another endpoint may serve the
  // request, and the client has seen nothing yet. Only failures count towards ejection.
  if ((failed || status == 429) && request_.can_retry()) {
    if (exchange_) exchange_->cancel();
    exchange_.reset();
    return endpoint_failed(status, fmt::format("answered {}", status), failed);
  }
  request_.response_started(status, http::find_header(headers, "content-type"));
  std::vector<http::Header> out;
  out.reserve(headers.size() + 2);
  std::optional<uint64_t> length;
  for (auto& h : headers) {
    if (ascii_iequals(h.name, "content-length")) length = http::parse_content_length(h.value);
    if (!hop_by_hop(h.name) && !reserved_response_header(h.name)) out.push_back(std::move(h));
  }
  if (p.director->options().expose_debug) {
    out.push_back(
        {"x-gateway-destination-endpoint-served", request_.endpoint()->endpoint->address});
  }
  if (debug_) out.push_back({"x-kgai-decision", request_.trace()});
  started_ = true;
  status_ = status;
  // A sized body is relayed as such: no chunked re-framing, and the head leaves together with
  // the body (one write for a small response instead of three).
  if (length) {
    stream_->start_sized(status, std::move(out), *length);
  } else {
    stream_->start(status, std::move(out));
  }
}

void Call::on_body(std::string_view chunk) {
  if (finished_) return;
  request_.response_body(chunk);
  stream_->write(chunk);
  // Backpressure: a client reading slower than the endpoint writes stops the reading of the
  // endpoint (TCP then holds it back) instead of the whole response piling up here.
  if (exchange_ && stream_->congested()) {
    exchange_->pause();
    std::weak_ptr<Call> weak = weak_from_this();
    stream_->on_drained([weak] {
      if (auto self = weak.lock(); self && self->exchange_) self->exchange_->resume();
    });
  }
}

void Call::on_complete() {
  exchange_.reset();
  if (finished_) return;
  stream_->finish();
  done(status_);
}

void Call::on_error(const http::UpstreamError& error) {
  exchange_.reset();
  if (finished_) return;
  const std::string& address = request_.endpoint()->endpoint->address;
  if (error.kind == http::UpstreamErrorKind::kConnect) request_.connect_failed(error.message);
  if (started_) {
    // The client already has a status line: all that is left is to cut its stream short.
    log::warn("gateway: {} broke mid-response: {}", address, error.message);
    request_.broke();
    stream_->abort();
    return done(502);
  }
  const bool timeout = error.kind == http::UpstreamErrorKind::kHeaderTimeout ||
                       error.kind == http::UpstreamErrorKind::kIdleTimeout;
  if (error.kind == http::UpstreamErrorKind::kInvalidRequest) {
    // Nothing wrong with the endpoint: the request cannot be sent anywhere.
    return answer({400, "the request cannot be forwarded: " + error.message});
  }
  log::debug("gateway: {} failed before answering ({})", address, error.message);
  // Should no endpoint be left to try: 504 when the last one was too slow, 503 when none
  // could be reached, 502 when the last one answered with garbage.
  endpoint_failed(timeout ? 504 : error.retryable() ? 503 : 502, error.message);
}

void Call::endpoint_failed(int status, std::string_view why, bool count_failure) {
  if (request_.attempt_failed(why, count_failure)) return attempt();
  answer(request_.exhausted(status));
}

void Call::abandon() {
  if (exchange_) exchange_->cancel();  // no callback after this
  exchange_.reset();
  request_.abandon();
}

void Call::fail_internal() {
  if (finished_) return;
  abandon();
  if (started_) {
    stream_->abort();
    return done(500);
  }
  answer({500, "internal error"});
}

void Call::answer(const Rejection& rejection) {
  if (finished_) return;
  stream_->respond(openai_error(rejection.status, rejection.message));
  done(rejection.status);
}

void Call::done(int code) {
  if (finished_) return;
  finished_ = true;
  if (deadline_) deadline_->cancel();
  // The stream holds this call through its on_close callback: letting go of the stream breaks
  // the cycle. Later, from the loop, since this may run inside that very callback.
  proxy_->loop.post([stream = std::move(stream_)] {});
  request_.finish(code);
}

}  // namespace

void Proxy::Impl::handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
  const std::string_view path = request.path();
  const bool inference = path == "/v1/completions" || path == "/v1/chat/completions";
  if (inference && request.method == "POST") {
    const ApiKind api =
        path == "/v1/completions" ? ApiKind::kCompletions : ApiKind::kChatCompletions;
    auto call = std::make_shared<Call>(shared_from_this(), std::move(stream), std::move(request));
    try {
      call->begin(api);
    } catch (const std::exception& e) {
      // Whatever failed, the call must end: it and its stream hold each other until done().
      log::error("gateway: request failed: {}", e.what());
      call->fail_internal();
    }
    return;
  }
  const bool read_only =
      path == "/health" || path == "/healthz" || path == "/readyz" || path == "/v1/models";
  const bool get = request.method == "GET" || request.method == "HEAD";
  if ((inference || read_only) && !(read_only && get)) {
    http::Response r =
        openai_error(405, fmt::format("{} is not allowed on this route; use {}",
                                      utf8_prefix(request.method, 32), inference ? "POST" : "GET"));
    r.headers.push_back({"Allow", inference ? "POST" : "GET, HEAD"});
    return stream->respond(std::move(r));
  }
  if (path == "/health" || path == "/healthz" || path == "/readyz") {
    return answer_health(path, std::move(stream));
  }
  if (path == "/v1/models") return answer_models(std::move(stream));
  stream->respond(openai_error(
      404,
      fmt::format("no route for {} {}", utf8_prefix(request.method, 32), utf8_prefix(path, 256))));
}

// /healthz: the process serves (liveness). /health and /readyz: it can also route, i.e. some
// endpoint is ready (healthy and not ejected); a Kubernetes readiness probe then takes a
// gateway that can only answer 503 out of its Service.
void Proxy::Impl::answer_health(std::string_view path,
                                std::shared_ptr<http::ResponseStream> stream) {
  http::Response r;
  r.headers.push_back({"Content-Type", "application/json"});
  const bool ready = path == "/healthz" || director->ready();
  r.status = ready ? 200 : 503;
  r.body = ready ? R"({"status":"ok"})" : R"({"status":"not ready: no endpoint is ready"})";
  stream->respond(std::move(r));
}

void Proxy::Impl::answer_models(std::shared_ptr<http::ResponseStream> stream) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& m : director->served_models()) {
    data.push_back({{"id", repair_utf8(m)}, {"object", "model"}, {"owned_by", "kgai-gateway"}});
  }
  http::Response r;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = nlohmann::json{{"object", "list"}, {"data", data}}.dump();
  stream->respond(std::move(r));
}

Proxy::Proxy(EventLoop& loop, ProxyOptions options, std::shared_ptr<Director> director)
    : impl_(std::make_shared<Impl>(loop, std::move(options), std::move(director))) {}

Proxy::~Proxy() { stop(); }

Result<uint16_t> Proxy::start() {
  http::ServerOptions server_options;
  server_options.address = impl_->options.address;
  server_options.port = impl_->options.port;
  server_options.max_body_bytes = impl_->options.max_body_bytes;
  server_options.reuse_port = impl_->options.reuse_port;
  server_options.max_connections = impl_->options.max_connections;
  server_options.max_connections_per_source = impl_->options.max_connections_per_source;
  server_options.reject_response = [](int status, std::string_view reason) {
    return openai_error(status, reason);
  };
  std::weak_ptr<Impl> weak = impl_;
  impl_->server = std::make_unique<http::Server>(
      impl_->loop, server_options,
      [weak](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
        if (auto self = weak.lock()) self->handle(std::move(request), std::move(stream));
      });
  auto port = impl_->server->listen();
  if (!port) return fail(port.error());
  return *port;
}

void Proxy::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->server) impl_->server->stop();
}

http::Server::Stats Proxy::connection_stats() const {
  return impl_->server ? impl_->server->stats() : http::Server::Stats{};
}

}  // namespace kgai::gateway
