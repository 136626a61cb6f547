#include "gateway/director.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <xxhash.h>

#include "common/utf8.h"
#include "gateway/gateway_metrics.h"
#include "gateway/model_rewrite.h"
#include "gateway/saturation.h"

namespace kgai::gateway {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(SteadyTime t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Random choices (weighted model rewrites, random pickers, tie-breaks) draw from one generator
// per thread: the Director is shared by every data-plane thread, and a lock here would be the
// only one on the request path.
std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

// Client-chosen keys the gateway keeps (a fairness flow while queued, a session in an LRU of
// 100,000) are at most this long: a longer one is replaced by a hash of it, so a client cannot
// make each entry cost 16 KB (the header limit), and distinct keys stay distinct.
constexpr size_t kMaxKeyBytes = 128;

std::string bounded_key(std::string_view key) {
  if (key.size() <= kMaxKeyBytes) return std::string(key);
  return fmt::format("xxh3:{:016x}", XXH3_64bits(key.data(), key.size()));
}

}  // namespace

Director::Director(DirectorOptions options, GatewayConfig config, PoolSource& pool,
                   DirectorEvents* events)
    : options_(std::move(options)),
      config_(std::move(config)),
      pool_(pool),
      events_(events),
      scheduler_(config_.profile, config_.saturation.metrics_staleness_threshold),
      flow_(config_.flow_control),
      outliers_(options_.outliers),
      models_(std::make_shared<const std::unordered_set<std::string>>()) {}

Director::~Director() = default;

void Director::set_served_models(std::vector<std::string> models) {
  auto set = std::make_shared<const std::unordered_set<std::string>>(
      std::make_move_iterator(models.begin()), std::make_move_iterator(models.end()));
  std::lock_guard lock(models_mutex_);
  models_ = std::move(set);
}

std::vector<std::string> Director::served_models() const {
  std::shared_ptr<const std::unordered_set<std::string>> models;
  {
    std::lock_guard lock(models_mutex_);
    models = models_;
  }
  std::vector<std::string> sorted(models->begin(), models->end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

bool Director::model_served(std::string_view model) const {
  std::shared_ptr<const std::unordered_set<std::string>> models;
  {
    std::lock_guard lock(models_mutex_);
    models = models_;
  }
  return models->empty() || models->contains(std::string(model));
}

double Director::saturation() const {
  auto snapshot = pool_.snapshot();
  return pool_saturation(*snapshot, config_.saturation, Clock::now());
}

bool Director::ready() const {
  auto snapshot = pool_.snapshot();
  const auto now = Clock::now();
  return std::any_of(snapshot->endpoints.begin(), snapshot->endpoints.end(),
                     [&](const EndpointState& e) { return e.ready(now); });
}

bool Director::has_capacity() {
  auto snapshot = pool_.snapshot();
  if (is_saturated(pool_saturation(*snapshot, config_.saturation, Clock::now()))) return false;
  // Metrics move only at the next scrape: release at most one request per endpoint per tick,
  // so one free moment does not let the whole queue through at once.
  return released_this_tick_.fetch_add(1, std::memory_order_relaxed) <
         std::max<size_t>(1, snapshot->endpoints.size());
}

void Director::tick(SteadyTime now) {
  released_this_tick_.store(0, std::memory_order_relaxed);
  if (!config_.flow_control.enabled) return;
  flow_.expire(now);
  flow_.release([this] { return has_capacity(); });
}

void Director::request_finished() {
  // A finished request frees capacity: let a queued one go.
  if (config_.flow_control.enabled && !flow_.empty()) {
    flow_.release([this] { return has_capacity(); });
  }
}

DirectedRequest::DirectedRequest(std::shared_ptr<Director> director, SteadyTime arrival)
    : director_(std::move(director)), arrival_(arrival) {}

DirectedRequest::~DirectedRequest() {
  abandon();
  if (!finished_) finish(499);
}

std::optional<Rejection> DirectedRequest::read(ApiKind api, std::span<const http::Header> headers,
                                               std::string body) {
  Director& d = *director_;
  body_ = std::make_shared<std::string>(std::move(body));
  auto parsed = parse_request_body(*body_, api);
  if (!parsed) return Rejection{400, parsed.error().message};
  info_ = std::move(*parsed);
  read_headers(headers);
  const std::string_view rewrite_header =
      http::find_header(headers, "x-gateway-model-name-rewrite");
  if (!rewrite_header.empty()) {
    if (auto why = invalid_model_name(rewrite_header)) {
      return Rejection{400, fmt::format("x-gateway-model-name-rewrite {}", *why)};
    }
  }
  info_.target_model = rewrite_model(info_.model, rewrite_header, d.config_.rewrites, thread_rng());
  if (auto rejection = check_model()) return rejection;
  if (info_.target_model != info_.model) {
    send_body_ =
        std::make_shared<const std::string>(splice_model(*body_, info_, info_.target_model));
  } else {
    send_body_ = body_;
  }
  return std::nullopt;
}

void DirectedRequest::read_opaque(std::span<const http::Header> headers, size_t body_bytes) {
  info_ = RequestInfo{};
  info_.body_bytes = body_bytes;
  read_headers(headers);
}

void DirectedRequest::read_headers(std::span<const http::Header> headers) {
  const Director& d = *director_;
  // Only a configured objective counts (its priority, its metrics label): an unknown name
  // from a client is priority 0 and labelled "other", so clients cannot mint label values.
  const std::string_view objective = d.options_.objective_header.empty()
                                         ? std::string_view()
                                         : http::find_header(headers, d.options_.objective_header);
  if (!objective.empty()) {
    info_.objective = std::string(GatewayMetrics::kOther);
    for (const auto& o : d.config_.objectives) {
      if (o.name == objective) {
        info_.objective = o.name;
        info_.priority = o.priority;
      }
    }
  }
  info_.fairness_id = bounded_key(http::find_header(headers, "x-gateway-inference-fairness-id"));
  if (info_.fairness_id.empty()) info_.fairness_id = "default-flow";
  if (!d.config_.session_header.empty()) {
    info_.session_id = bounded_key(http::find_header(headers, d.config_.session_header));
  }
}

void DirectedRequest::restrict_to(std::vector<std::string> addresses) {
  subset_ = std::move(addresses);
}

std::optional<Rejection> DirectedRequest::check_model() {
  if (director_->model_served(info_.target_model)) return std::nullopt;
  Rejection r{404,
              fmt::format("The model `{}` does not exist.", utf8_prefix(info_.target_model, 256))};
  // Not a series of its own: any name a client makes up would be one.
  info_.target_model = std::string(GatewayMetrics::kOther);
  return r;
}

DirectedRequest::Admission DirectedRequest::admit(DequeuedCallback on_dequeued,
                                                  Rejection* rejection) {
  Director& d = *director_;
  // One snapshot for admission and the pick: the pool the request was admitted to is the pool
  // it is scheduled on (unless it waits, and then the pool it finds when let go).
  snapshot_ = d.pool_.snapshot();
  const bool saturated =
      is_saturated(pool_saturation(*snapshot_, d.config_.saturation, Clock::now()));
  if (info_.priority < 0 && saturated) {
    if (d.events_) d.events_->shed(info_.target_model);
    *rejection = {429, "the pool is saturated and this request's objective is sheddable"};
    return Admission::kRejected;
  }
  if (!d.config_.flow_control.enabled || (!saturated && d.flow_.empty())) return Admission::kNow;
  snapshot_.reset();
  // The callback touches nothing of this request: it may run on another thread, and the
  // request may be gone by then (abandon() cancels the ticket, but an outcome already on its
  // way still arrives).
  ticket_ = d.flow_.enqueue(info_.priority, info_.fairness_id,
                            static_cast<int64_t>(body_ ? body_->size() : info_.body_bytes),
                            arrival_, std::move(on_dequeued));
  return Admission::kQueued;
}

std::optional<Rejection> DirectedRequest::dequeued(FlowOutcome outcome) {
  ticket_.reset();
  switch (outcome) {
    case FlowOutcome::kDispatch:
      return std::nullopt;
    case FlowOutcome::kRejected:
      return Rejection{429, "flow-control queues are full"};
    case FlowOutcome::kExpired:
      return Rejection{503, "waited longer than the flow-control TTL for capacity"};
    case FlowOutcome::kCancelled:
      break;
  }
  return Rejection{499, "the client went away"};
}

std::optional<Rejection> DirectedRequest::schedule(bool trace) {
  Director& d = *director_;
  if (!snapshot_) snapshot_ = d.pool_.snapshot();
  context_ = SchedulingContext{};
  context_.request = &info_;
  context_.pool = snapshot_.get();
  context_.now = Clock::now();
  context_.rng = &thread_rng();
  context_.trace = trace;
  context_.subset = subset_;
  const auto start = Clock::now();
  Decision decision = d.scheduler_.schedule(context_);
  const double decision_seconds = seconds_since(start);
  if (decision.ranked.empty()) return Rejection{503, "no ready endpoint: " + decision.reason};
  ranked_ = std::move(decision.ranked);
  if (d.events_) {
    d.events_->decision(snapshot_->endpoints[ranked_[0]].endpoint->address, decision_seconds);
  }
  return std::nullopt;
}

const EndpointState* DirectedRequest::next_attempt() {
  Director& d = *director_;
  release_endpoint();
  if (next_rank_ >= ranked_.size() || next_rank_ >= static_cast<size_t>(d.options_.max_attempts)) {
    return nullptr;
  }
  endpoint_index_ = ranked_[next_rank_++];
  endpoint_ = &snapshot_->endpoints[endpoint_index_];
  load_ = endpoint_->load;
  if (load_) load_->in_flight.fetch_add(1, std::memory_order_relaxed);
  return endpoint_;
}

std::vector<const EndpointState*> DirectedRequest::ranked(size_t limit) const {
  std::vector<const EndpointState*> out;
  limit = std::min({limit, ranked_.size(), static_cast<size_t>(director_->options_.max_attempts)});
  out.reserve(limit);
  for (size_t i = 0; i < limit; ++i) out.push_back(&snapshot_->endpoints[ranked_[i]]);
  return out;
}

void DirectedRequest::sent() {
  if (endpoint_) director_->scheduler_.picked(context_, endpoint_index_);
}

bool DirectedRequest::attempt_failed(std::string_view why, bool count_failure) {
  Director& d = *director_;
  release_endpoint();
  if (!endpoint_) return false;
  if (count_failure) d.outliers_.failure(*snapshot_, endpoint_index_, Clock::now());
  last_error_ = fmt::format("{}: {}", endpoint_->endpoint->address, why);
  // A retry follows exactly when another endpoint is left: the failed one is reported now.
  if (!can_retry()) return false;
  if (d.events_) d.events_->retry(endpoint_->endpoint->address);
  return true;
}

bool DirectedRequest::can_retry() const {
  return next_rank_ < ranked_.size() &&
         next_rank_ < static_cast<size_t>(director_->options_.max_attempts);
}

void DirectedRequest::connect_failed(std::string_view why) {
  if (endpoint_) director_->pool_.report_failure(endpoint_->id, why);
}

Rejection DirectedRequest::exhausted(int status) const {
  const bool expose = director_->options_.expose_debug;
  if (status == 502 || status == 504) {
    return {status, expose          ? last_error_
                    : status == 504 ? "the model server did not answer in time"
                                    : "the model server failed to answer"};
  }
  return {status, expose ? fmt::format("every endpoint tried failed; last: {}", last_error_)
                         : std::string("every endpoint tried failed")};
}

void DirectedRequest::response_started(int status, std::string_view content_type) {
  usage_.emplace(ResponseUsageReader::body_of(content_type));
  if (!endpoint_) return;
  if (endpoint_failure_status(status)) {
    director_->outliers_.failure(*snapshot_, endpoint_index_, Clock::now());
  } else {
    director_->outliers_.success(*endpoint_);
  }
}

void DirectedRequest::response_body(std::string_view chunk) {
  if (chunk.empty()) return;
  if (!ttft_) ttft_ = seconds_since(arrival_);
  if (usage_) usage_->feed(chunk);
}

void DirectedRequest::served_by(std::string_view address) {
  if (!snapshot_ || (endpoint_ && endpoint_->endpoint->address == address)) return;
  for (uint32_t i = 0; i < snapshot_->endpoints.size(); ++i) {
    const EndpointState& e = snapshot_->endpoints[i];
    if (e.endpoint->address != address) continue;
    // Envoy moved to a fallback: the primary failed it (Envoy retries on failure only).
    if (endpoint_) director_->outliers_.failure(*snapshot_, endpoint_index_, Clock::now());
    release_endpoint();
    endpoint_index_ = i;
    endpoint_ = &e;
    load_ = e.load;
    if (load_) load_->in_flight.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

void DirectedRequest::broke() {
  if (endpoint_ && snapshot_) {
    director_->outliers_.failure(*snapshot_, endpoint_index_, Clock::now());
  }
}

void DirectedRequest::release_endpoint() {
  if (load_) load_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  load_.reset();
}

void DirectedRequest::abandon() {
  release_endpoint();
  if (ticket_) {
    director_->flow_.cancel(*ticket_);
    ticket_.reset();
  }
}

void DirectedRequest::finish(int code) {
  if (finished_) return;
  finished_ = true;
  release_endpoint();
  Director& d = *director_;
  if (d.events_) {
    // One parser per thread, kept warm: finishing a request allocates nothing.
    thread_local OpenAiJson json;
    const UsageFields usage = usage_ ? usage_->finish(json) : UsageFields{};
    d.events_->request_done(info_.target_model.empty() ? info_.model : info_.target_model,
                            info_.objective, code, seconds_since(arrival_), ttft_,
                            usage.prompt_tokens, usage.completion_tokens);
  }
  d.request_finished();
}

}  // namespace kgai::gateway
