// A TCP listener on 127.0.0.1 that answers every connection with the current fuzz input: it
// reads the request's head (up to the blank line), writes the canned bytes, and closes. The
// HTTP client targets point kgai's clients at it, so the input is the server's response.
// Plain blocking sockets on a thread of its own, so nothing of kgai's HTTP code is on this
// side of the connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace kgai::fuzz {

class CannedListener {
 public:
  CannedListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 16) != 0) {
      std::perror("canned listener");
      std::abort();
    }
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedListener() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes the accept()
    thread_.join();
    ::close(fd_);
  }
  CannedListener(const CannedListener&) = delete;
  CannedListener& operator=(const CannedListener&) = delete;

  uint16_t port() const { return port_; }

  // The bytes the next connections get.
  void set_response(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    response_.assign(bytes);
  }

 private:
  static size_t content_length(std::string_view head) {
    for (size_t at = head.find("\r\n"); at != std::string_view::npos;
         at = head.find("\r\n", at + 2)) {
      std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
      constexpr std::string_view kName = "content-length:";
      if (line.size() <= kName.size()) continue;
      bool match = true;
      for (size_t i = 0; i < kName.size(); ++i) {
        match = match && std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
      }
      if (match) return std::strtoull(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
    }
    return 0;
  }

  void serve() {
    while (!stopping_) {
      const int connection = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      answer(connection);
      ::close(connection);
    }
  }

  void answer(int connection) {
    // The whole request is read (head, then a Content-Length body), bounded by size and
    // time: closing a socket with unread bytes sends a reset, and the client could lose the
    // response to it.
    std::string request;
    size_t head_end = std::string::npos;
    size_t wanted = 64 * 1024;
    char buffer[4096];
    while (request.size() < wanted) {
      pollfd poll_fd{connection, POLLIN, 0};
      if (::poll(&poll_fd, 1, 1000) <= 0) return;
      const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
      if (head_end == std::string::npos &&
          (head_end = request.find("\r\n\r\n")) != std::string::npos) {
        wanted = head_end + 4 + content_length(std::string_view(request).substr(0, head_end));
      }
    }
    std::string response;
    {
      std::lock_guard lock(mutex_);
      response = response_;
    }
    std::string_view rest = response;
    while (!rest.empty()) {
      const ssize_t n = ::send(connection, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      rest.remove_prefix(static_cast<size_t>(n));
    }
    ::shutdown(connection, SHUT_WR);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::string response_;
  std::thread thread_;
};

}  // namespace kgai::fuzz
