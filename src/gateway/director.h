// The endpoint picker's request lifecycle, free of any data plane: what the standalone HTTP
// proxy (gateway/proxy.h) and the Envoy ext_proc server (gateway/extproc/) both do with an
// inference request, so that they differ only in how bytes come and go.
//
//   read       body fields and the gateway's headers -> RequestInfo (objective -> priority,
//              fairness id, session, model rewrite spliced into the body, model check)
//   admit      one pool snapshot: shed a sheddable request while the pool is saturated, queue
//              in flow control (shared by every data-plane thread), or go now
//   schedule   filters -> scorers -> picker over that same snapshot: endpoints ranked, primary
//              first, the rest fallbacks
//   attempt    the data plane sends to next_attempt(); a failure counts towards the endpoint's
//              ejection and moves on while attempts are left
//   respond    status, time to first token, usage from the end of the response (one reader,
//              shared with perf), end -> metrics, slot release, a queued request let go
//
// A Director is shared by every data-plane thread (thread-safe); a DirectedRequest belongs to
// one request and is used from one thread at a time. Destroying a DirectedRequest releases
// whatever it still holds (endpoint slot, flow-control ticket): a data plane that loses a
// request on an error path leaks nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/http.h"
#include "common/response_usage.h"
#include "gateway/config.h"
#include "gateway/flow_control.h"
#include "gateway/outlier_detector.h"
#include "gateway/pool_source.h"
#include "gateway/request_info.h"
#include "gateway/scheduler.h"

namespace kgai::gateway {

struct DirectorOptions {
  int max_attempts = 3;  // endpoints tried for one request (primary + fallbacks)
  // What a client may learn about the pool: the decision trace, the endpoint that served, and
  // endpoint addresses in error messages. Off by default: they map the pool for whoever asks.
  bool expose_debug = false;
  // The header whose value names the request's objective (and so its priority). Whoever can
  // set it can raise their own priority: behind a Gateway, name a header that the Gateway
  // sets and strips from client requests. Empty: no objective is read (priority 0 for all).
  std::string objective_header = "x-gateway-inference-objective";
  OutlierOptions outliers;
};

// What the Director reports as it works (the gateway's /metrics implements it).
class DirectorEvents {
 public:
  virtual ~DirectorEvents() = default;
  // code: the status the client got; 499 when the client went away first.
  virtual void request_done(std::string_view model, std::string_view objective, int code,
                            double seconds, std::optional<double> ttft, int64_t input_tokens,
                            int64_t output_tokens) = 0;
  virtual void decision(std::string_view endpoint, double seconds) = 0;
  virtual void retry(std::string_view endpoint) = 0;
  virtual void shed(std::string_view model) = 0;
};

// Statuses that say the endpoint failed, not the request (500, 502, 503, 504): retried
// elsewhere while the client has seen nothing, and counted by outlier detection.
inline bool endpoint_failure_status(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

// An answer the data plane gives instead of forwarding: an OpenAI-shaped error
// (gateway/openai_error.h) with this status and message.
struct Rejection {
  int status = 500;
  std::string message;
};

class Director {
 public:
  // `pool` (the gateway's Datastore) and `events` (may be null) must outlive the Director.
  Director(DirectorOptions options, GatewayConfig config, PoolSource& pool, DirectorEvents* events);
  ~Director();
  Director(const Director&) = delete;
  Director& operator=(const Director&) = delete;

  const DirectorOptions& options() const { return options_; }
  const GatewayConfig& config() const { return config_; }
  PoolSource& pool() { return pool_; }

  // The models the pool serves (bases and adapters from each endpoint's /v1/models), for the
  // 404 on unknown models. Empty: not known yet, every model is let through. Thread-safe.
  void set_served_models(std::vector<std::string> models);
  std::vector<std::string> served_models() const;  // sorted

  // Flow control's clock: expires requests past their TTL and lets queued ones go while there
  // is capacity. Call every 20 ms or so from one thread (a data plane's loop, or a control
  // loop); outcomes run on the calling thread.
  void tick(SteadyTime now);

  FlowController::Stats flow_stats() const { return flow_.stats(); }
  // The pool's saturation now (gateway/saturation.h).
  double saturation() const;
  // Some endpoint may get traffic (healthy and not ejected): readiness of the gateway.
  bool ready() const;

 private:
  friend class DirectedRequest;

  bool model_served(std::string_view model) const;
  // There is room to let one more queued request go (lock-free; counts releases per tick).
  bool has_capacity();
  void request_finished();

  const DirectorOptions options_;
  const GatewayConfig config_;
  PoolSource& pool_;
  DirectorEvents* events_;
  Scheduler scheduler_;
  FlowController flow_;
  OutlierDetector outliers_;
  std::atomic<size_t> released_this_tick_{0};
  mutable std::mutex models_mutex_;
  std::shared_ptr<const std::unordered_set<std::string>> models_;
};

// One inference request's way through the Director. Steps in order: read (or read_opaque),
// admit, schedule, then next_attempt() per try, the response_* calls as the answer arrives,
// and finish() exactly once with the status the client got. A step that returns a Rejection
// ends the request: the data plane answers it and calls finish(rejection.status).
class DirectedRequest {
 public:
  explicit DirectedRequest(std::shared_ptr<Director> director,
                           SteadyTime arrival = std::chrono::steady_clock::now());
  ~DirectedRequest();  // abandon()
  DirectedRequest(const DirectedRequest&) = delete;
  DirectedRequest& operator=(const DirectedRequest&) = delete;

  // Reads an inference request: `body` (taken; padded in place for the parser) and the
  // gateway's headers (names compared case-insensitively). 400 for a malformed body or model
  // rewrite header, 404 for a model the pool does not serve.
  std::optional<Rejection> read(ApiKind api, std::span<const http::Header> headers,
                                std::string body);

  // Reads a request the gateway cannot parse a body of (another route than the OpenAI
  // inference ones, or a bodyless one): only the gateway's headers count; it is routed on load
  // alone, and its body, if any, passes through untouched.
  void read_opaque(std::span<const http::Header> headers, size_t body_bytes = 0);

  // Restricts the pick to these endpoint addresses ("host:port"): the subset hint a gateway
  // may send (Envoy's envoy.lb.subset_hint). Before schedule(); an empty list restricts nothing.
  void restrict_to(std::vector<std::string> addresses);

  // Outcome of admit(): go now (schedule), wait (the callback says when), or rejected.
  enum class Admission : uint8_t { kNow, kQueued, kRejected };
  // When flow control queues the request, `on_dequeued` runs later, exactly once, on whatever
  // thread decides it (another data-plane thread, tick(), or abandon() with kCancelled); it
  // must not touch the request, only hand the outcome over to the request's own thread, which
  // then calls dequeued(outcome) if the request is still there. On kRejected, `*rejection`
  // says why.
  using DequeuedCallback = std::function<void(FlowOutcome)>;
  Admission admit(DequeuedCallback on_dequeued, Rejection* rejection);
  // The queued request's outcome, on its own thread: nullopt to go on with schedule(), else a
  // rejection (429 queues full, 503 TTL expired); kCancelled also returns a rejection (499).
  std::optional<Rejection> dequeued(FlowOutcome outcome);

  // Ranks the endpoints. `trace`: collect a human-readable decision trace (trace()).
  // 503 when no endpoint can serve.
  std::optional<Rejection> schedule(bool trace = false);

  // The endpoint of the next attempt (its in-flight count raised until the attempt ends), or
  // null when none is left (the ranking is exhausted or max_attempts tried).
  const EndpointState* next_attempt();
  // The ranked endpoints a data plane may name at once (primary first), at most
  // max_attempts. Valid after schedule().
  std::vector<const EndpointState*> ranked(size_t limit) const;
  // The current attempt's request is on its way: the post-pick plugins learn where it went
  // (the prefix index records its blocks). Called after sending, because teaching the index a
  // 200 KB prompt's blocks costs tens of microseconds that need not delay the request.
  void sent();

  // The current attempt failed before anything reached the client: counts towards the
  // endpoint's ejection when `count_failure`, remembers `why`, releases its slot. Returns true
  // when another attempt may follow (next_attempt() then gives it), and reports the retry.
  bool attempt_failed(std::string_view why, bool count_failure = true);
  // Another endpoint is left to try after the current one.
  bool can_retry() const;
  // The current endpoint could not be connected to: the datastore marks it unhealthy too.
  void connect_failed(std::string_view why);
  // The answer to give when every attempt failed: `status` (502 garbage, 503 unreachable,
  // 504 too slow), with the last failure named when the pool may be exposed.
  Rejection exhausted(int status) const;

  // The answer arrives. response_started: the endpoint answered `status` (a failure status
  // counts towards its ejection, anything else ends its run of failures). response_body: a chunk of
  // the body as it streams (time to first token, usage). served_by: the data plane learned that
  // another endpoint than the current one served (Envoy's fallbacks): the accounting moves there.
  // broke(): the answer was cut short by the endpoint after it started.
  // `content_type`: the response's, which says where its usage is (an SSE stream's last
  // usage event, or a JSON body's "usage").
  void response_started(int status, std::string_view content_type = {});
  void response_body(std::string_view chunk);
  void served_by(std::string_view address);
  void broke();

  // Ends the request: metrics (status `code`, time, TTFT, usage), the endpoint slot released,
  // a queued request let go. Idempotent; a request never finished is finished as 499 by the
  // destructor.
  void finish(int code);
  // Stops what is held on the client's behalf (the endpoint slot, a flow-control ticket)
  // without finishing; for a data plane ending a request another way. Idempotent.
  void abandon();

  const RequestInfo& info() const { return info_; }
  // The body to forward: the client's, with the model rewrite spliced in.
  const std::shared_ptr<const std::string>& send_body() const { return send_body_; }
  const EndpointState* endpoint() const { return endpoint_; }
  const std::string& trace() const { return context_.trace_text; }
  SteadyTime arrival() const { return arrival_; }
  bool finished() const { return finished_; }
  std::optional<double> ttft() const { return ttft_; }

 private:
  void release_endpoint();
  void read_headers(std::span<const http::Header> headers);
  std::optional<Rejection> check_model();

  std::shared_ptr<Director> director_;
  SteadyTime arrival_;
  RequestInfo info_;
  std::shared_ptr<std::string> body_;  // the client's; info_.prefix_text points into it
  std::shared_ptr<const std::string> send_body_;
  std::shared_ptr<const PoolSnapshot> snapshot_;
  SchedulingContext context_;
  std::vector<uint32_t> ranked_;
  std::vector<std::string> subset_;  // restrict_to()
  size_t next_rank_ = 0;
  const EndpointState* endpoint_ = nullptr;  // the current attempt's (in snapshot_)
  uint32_t endpoint_index_ = 0;
  std::shared_ptr<EndpointLoad> load_;  // the slot held on the current endpoint
  std::optional<uint64_t> ticket_;
  std::string last_error_;
  std::optional<double> ttft_;
  std::optional<ResponseUsageReader> usage_;  // from response_started
  bool finished_ = false;
};

}  // namespace kgai::gateway
