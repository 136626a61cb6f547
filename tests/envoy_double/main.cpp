// kgai-envoy-double: an HTTP/1.1 front that plays Envoy with the ext_proc filter in front of
// an external processor (the endpoint picker), so that kgai perf and the bench scripts can
// measure the whole path without an Envoy. See front.h and envoy_double.h.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "common/event_loop.h"
#include "envoy_double/front.h"

namespace {

using kgai::envoy_double::BodyMode;
using kgai::envoy_double::Front;
using kgai::envoy_double::FrontOptions;

bool split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    const int value = std::stoi(text.substr(colon + 1));
    if (value < 0 || value > 65535) return false;
    port = static_cast<uint16_t>(value);
  } catch (...) {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kgai-envoy-double: plays Envoy's ext_proc filter in front of an external processor.\n"
      "For each HTTP/1.1 request on --listen it runs one ext_proc stream with the processor at\n"
      "--ext-proc (request headers, then the body: FULL_DUPLEX_STREAMED chunks sent without\n"
      "waiting, or BUFFERED in one message after the headers answer), forwards the body the\n"
      "processor returns to the first endpoint of x-gateway-destination-endpoint, and streams\n"
      "the response back through the processor (response headers with the served endpoint in\n"
      "metadata_context, body chunks as they arrive) to the client.\n"
      "Protocol violations by the processor are logged to stderr. An immediate response goes\n"
      "to the client as sent; a failed stream is a 500, no destination or an unreachable\n"
      "endpoint a 503, a timeout a 504. SIGINT or SIGTERM exits at once (exchanges in flight\n"
      "are dropped)."};
  std::string listen;
  std::string ext_proc;
  std::string mode = "full-duplex";
  FrontOptions options;
  double timeout_s = 600;
  bool no_protocol_config = false;
  app.add_option("--listen", listen, "HOST:PORT to serve HTTP/1.1 on (port 0 picks one)")
      ->required();
  app.add_option("--ext-proc", ext_proc, "HOST:PORT of the ext_proc gRPC server")->required();
  app.add_option("--mode", mode, "request and response body mode")
      ->check(CLI::IsMember({"full-duplex", "buffered"}))
      ->capture_default_str();
  app.add_option("--chunk-size", options.exchange.chunk_size,
                 "request body bytes per message in full-duplex mode")
      ->check(CLI::Range(1, 64 << 20))
      ->capture_default_str();
  app.add_flag("--no-protocol-config", no_protocol_config,
               "leave protocol_config out of the first message (as older Envoys do)");
  app.add_option("--timeout", timeout_s, "seconds allowed for one whole exchange")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--channels", options.channels, "gRPC connections to the processor")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-workers", options.max_workers, "exchanges at once (more wait)")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--max-body-bytes", options.max_body_bytes, "largest request body (413 over)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (!split_host_port(listen, options.address, options.port)) {
    fmt::print(stderr, "kgai-envoy-double: --listen wants HOST:PORT, got \"{}\"\n", listen);
    return 2;
  }
  options.ext_proc = ext_proc;
  options.exchange.mode = mode == "buffered" ? BodyMode::kBuffered : BodyMode::kFullDuplexStreamed;
  options.exchange.send_protocol_config = !no_protocol_config;
  options.exchange.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));

  // Signals go to a sigwait below, never into a thread of the loop, gRPC or the workers
  // (threads inherit the mask); a client that went away is a write error, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  kgai::EventLoop loop;
  Front front(loop, options);
  auto port = front.listen();
  if (!port) {
    fmt::print(stderr, "kgai-envoy-double: {}\n", port.error().message);
    return 2;
  }
  fmt::print("kgai-envoy-double: serving on http://{}:{} (ext_proc {}, {})\n", options.address,
             *port, ext_proc, mode);
  std::fflush(stdout);
  std::thread loop_thread([&loop] { loop.run(); });

  int signal = 0;
  sigwait(&stop_signals, &signal);
  fmt::print(
      "kgai-envoy-double: {} requests, {} immediate responses, {} failed, {} protocol "
      "violations\n",
      front.stats().requests.load(), front.stats().immediate.load(), front.stats().failed.load(),
      front.stats().violations.load());
  std::fflush(stdout);
  // Exchanges in flight may wait on a stalled processor or endpoint for up to --timeout; a
  // test tool has no reason to wait for them.
  std::_Exit(0);
}
