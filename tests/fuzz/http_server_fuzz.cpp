// HTTP request parsing as kgai's server does it (src/common/http_server.cpp: Boost.Beast's
// request parser plus the server's own sized-body reader, limits and keep-alive handling), the
// front door of `kgai gateway` and `kgai sim`. A real kgai::http::Server listens on
// 127.0.0.1:0 in this process; each input is written to a fresh connection, which is then
// half-closed, and the server's answer is read until it closes.
//
// Checked: the server closes the connection (its timeouts are short here, so a connection
// still open after 2 s is a hang), and what it wrote is a sequence of well-formed HTTP/1.1
// responses (read with perf's strict response parser). The handler answers in the three ways
// a handler can (respond, chunked, sized) by path, so all three writers see parsed requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/event_loop.h"
#include "common/http_server.h"
#include "fuzz/fuzz_target.h"
#include "perf/response_parser.h"
#include "unit/common/http_test_util.h"

using namespace std::chrono_literals;

namespace {

void handle(kgai::http::Request&& request, std::shared_ptr<kgai::http::ResponseStream> stream) {
  const std::string_view path = request.path();
  std::string body = request.method + " " + request.target + "\n" + request.body;
  if (path.starts_with("/stream")) {
    stream->start(200, {{"Content-Type", "text/event-stream"}});
    stream->write(body);
    stream->finish();
  } else if (path.starts_with("/sized")) {
    stream->start_sized(200, {{"Content-Type", "text/plain"}}, body.size());
    stream->write(body);
    stream->finish();
  } else {
    stream->respond({200, {{"Content-Type", "text/plain"}}, std::move(body)});
  }
}

struct Harness {
  kgai::EventLoop loop;
  std::unique_ptr<kgai::http::Server> server;
  uint16_t port = 0;
  std::unique_ptr<kgai::testing::LoopThread> thread;

  Harness() {
    kgai::http::ServerOptions options;
    options.max_header_bytes = 1024;
    options.max_body_bytes = 2048;
    options.read_timeout = 250ms;
    options.idle_timeout = 250ms;
    options.write_timeout = 250ms;
    server = std::make_unique<kgai::http::Server>(loop, options, handle);
    auto listening = server->listen();
    FUZZ_CHECK(listening.has_value());
    port = *listening;
    thread = std::make_unique<kgai::testing::LoopThread>(loop);
  }
  ~Harness() {
    thread->stop();
    server.reset();  // stop() is safe once the loop stopped
  }
};

// Sends `input`, half-closes, and reads until the server closes (true) or 2 s pass (false).
// `clean` tells whether the close was an orderly one: after a reset the answer may be lost.
bool exchange(uint16_t port, std::string_view input, std::string& answer, bool& clean) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  // The server may answer and close before it read everything (a 431 at the header limit).
  for (std::string_view rest = input; !rest.empty();) {
    const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    rest.remove_prefix(static_cast<size_t>(n));
  }
  ::shutdown(fd, SHUT_WR);
  bool closed = false;
  clean = false;
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!closed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[16 * 1024];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      answer.append(buffer, static_cast<size_t>(n));
    } else {
      closed = true;
      clean = n == 0;
    }
  }
  ::close(fd);
  return closed;
}

// Whether `bytes` is a sequence of complete HTTP/1.1 responses; the last may end at EOF, and
// interim (1xx) responses may stand alone.
bool well_formed_responses(std::string_view bytes, std::string* error) {
  kgai::perf::ResponseParser parser;
  auto ignore = [](const char*, size_t) {};
  while (!bytes.empty()) {
    // An interim response on its own: after "100 Continue" the client may close before it
    // sent the whole body, and the server then has no final response to give (RFC 9110 15.2.1).
    if (bytes.starts_with("HTTP/1.1 1")) {
      const size_t end = bytes.find("\r\n\r\n");
      if (end != std::string_view::npos) {
        bytes.remove_prefix(end + 4);
        continue;
      }
    }
    parser.reset();
    size_t consumed = 0;
    auto fed = parser.feed(bytes.data(), bytes.size(), &consumed, ignore);
    if (fed == kgai::perf::ResponseParser::Feed::kMore) fed = parser.finish_at_eof();
    if (fed == kgai::perf::ResponseParser::Feed::kError) {
      *error = parser.error();
      return false;
    }
    bytes.remove_prefix(consumed);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Started on the first input, in the process afl-fuzz forked (threads do not survive fork).
  static Harness harness;
  const std::string_view input = kgai::fuzz::as_text(data, size);
  std::string answer;
  bool clean = false;
  const bool closed = exchange(harness.port, input, answer, clean);
  if (!closed) std::fprintf(stderr, "server kept a half-closed connection open for 2 s\n");
  FUZZ_CHECK(closed);
  // A response to HEAD has a Content-Length but no body, which a response parser cannot know.
  if (clean && input.find("HEAD") == std::string_view::npos) {
    std::string error;
    if (!well_formed_responses(answer, &error)) {
      std::fprintf(stderr, "malformed answer (%s):\n%s\n", error.c_str(), answer.c_str());
    }
    FUZZ_CHECK(error.empty());
  }
  return 0;
}
