// `kgai gateway`: the AI-aware endpoint picker and proxy in front of a pool of
// OpenAI-compatible model servers (vLLM, SGLang, TRT-LLM, Triton).
#include <arpa/inet.h>
#include <pthread.h>

#include <charconv>
#include <cmath>
#include <csignal>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "common/file_limit.h"
#include "common/http_server.h"
#include "common/log.h"
#include "gateway/config.h"
#include "gateway/control_tasks.h"
#include "gateway/datastore.h"
#include "gateway/director.h"
#include "gateway/endpoints_file.h"
#include "gateway/endpoints_file_watcher.h"
#include "gateway/extproc/ext_proc_server.h"
#include "gateway/gateway_metrics.h"
#include "gateway/proxy.h"

namespace kgai::cli {

namespace {

struct GatewayFlags {
  std::string listen = "0.0.0.0:8080";
  std::string ext_proc_listen;  // empty: no ext_proc server
  std::string health_listen = "0.0.0.0:9003";
  std::string ext_proc_body_mode = "full-duplex";
  double drain_timeout = 30;
  std::string endpoints;
  std::string endpoints_file;
  std::string config_file;
  std::string metrics_listen;
  int scrape_interval_ms = 50;
  double stale_after = 0;  // 0: the config's metricsStalenessThreshold
  int max_attempts = 3;
  int64_t max_body_bytes = static_cast<int64_t>(http::kDefaultMaxBodyBytes);
  double request_timeout = 600;
  double ttfb_timeout = 120;
  bool expose_debug = false;
  std::string objective_header = "x-gateway-inference-objective";
  int outlier_failures = 5;
  double outlier_base_ejection = 5;
  int outlier_max_percent = 50;
  int threads = 1;
  int64_t max_connections = 10'000;
  int64_t max_connections_per_source = 0;
};

struct Address {
  std::string host;
  uint16_t port = 0;
};

// ADDRESS:PORT to listen on; port 0 picks a free one (tests), ":PORT" means every address,
// and ADDRESS alone takes `default_port` when there is one.
Result<Address> parse_listen(const std::string& text, const char* flag, int default_port = -1) {
  const size_t colon = text.rfind(':');
  const bool bracketed_v6 = !text.empty() && text.back() == ']';
  Address a;
  unsigned port = 0;
  if (colon != std::string::npos && !bracketed_v6) {
    a.host = text.substr(0, colon);
    const char* begin = text.data() + colon + 1;
    const char* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(begin, end, port);
    if (begin == end || ec != std::errc{} || stop != end || port > 65535) {
      return fail("{} '{}': expected ADDRESS:PORT, e.g. 0.0.0.0:8080", flag, text);
    }
  } else if (default_port >= 0 && !text.empty()) {
    a.host = text;
    port = static_cast<unsigned>(default_port);
  } else {
    return fail("{} '{}': expected ADDRESS:PORT, e.g. 0.0.0.0:8080", flag, text);
  }
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  if (a.host.empty()) a.host = "0.0.0.0";
  a.port = static_cast<uint16_t>(port);
  return a;
}

// Envoy routes on the picker's header with an ORIGINAL_DST cluster, which takes one IP:port:
// say so at startup when the header will name more (fallbacks) or names a host by name.
void warn_about_envoy_routing(const gateway::PoolSnapshot& pool, int max_attempts) {
  if (max_attempts > 1) {
    log::info(
        "ext_proc: x-gateway-destination-endpoint names up to {} endpoints (primary, then "
        "fallbacks); an Envoy ORIGINAL_DST cluster reads one IP:port: use --max-attempts 1 there",
        max_attempts);
  }
  for (const auto& e : pool.endpoints) {
    const std::string& host = e.endpoint->host;
    in6_addr v6;
    in_addr v4;
    if (inet_pton(AF_INET, host.c_str(), &v4) != 1 && inet_pton(AF_INET6, host.c_str(), &v6) != 1) {
      log::warn(
          "ext_proc: endpoint {} is a host name; Envoy's ORIGINAL_DST cluster needs an IP address",
          e.endpoint->address);
      return;
    }
  }
}

bool off(const std::string& value) { return value.empty() || value == "off" || value == "none"; }

// The gateway's metrics as the Director reports its work.
class MetricsEvents final : public gateway::DirectorEvents {
 public:
  explicit MetricsEvents(gateway::GatewayMetrics& metrics) : metrics_(metrics) {}
  void request_done(std::string_view model, std::string_view objective, int code, double seconds,
                    std::optional<double> ttft, int64_t input_tokens,
                    int64_t output_tokens) override {
    metrics_.request_done(model, objective, code, seconds, ttft, input_tokens, output_tokens);
  }
  void decision(std::string_view endpoint, double seconds) override {
    metrics_.decision(endpoint, seconds);
  }
  void retry(std::string_view endpoint) override { metrics_.retry(endpoint); }
  void shed(std::string_view model) override { metrics_.shed(model); }

 private:
  gateway::GatewayMetrics& metrics_;
};

int run_gateway(const GatewayFlags& f) {
  std::optional<Address> listen;
  if (!off(f.listen)) {
    auto l = parse_listen(f.listen, "--listen");
    if (!l) {
      log::error("{}", l.error().message);
      return 2;
    }
    listen = *l;
  }
  std::optional<Address> ext_proc_listen, health_listen;
  if (!off(f.ext_proc_listen)) {
    auto e = parse_listen(f.ext_proc_listen, "--ext-proc-listen", 9002);
    if (!e) {
      log::error("{}", e.error().message);
      return 2;
    }
    ext_proc_listen = *e;
    if (!off(f.health_listen)) {
      auto h = parse_listen(f.health_listen, "--health-listen", 9003);
      if (!h) {
        log::error("{}", h.error().message);
        return 2;
      }
      health_listen = *h;
    }
  }
  if (!listen && !ext_proc_listen) {
    log::error(
        "nothing to serve: give --listen ADDRESS:PORT (the proxy), --ext-proc-listen "
        "ADDRESS:PORT (behind Envoy), or both");
    return 2;
  }
  if (f.ext_proc_body_mode != "full-duplex" && f.ext_proc_body_mode != "buffered") {
    log::error("--ext-proc-body-mode '{}': expected full-duplex or buffered", f.ext_proc_body_mode);
    return 2;
  }
  if (!(f.drain_timeout >= 0)) {
    log::error("--drain-timeout must be 0 or more seconds");
    return 2;
  }
  std::optional<Address> metrics_listen;
  if (!f.metrics_listen.empty()) {
    auto m = parse_listen(f.metrics_listen, "--metrics-listen");
    if (!m) {
      log::error("{}", m.error().message);
      return 2;
    }
    metrics_listen = *m;
  }
  if (f.endpoints.empty() == f.endpoints_file.empty()) {
    log::error("give --endpoints HOST:PORT,... or --endpoints-file FILE (one of them)");
    return 2;
  }
  if (f.scrape_interval_ms < 1 || f.max_attempts < 1 || f.max_body_bytes < 1 || f.threads < 1 ||
      f.threads > 64) {
    log::error(
        "--scrape-interval-ms, --max-attempts and --max-body-bytes must be positive, --threads "
        "1-64");
    return 2;
  }
  if (!(f.request_timeout >= 0) || !(f.ttfb_timeout > 0) || !(f.outlier_base_ejection > 0) ||
      f.outlier_failures < 0 || f.outlier_max_percent < 0 || f.outlier_max_percent > 100) {
    log::error(
        "--request-timeout must be >= 0 (0: none), --ttfb-timeout and --outlier-base-ejection "
        "positive, --outlier-failures >= 0 (0: off), --outlier-max-ejection-percent 0-100");
    return 2;
  }
  if (f.max_connections < 0 || f.max_connections_per_source < 0) {
    log::error("--max-connections and --max-connections-per-source must be 0 (no cap) or more");
    return 2;
  }
  auto config = f.config_file.empty()
                    ? Result<gateway::GatewayConfig>(gateway::default_gateway_config())
                    : gateway::load_gateway_config(f.config_file);
  if (!config) {
    log::error("{}", config.error().message);
    return 2;
  }
  if (f.stale_after > 0) config->saturation.metrics_staleness_threshold = f.stale_after;

  const sigset_t signals = block_stop_signals();
  raise_open_file_limit();

  gateway::DatastoreOptions store_options;
  store_options.scrape_interval = std::chrono::milliseconds(f.scrape_interval_ms);
  store_options.stale_after = std::chrono::milliseconds(
      static_cast<int64_t>(config->saturation.metrics_staleness_threshold * 1000));
  gateway::Datastore datastore(store_options);
  std::unique_ptr<gateway::EndpointsFileWatcher> watcher;
  if (!f.endpoints.empty()) {
    auto list = gateway::parse_endpoint_list(f.endpoints);
    if (!list) {
      log::error("--endpoints: {}", list.error().message);
      return 2;
    }
    datastore.set_endpoints(std::move(*list));
  } else {
    watcher = std::make_unique<gateway::EndpointsFileWatcher>(f.endpoints_file, datastore);
    if (auto loaded = watcher->reload(); !loaded) {
      log::error("{}", loaded.error().message);
      return 2;
    }
  }
  datastore.start();
  if (watcher) watcher->start();
  datastore.wait_first_round(std::chrono::seconds(2));

  gateway::GatewayMetrics metrics;
  MetricsEvents events(metrics);
  gateway::DirectorOptions director_options;
  director_options.max_attempts = f.max_attempts;
  director_options.expose_debug = f.expose_debug;
  director_options.objective_header = f.objective_header;
  director_options.outliers.consecutive_failures = f.outlier_failures;
  director_options.outliers.base_ejection =
      std::chrono::milliseconds(static_cast<int64_t>(std::ceil(f.outlier_base_ejection * 1000)));
  director_options.outliers.max_ejection_percent = f.outlier_max_percent;
  const std::string profile = config->describe();
  // One Director for every data-plane thread: flow-control queues, the prefix index and
  // sessions are shared, so priorities and fairness hold across threads.
  auto director =
      std::make_shared<gateway::Director>(director_options, *config, datastore, &events);

  // One event loop and proxy per thread, all on one port (SO_REUSEPORT).
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::unique_ptr<gateway::Proxy>> proxies;
  uint16_t port = listen ? listen->port : 0;
  for (int i = 0; listen && i < f.threads; ++i) {
    loops.push_back(std::make_unique<EventLoop>());
    gateway::ProxyOptions options;
    options.address = listen->host;
    options.port = port;
    options.max_body_bytes = static_cast<size_t>(f.max_body_bytes);
    options.request_timeout = f.request_timeout;
    options.header_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(std::ceil(f.ttfb_timeout * 1000)));
    options.reuse_port = f.threads > 1;
    // Each thread's server enforces its share (the kernel spreads connections evenly).
    auto share = [&](int64_t cap) {
      return static_cast<size_t>(cap == 0 ? 0 : (cap + f.threads - 1) / f.threads);
    };
    options.max_connections = share(f.max_connections);
    options.max_connections_per_source = share(f.max_connections_per_source);
    proxies.push_back(std::make_unique<gateway::Proxy>(*loops.back(), options, director));
    auto bound = proxies.back()->start();
    if (!bound) {
      log::error("--listen {}: {}", f.listen, bound.error().message);
      return 2;
    }
    port = *bound;  // the others join the port the first one got (it may have been 0)
  }
  // The control loop: flow control's clock, the model list, and /metrics. Never a data
  // plane's loop: rendering a big page or a slow /v1/models must not hold up requests.
  EventLoop control_loop;
  std::unique_ptr<gateway::extproc::ExtProcServer> ext_proc;
  if (ext_proc_listen) {
    gateway::extproc::ExtProcOptions eo;
    eo.address = ext_proc_listen->host;
    eo.port = ext_proc_listen->port;
    eo.health_address = health_listen ? health_listen->host : "";
    eo.health_port = health_listen ? health_listen->port : 0;
    eo.max_body_bytes = static_cast<size_t>(f.max_body_bytes);
    eo.assumed_body_mode = f.ext_proc_body_mode == "buffered"
                               ? gateway::extproc::BodyModeOption::kBuffered
                               : gateway::extproc::BodyModeOption::kFullDuplexStreamed;
    warn_about_envoy_routing(*datastore.snapshot(), f.max_attempts);
    ext_proc = std::make_unique<gateway::extproc::ExtProcServer>(eo, director);
    auto ports = ext_proc->start();
    if (!ports) {
      log::error("{}", ports.error().message);
      return 2;
    }
    fmt::print("kgai gateway: ext_proc on grpc://{}:{}\n", ext_proc_listen->host, ports->ext_proc);
    if (health_listen) {
      fmt::print("kgai gateway: gRPC health on grpc://{}:{}\n", health_listen->host, ports->health);
    }
  }
  gateway::ControlTaskOptions control_options;
  if (ext_proc) {
    control_options.on_readiness = [&ext_proc](bool ready) { ext_proc->set_serving(ready); };
  }
  gateway::ControlTasks control(control_loop, director, control_options);
  control.start();
  std::unique_ptr<http::Server> metrics_server;
  if (metrics_listen) {
    http::ServerOptions mo;
    mo.address = metrics_listen->host;
    mo.port = metrics_listen->port;
    metrics_server = std::make_unique<http::Server>(
        control_loop, mo,
        [&](http::Request&& request, std::shared_ptr<http::ResponseStream> stream) {
          http::Response r;
          if (request.path() != "/metrics") {
            r.status = 404;
            r.body = "only /metrics here\n";
          } else {
            r.headers.push_back({"Content-Type", "text/plain; version=0.0.4"});
            r.body = metrics.render(*datastore.snapshot(), director->saturation(),
                                    director->flow_stats());
            http::Server::Stats connections;
            for (const auto& p : proxies) connections += p->connection_stats();
            r.body += gateway::render_connection_metrics(connections);
            if (ext_proc) r.body += gateway::extproc::render_ext_proc_metrics(ext_proc->stats());
          }
          stream->respond(std::move(r));
        });
    auto mport = metrics_server->listen();
    if (!mport) {
      log::error("--metrics-listen {}: {}", f.metrics_listen, mport.error().message);
      return 2;
    }
    fmt::print("kgai gateway: metrics on http://{}:{}/metrics\n", metrics_listen->host, *mport);
  }
  if (listen) fmt::print("kgai gateway: serving on http://{}:{}\n", listen->host, port);
  std::fflush(stdout);
  log::info("profile: {}; {} endpoints; {} thread(s)", profile,
            datastore.snapshot()->endpoints.size(), f.threads);

  std::vector<std::thread> threads;
  for (auto& l : loops) threads.emplace_back([l = l.get()] { l->run(); });
  threads.emplace_back([&] { control_loop.run(); });
  log::info("signal {}: stopping", wait_for_stop_signal(signals));
  for (size_t i = 0; i < loops.size(); ++i) {
    loops[i]->post([&, i] {
      proxies[i]->stop();
      loops[i]->stop();
    });
  }
  if (ext_proc) {
    // Graceful: health NOT_SERVING, no new stream, open ones finish (flow control still
    // ticks on the control loop meanwhile) until the drain deadline.
    log::info("ext_proc: draining open streams (up to {} s)", f.drain_timeout);
    ext_proc->shutdown(std::chrono::milliseconds(static_cast<int64_t>(f.drain_timeout * 1000)));
  }
  control_loop.post([&] {
    control.stop();
    if (metrics_server) metrics_server->stop();
    control_loop.stop();
  });
  for (auto& t : threads) t.join();
  proxies.clear();
  if (watcher) watcher->stop();
  datastore.stop();
  return 0;
}

}  // namespace

void add_gateway_command(CLI::App& app, int& exit_code) {
  auto* gw = app.add_subcommand(
      "gateway",
      "AI-aware endpoint picker and proxy for OpenAI-compatible model servers: routes each "
      "request by queue, KV-cache use, prefix-cache affinity and LoRA affinity, sheds and "
      "queues by priority, streams responses through.");
  auto f = std::make_shared<GatewayFlags>();
  gw->add_option("--listen", f->listen,
                 "ADDRESS:PORT to serve the OpenAI API on (the standalone proxy); off: none")
      ->capture_default_str();
  gw->add_option("--ext-proc-listen", f->ext_proc_listen,
                 "ADDRESS[:PORT] for Envoy's external-processing gRPC protocol (the endpoint "
                 "picker an InferencePool's endpointPickerRef names; port 9002 if none given). "
                 "Alone or with --listen; --listen off serves ext_proc only");
  gw->add_option("--health-listen", f->health_listen,
                 "ADDRESS[:PORT] of the gRPC health service (grpc.health.v1.Health: SERVING while "
                 "some endpoint is ready) next to --ext-proc-listen; off: none")
      ->capture_default_str();
  gw->add_option("--ext-proc-body-mode", f->ext_proc_body_mode,
                 "The ext_proc filter's request_body_mode, for Envoys that do not announce it "
                 "(before 1.34): full-duplex (FULL_DUPLEX_STREAMED) or buffered (BUFFERED)")
      ->capture_default_str();
  gw->add_option("--drain-timeout", f->drain_timeout,
                 "Seconds open ext_proc streams may take to finish after SIGTERM")
      ->capture_default_str();
  gw->add_option("--endpoints", f->endpoints, "Model servers: HOST:PORT,HOST:PORT,... (vLLM)");
  gw->add_option("--endpoints-file", f->endpoints_file,
                 "YAML list of endpoints (address, engine, labels); re-read when it changes");
  gw->add_option("--config", f->config_file,
                 "EndpointPickerConfig YAML (plugins, schedulingProfiles, saturationDetector, "
                 "flowControl, objectives, modelRewrites); default: queue x2, kv-cache x2, "
                 "prefix x3, max-score-picker");
  gw->add_option("--metrics-listen", f->metrics_listen,
                 "ADDRESS:PORT for the gateway's own Prometheus /metrics");
  gw->add_option("--scrape-interval-ms", f->scrape_interval_ms,
                 "How often each endpoint's /metrics is read")
      ->capture_default_str();
  gw->add_option("--stale-after", f->stale_after,
                 "Seconds after which an endpoint's metrics count as stale (default: the "
                 "config's metricsStalenessThreshold, 2 s)");
  gw->add_option("--max-attempts", f->max_attempts,
                 "Endpoints tried for one request when one fails before answering (refused, "
                 "reset, TTFB timeout, 5xx, 429)")
      ->capture_default_str();
  gw->add_option("--max-body-bytes", f->max_body_bytes, "Largest request body (413 beyond)")
      ->capture_default_str();
  gw->add_option("--request-timeout", f->request_timeout,
                 "Seconds for a whole request, queueing included (0: none); past it the client "
                 "gets 504, or a cut stream")
      ->capture_default_str();
  gw->add_option("--ttfb-timeout", f->ttfb_timeout,
                 "Seconds from sending a request to an endpoint to its response headers; past it "
                 "the request moves to the next endpoint. A non-streaming request's headers come "
                 "with the whole answer: raise it for long non-streaming generations")
      ->capture_default_str();
  gw->add_flag("--expose-debug", f->expose_debug,
               "Let clients see how the pool is laid out: the decision trace (x-kgai-debug: 1), "
               "x-gateway-destination-endpoint-served, and endpoint addresses in error bodies");
  gw->add_option("--objective-header", f->objective_header,
                 "Header naming the request's objective (its priority). Whoever can set it can "
                 "raise their own priority: behind a Gateway, use a header the Gateway sets and "
                 "strips from clients; \"\" ignores objectives")
      ->capture_default_str();
  gw->add_option("--outlier-failures", f->outlier_failures,
                 "Failed requests in a row (refused, reset, timed out, 5xx) that eject an "
                 "endpoint (0: never eject)")
      ->capture_default_str();
  gw->add_option("--outlier-base-ejection", f->outlier_base_ejection,
                 "Seconds of the first ejection; each further one doubles it (up to 300 s)")
      ->capture_default_str();
  gw->add_option("--outlier-max-ejection-percent", f->outlier_max_percent,
                 "Most of the pool ejected at once, in percent")
      ->capture_default_str();
  gw->add_option("--max-connections", f->max_connections,
                 "Client connections open at once (0: no cap); at the cap new ones wait in the "
                 "listen backlog")
      ->capture_default_str();
  gw->add_option("--max-connections-per-source", f->max_connections_per_source,
                 "Client connections open at once from one address (0: no cap); over it a new "
                 "connection is closed unread")
      ->capture_default_str();
  gw->add_option("--threads", f->threads,
                 "Proxy threads, each with its own event loop on the same port (SO_REUSEPORT)")
      ->capture_default_str();
  gw->callback([&exit_code, f] { exit_code = run_gateway(*f); });
}

}  // namespace kgai::cli
