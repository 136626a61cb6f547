#include "gateway/proxy.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <unordered_set>

#include <fmt/format.h>
#include <xxhash.h>
#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/http_server.h"
#include "common/http_upstream.h"
#include "common/log.h"
#include "common/utf8.h"
#include "gateway/gateway_metrics.h"
#include "gateway/model_rewrite.h"
#include "gateway/openai_error.h"
#include "gateway/request_info.h"
#include "gateway/saturation.h"
#include "gateway/scheduler.h"

namespace kgai::gateway {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(SteadyTime t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

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

// Statuses that say the endpoint failed, not the request: retried elsewhere while the client
// has seen nothing, and counted by outlier detection.
bool endpoint_failure_status(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

constexpr size_t kTailBytes = 4096;  // enough for a final usage chunk

// Client-chosen keys the gateway keeps (a fairness flow while queued, a session in an LRU of
// 100,000) are at most this long: a longer one is replaced by a hash of it, so a client cannot
// make each entry cost 16 KB (the header limit), and distinct keys stay distinct.
constexpr size_t kMaxKeyBytes = 128;

std::string bounded_key(std::string_view key) {
  if (key.size() <= kMaxKeyBytes) return std::string(key);
  return fmt::format("xxh3:{:016x}", XXH3_64bits(key.data(), key.size()));
}

}  // namespace

struct Proxy::Impl : std::enable_shared_from_this<Proxy::Impl> {
  Impl(EventLoop& loop, ProxyOptions options, GatewayConfig config, Datastore& datastore,
       ProxyEvents* events)
      : loop(loop),
        options(std::move(options)),
        config(std::move(config)),
        datastore(datastore),
        events(events),
        scheduler(this->config.profile, this->config.saturation.metrics_staleness_threshold),
        flow(this->config.flow_control),
        outliers(this->options.outliers),
        upstream(loop, upstream_options(this->options)),
        control(loop, control_options(this->options)),
        tick(loop),
        models_timer(loop),
        rng(std::random_device{}()) {}

  static http::UpstreamOptions upstream_options(const ProxyOptions& o) {
    http::UpstreamOptions u;
    u.connect_timeout = o.connect_timeout;
    u.header_timeout = o.header_timeout;
    u.idle_timeout = o.idle_timeout;
    return u;
  }

  // The gateway's own requests (/v1/models): a model server that hangs on them must not hold a
  // connection for the inference timeouts (minutes); the next refresh asks again anyway.
  static http::UpstreamOptions control_options(const ProxyOptions& o) {
    http::UpstreamOptions u;
    u.connect_timeout = o.connect_timeout;
    u.header_timeout =
        std::min<std::chrono::milliseconds>(o.models_refresh, std::chrono::seconds(5));
    u.idle_timeout = u.header_timeout;
    u.max_idle_per_host = 2;
    return u;
  }

  void handle(http::Request&& request, std::shared_ptr<http::ResponseStream> stream);
  void arm_tick();
  void refresh_models();
  bool has_capacity();
  void answer_health(std::string_view path, std::shared_ptr<http::ResponseStream> stream);
  double current_saturation() const {
    auto snapshot = datastore.snapshot();
    return pool_saturation(*snapshot, config.saturation, Clock::now());
  }

  EventLoop& loop;
  ProxyOptions options;
  GatewayConfig config;
  Datastore& datastore;
  ProxyEvents* events;
  Scheduler scheduler;
  FlowController flow;
  OutlierDetector outliers;
  http::UpstreamPool upstream;
  http::UpstreamPool control;
  std::unique_ptr<http::Server> server;
  Timer tick;
  Timer models_timer;
  std::mt19937_64 rng;
  size_t released_this_tick = 0;
  // Models the endpoints list in /v1/models (bases and loaded adapters); empty until read,
  // and then every model is let through to the server.
  std::unordered_set<std::string> models;
  bool stopped = false;
};

namespace {

// One client request through the proxy: queued, scheduled, forwarded (possibly to several
// endpoints in turn), streamed back. Lives until the client's answer is complete or the
// client went away; the upstream pool holds it as the handler of the current attempt.
class Call final : public http::UpstreamHandler, public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<Proxy::Impl> proxy, std::shared_ptr<http::ResponseStream> stream,
       http::Request request)
      : proxy_(std::move(proxy)),
        stream_(std::move(stream)),
        arrival_(Clock::now()),
        target_(std::move(request.target)),
        headers_(std::move(request.headers)),
        body_(std::make_shared<std::string>(std::move(request.body))) {}

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
  void answer_error(int status, std::string_view message);
  // The current attempt failed before anything reached the client: count it against the
  // endpoint and try the next one (or answer `status` with `why` when none is left).
  void endpoint_failed(int status, std::string_view why, bool count_failure = true);
  void done(int code);
  void release_endpoint();
  // Stops everything done on the client's behalf (the upstream attempt, its endpoint slot, a
  // flow-control ticket) when the call ends before its answer does.
  void abandon();
  std::string_view header(std::string_view name) const { return http::find_header(headers_, name); }
  bool has_next_attempt() const {
    return next_rank_ < ranked_.size() &&
           next_rank_ < static_cast<size_t>(proxy_->options.max_attempts);
  }

  std::shared_ptr<Proxy::Impl> proxy_;
  std::shared_ptr<http::ResponseStream> stream_;
  SteadyTime arrival_;
  std::string target_;
  std::vector<http::Header> headers_;
  std::shared_ptr<std::string> body_;             // the client's body; prefix_text points into it
  std::shared_ptr<const std::string> send_body_;  // what goes upstream (rewritten model, or body_)
  RequestInfo info_;
  bool debug_ = false;

  std::shared_ptr<const PoolSnapshot> snapshot_;
  SchedulingContext context_;
  std::vector<uint32_t> ranked_;
  size_t next_rank_ = 0;
  const EndpointState* endpoint_ = nullptr;  // the current attempt's (in snapshot_)
  uint32_t endpoint_index_ = 0;              // its index in snapshot_
  std::shared_ptr<EndpointLoad> load_;
  std::shared_ptr<http::UpstreamExchange> exchange_;
  std::optional<uint64_t> ticket_;

  std::unique_ptr<Timer> deadline_;  // request_timeout, when set
  bool started_ = false;             // response headers went to the client
  int status_ = 0;
  bool finished_ = false;
  std::optional<double> ttft_;
  std::string tail_;  // the end of the response, for usage
  std::string last_error_;
};

void Call::begin(ApiKind api) {
  auto self = shared_from_this();
  stream_->on_close([self] {
    // The client went away: stop everything done on its behalf.
    if (self->finished_) return;
    self->abandon();
    self->done(499);
  });
  if (proxy_->options.request_timeout > 0) {
    deadline_ = std::make_unique<Timer>(proxy_->loop);
    std::weak_ptr<Call> weak = self;
    deadline_->arm(arrival_ + std::chrono::duration_cast<SteadyTime::duration>(
                                  std::chrono::duration<double>(proxy_->options.request_timeout)),
                   [weak] {
                     auto call = weak.lock();
                     if (!call || call->finished_) return;
                     call->abandon();
                     if (call->started_) {
                       call->stream_->abort();
                       return call->done(504);
                     }
                     call->answer_error(504, "the request took longer than the gateway's timeout");
                   });
  }
  auto parsed = parse_request_body(*body_, api);
  if (!parsed) return answer_error(400, parsed.error().message);
  info_ = std::move(*parsed);
  Proxy::Impl& p = *proxy_;
  debug_ = p.options.expose_debug && header("x-kgai-debug") == "1";
  // Only a configured objective counts (its priority, its metrics label): an unknown name
  // from a client is priority 0 and labelled "other", so clients cannot mint label values.
  const std::string_view objective =
      p.options.objective_header.empty() ? std::string_view() : header(p.options.objective_header);
  if (!objective.empty()) {
    info_.objective = std::string(GatewayMetrics::kOther);
    for (const auto& o : p.config.objectives) {
      if (o.name == objective) {
        info_.objective = o.name;
        info_.priority = o.priority;
      }
    }
  }
  info_.fairness_id = bounded_key(header("x-gateway-inference-fairness-id"));
  if (info_.fairness_id.empty()) info_.fairness_id = "default-flow";
  info_.session_id = bounded_key(header(p.config.session_header));
  const std::string_view rewrite_header = header("x-gateway-model-name-rewrite");
  if (!rewrite_header.empty()) {
    if (auto why = invalid_model_name(rewrite_header)) {
      return answer_error(400, fmt::format("x-gateway-model-name-rewrite {}", *why));
    }
  }
  info_.target_model = rewrite_model(info_.model, rewrite_header, p.config.rewrites, p.rng);
  if (!p.models.empty() && !p.models.contains(info_.target_model)) {
    const std::string message =
        fmt::format("The model `{}` does not exist.", utf8_prefix(info_.target_model, 256));
    // Not a series of its own: any name a client makes up would be one.
    info_.target_model = std::string(GatewayMetrics::kOther);
    return answer_error(404, message);
  }
  if (info_.target_model != info_.model) {
    send_body_ =
        std::make_shared<const std::string>(splice_model(*body_, info_, info_.target_model));
  } else {
    send_body_ = body_;
  }
  admit();
}

// Shedding and flow control: a sheddable request (negative priority) is refused while the pool
// is saturated; with flow control on, the rest wait while the pool is saturated or others
// wait before them.
void Call::admit() {
  Proxy::Impl& p = *proxy_;
  const bool saturated = is_saturated(p.current_saturation());
  if (info_.priority < 0 && saturated) {
    if (p.events) p.events->shed(info_.target_model);
    return answer_error(429, "the pool is saturated and this request's objective is sheddable");
  }
  if (!p.config.flow_control.enabled || (!saturated && p.flow.empty())) return schedule();
  auto self = shared_from_this();
  ticket_ = p.flow.enqueue(info_.priority, info_.fairness_id, static_cast<int64_t>(body_->size()),
                           arrival_, [self](FlowOutcome outcome) {
                             self->ticket_.reset();
                             if (self->finished_) return;
                             switch (outcome) {
                               case FlowOutcome::kDispatch:
                                 return self->schedule();
                               case FlowOutcome::kRejected:
                                 return self->answer_error(429, "flow-control queues are full");
                               case FlowOutcome::kExpired:
                                 return self->answer_error(
                                     503, "waited longer than the flow-control TTL for capacity");
                               case FlowOutcome::kCancelled:
                                 return;
                             }
                           });
}

void Call::schedule() {
  Proxy::Impl& p = *proxy_;
  snapshot_ = p.datastore.snapshot();
  context_ = SchedulingContext{};
  context_.request = &info_;
  context_.pool = snapshot_.get();
  context_.now = Clock::now();
  context_.rng = &p.rng;
  context_.trace = debug_;
  const auto start = Clock::now();
  Decision decision = p.scheduler.schedule(context_);
  const double decision_seconds = seconds_since(start);
  if (decision.ranked.empty()) return answer_error(503, "no ready endpoint: " + decision.reason);
  ranked_ = std::move(decision.ranked);
  if (p.events)
    p.events->decision(snapshot_->endpoints[ranked_[0]].endpoint->address, decision_seconds);
  attempt();
}

void Call::attempt() {
  Proxy::Impl& p = *proxy_;
  if (next_rank_ >= ranked_.size() || next_rank_ >= static_cast<size_t>(p.options.max_attempts)) {
    return answer_error(503, p.options.expose_debug
                                 ? fmt::format("every endpoint tried failed; last: {}", last_error_)
                                 : std::string("every endpoint tried failed"));
  }
  const uint32_t index = ranked_[next_rank_++];
  endpoint_index_ = index;
  endpoint_ = &snapshot_->endpoints[index];
  load_ = endpoint_->load;
  if (load_) load_->in_flight.fetch_add(1, std::memory_order_relaxed);
  http::UpstreamRequest request;
  request.method = "POST";
  request.target = target_;
  request.headers.reserve(headers_.size());
  for (const auto& h : headers_) {
    if (!hop_by_hop(h.name)) request.headers.push_back(h);
  }
  request.body = send_body_;
  exchange_ = p.upstream.send(endpoint_->endpoint->host, endpoint_->endpoint->port,
                              std::move(request), shared_from_this());
  // After the request is on its way: teaching the prefix index a 200 KB prompt's blocks costs
  // tens of microseconds, which need not delay the request.
  p.scheduler.picked(context_, index);
}

void Call::release_endpoint() {
  if (load_) load_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  load_.reset();
}

void Call::on_headers(int status, std::vector<http::Header> headers) {
  if (finished_) return;
  Proxy::Impl& p = *proxy_;
  const bool failed = endpoint_failure_status(status);
  // A failing server's answer, or an overloaded one's (429): another endpoint may serve the
  // request, and the client has seen nothing yet. Only failures count towards ejection.
  if ((failed || status == 429) && has_next_attempt()) {
    if (exchange_) exchange_->cancel();
    exchange_.reset();
    release_endpoint();
    return endpoint_failed(status, fmt::format("answered {}", status), failed);
  }
  if (failed) {
    p.outliers.failure(*snapshot_, endpoint_index_, Clock::now());
  } else {
    p.outliers.success(*endpoint_);
  }
  std::vector<http::Header> out;
  out.reserve(headers.size() + 2);
  std::optional<uint64_t> length;
  for (auto& h : headers) {
    if (ascii_iequals(h.name, "content-length")) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(h.value.data(), h.value.data() + h.value.size(), n);
      if (ec == std::errc{} && end == h.value.data() + h.value.size()) length = n;
    }
    if (!hop_by_hop(h.name) && !reserved_response_header(h.name)) out.push_back(std::move(h));
  }
  if (p.options.expose_debug) {
    out.push_back({"x-gateway-destination-endpoint-served", endpoint_->endpoint->address});
  }
  if (debug_) out.push_back({"x-kgai-decision", context_.trace_text});
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
  if (!ttft_) ttft_ = seconds_since(arrival_);
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
  // Keep the last kTailBytes: usage arrives in the final chunk (or at the end of a body).
  if (chunk.size() >= kTailBytes) {
    tail_.assign(chunk.substr(chunk.size() - kTailBytes));
  } else {
    if (tail_.size() + chunk.size() > 2 * kTailBytes)
      tail_.erase(0, tail_.size() + chunk.size() - kTailBytes);
    tail_.append(chunk);
  }
}

void Call::on_complete() {
  exchange_.reset();
  release_endpoint();
  if (finished_) return;
  stream_->finish();
  done(status_);
}

void Call::on_error(const http::UpstreamError& error) {
  exchange_.reset();
  release_endpoint();
  if (finished_) return;
  Proxy::Impl& p = *proxy_;
  const std::string& address = endpoint_->endpoint->address;
  if (error.kind == http::UpstreamErrorKind::kConnect) {
    p.datastore.report_failure(endpoint_->id, error.message);
  }
  if (started_) {
    // The client already has a status line: all that is left is to cut its stream short.
    log::warn("gateway: {} broke mid-response: {}", address, error.message);
    p.outliers.failure(*snapshot_, endpoint_index_, Clock::now());
    stream_->abort();
    return done(502);
  }
  const bool timeout = error.kind == http::UpstreamErrorKind::kHeaderTimeout ||
                       error.kind == http::UpstreamErrorKind::kIdleTimeout;
  if (error.kind == http::UpstreamErrorKind::kInvalidRequest) {
    // Nothing wrong with the endpoint: the request cannot be sent anywhere.
    return answer_error(400, "the request cannot be forwarded: " + error.message);
  }
  log::debug("gateway: {} failed before answering ({})", address, error.message);
  // Should no endpoint be left to try: 504 when the last one was too slow, 503 when none
  // could be reached, 502 when the last one answered with garbage.
  endpoint_failed(timeout ? 504 : error.retryable() ? 503 : 502, error.message);
}

void Call::endpoint_failed(int status, std::string_view why, bool count_failure) {
  Proxy::Impl& p = *proxy_;
  const std::string& address = endpoint_->endpoint->address;
  if (count_failure) p.outliers.failure(*snapshot_, endpoint_index_, Clock::now());
  last_error_ = fmt::format("{}: {}", address, why);
  if (has_next_attempt()) {
    if (p.events) p.events->retry(address);
    return attempt();
  }
  if (status == 502 || status == 504) {
    return answer_error(status, p.options.expose_debug ? last_error_
                                : status == 504        ? "the model server did not answer in time"
                                                       : "the model server failed to answer");
  }
  answer_error(status, p.options.expose_debug
                           ? fmt::format("every endpoint tried failed; last: {}", last_error_)
                           : std::string("every endpoint tried failed"));
}

void Call::abandon() {
  if (exchange_) exchange_->cancel();  // no callback after this: release here
  exchange_.reset();
  release_endpoint();
  if (ticket_) proxy_->flow.cancel(*ticket_);
}

void Call::fail_internal() {
  if (finished_) return;
  abandon();
  if (started_) {
    stream_->abort();
    return done(500);
  }
  answer_error(500, "internal error");
}

void Call::answer_error(int status, std::string_view message) {
  if (finished_) return;
  stream_->respond(openai_error(status, message));
  done(status);
}

void Call::done(int code) {
  if (finished_) return;
  finished_ = true;
  if (deadline_) deadline_->cancel();
  // The stream holds this call through its on_close callback: letting go of the stream breaks
  // the cycle. Later, from the loop, since this may run inside that very callback.
  proxy_->loop.post([stream = std::move(stream_)] {});
  Proxy::Impl& p = *proxy_;
  int64_t input = -1, output = -1;
  if (!tail_.empty()) std::tie(input, output) = usage_from_tail(tail_);
  if (p.events) {
    p.events->request_done(info_.target_model.empty() ? info_.model : info_.target_model,
                           info_.objective, code, seconds_since(arrival_), ttft_,
                           std::max<int64_t>(0, input), std::max<int64_t>(0, output));
  }
  // A finished request frees capacity: let a queued one go.
  if (p.config.flow_control.enabled && !p.flow.empty()) {
    p.flow.release([&p] { return p.has_capacity(); });
  }
}

}  // namespace

namespace {

// GET /v1/models of one endpoint, for the list of models the pool serves.
class ModelsFetch final : public http::UpstreamHandler {
 public:
  using Done = std::function<void(bool ok, std::vector<std::string> models)>;
  explicit ModelsFetch(Done done) : done_(std::move(done)) {}
  void on_headers(int status, std::vector<http::Header>) override { status_ = status; }
  void on_body(std::string_view chunk) override {
    if (body_.size() + chunk.size() <= (4u << 20)) body_.append(chunk);
  }
  void on_complete() override {
    std::vector<std::string> models;
    auto j = nlohmann::json::parse(body_, nullptr, false);
    const bool ok = status_ == 200 && j.is_object() && j.contains("data") && j["data"].is_array();
    if (ok) {
      for (const auto& m : j["data"]) {
        if (m.is_object() && m.contains("id") && m["id"].is_string()) models.push_back(m["id"]);
      }
    }
    done_(ok, std::move(models));
  }
  void on_error(const http::UpstreamError&) override { done_(false, {}); }

 private:
  Done done_;
  int status_ = 0;
  std::string body_;
};

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
  if (path == "/v1/models") {
    nlohmann::json data = nlohmann::json::array();
    std::vector<std::string> sorted(models.begin(), models.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& m : sorted) {
      data.push_back({{"id", repair_utf8(m)}, {"object", "model"}, {"owned_by", "kgai-gateway"}});
    }
    http::Response r;
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = nlohmann::json{{"object", "list"}, {"data", data}}.dump();
    return stream->respond(std::move(r));
  }
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
  bool ready = true;
  if (path != "/healthz") {
    auto snapshot = datastore.snapshot();
    const auto now = Clock::now();
    ready = std::any_of(snapshot->endpoints.begin(), snapshot->endpoints.end(),
                        [&](const EndpointState& e) { return e.ready(now); });
  }
  r.status = ready ? 200 : 503;
  r.body = ready ? R"({"status":"ok"})" : R"({"status":"not ready: no endpoint is ready"})";
  stream->respond(std::move(r));
}

bool Proxy::Impl::has_capacity() {
  auto snapshot = datastore.snapshot();
  if (is_saturated(pool_saturation(*snapshot, config.saturation, Clock::now()))) return false;
  // Metrics move only at the next scrape: release at most one request per endpoint per tick,
  // so one free moment does not let the whole queue through at once.
  return released_this_tick++ < std::max<size_t>(1, snapshot->endpoints.size());
}

void Proxy::Impl::arm_tick() {
  std::weak_ptr<Impl> weak = shared_from_this();
  tick.arm(Clock::now() + std::chrono::milliseconds(20), [weak] {
    auto self = weak.lock();
    if (!self || self->stopped) return;
    self->released_this_tick = 0;
    if (self->config.flow_control.enabled) {
      self->flow.expire(Clock::now());
      self->flow.release([&] { return self->has_capacity(); });
    }
    self->arm_tick();
  });
}

void Proxy::Impl::refresh_models() {
  std::weak_ptr<Impl> weak = shared_from_this();
  auto snapshot = datastore.snapshot();
  // Each refresh collects into its own set: a slow endpoint's answer to an earlier refresh
  // cannot mix into a later one.
  struct Round {
    size_t pending = 0;
    bool any_ok = false;
    std::unordered_set<std::string> models;
  };
  auto round = std::make_shared<Round>();
  auto finish_one = [weak, round](bool ok, std::vector<std::string> found) {
    auto self = weak.lock();
    if (!self) return;
    if (ok) {
      round->any_ok = true;
      for (auto& m : found) round->models.insert(std::move(m));
    }
    if (--round->pending == 0 && round->any_ok) self->models = std::move(round->models);
  };
  for (const auto& e : snapshot->endpoints) {
    if (!e.healthy) continue;
    ++round->pending;
    http::UpstreamRequest request;
    request.method = "GET";
    request.target = "/v1/models";
    control.send(e.endpoint->host, e.endpoint->port, std::move(request),
                 std::make_shared<ModelsFetch>(finish_one));
  }
  models_timer.arm(Clock::now() + options.models_refresh, [weak] {
    if (auto self = weak.lock(); self && !self->stopped) self->refresh_models();
  });
}

Proxy::Proxy(EventLoop& loop, ProxyOptions options, GatewayConfig config, Datastore& datastore,
             ProxyEvents* events)
    : impl_(
          std::make_shared<Impl>(loop, std::move(options), std::move(config), datastore, events)) {}

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
  impl_->arm_tick();
  impl_->refresh_models();
  return *port;
}

void Proxy::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->tick.cancel();
  impl_->models_timer.cancel();
  if (impl_->server) impl_->server->stop();
}

FlowController::Stats Proxy::flow_stats() const { return impl_->flow.stats(); }

double Proxy::saturation() const { return impl_->current_saturation(); }

http::Server::Stats Proxy::connection_stats() const {
  return impl_->server ? impl_->server->stats() : http::Server::Stats{};
}

}  // namespace kgai::gateway
