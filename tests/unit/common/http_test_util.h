// Helpers for the HTTP tests: a thread that runs an EventLoop, running code on that loop, and
// a raw POSIX socket for sending bytes no well-behaved client would send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "common/event_loop.h"

namespace kgai::testing {

using namespace std::chrono_literals;

// Runs `loop` on its own thread while it lives. Declare it after the servers and timers that
// use the loop, so that the loop stops before they are destroyed.
class LoopThread {
 public:
  explicit LoopThread(EventLoop& loop) : loop_(loop), thread_([&loop] { loop.run(); }) {}
  ~LoopThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    loop_.stop();
    thread_.join();
  }

 private:
  EventLoop& loop_;
  std::thread thread_;
};

// Runs `fn` on the loop's thread and returns its result.
template <typename Fn>
auto on_loop(EventLoop& loop, Fn&& fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::forward<Fn>(fn));
  auto future = task.get_future();
  loop.post([&task] { task(); });
  return future.get();
}

// Polls `condition` until it holds or `timeout` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return condition();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A blocking TCP socket to 127.0.0.1, with reads bounded by a timeout.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) close();
  }
  ~RawSocket() { close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  RawSocket(RawSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads whatever arrives until the peer closes or `timeout` passes. `closed` tells which.
  std::string read_until_close(std::chrono::milliseconds timeout = 10s, bool* closed = nullptr) {
    return read_while([](const std::string&) { return true; }, timeout, closed);
  }

  // Reads until `needle` has arrived (or the peer closes, or `timeout` passes).
  std::string read_until(std::string_view needle, std::chrono::milliseconds timeout = 10s) {
    return read_while(
        [needle](const std::string& got) { return got.find(needle) == std::string::npos; }, timeout,
        nullptr);
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string read_while(const std::function<bool(const std::string&)>& more,
                         std::chrono::milliseconds timeout, bool* closed) {
    std::string got;
    if (closed != nullptr) *closed = false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (more(got)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[16 * 1024];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (closed != nullptr) *closed = true;
        break;
      }
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }

  int fd_ = -1;
};

// A port on 127.0.0.1 that nothing listens on (bound and released at once).
inline uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace kgai::testing
