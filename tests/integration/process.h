// Starts a kgai process for a test, reads the ports it prints, and stops it on destruction.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace kgai::testing {

class KgaiProcess {
 public:
  // Runs `KGAI_BINARY args...` with stdout and stderr captured.
  explicit KgaiProcess(std::vector<std::string> args) {
    int out_pipe[2];
    if (pipe(out_pipe) != 0) return;
    // KGAI_TEST_BINARY runs the tests against another build of kgai (the sanitizer build).
    // Everything the child needs is built before fork(): it must not allocate.
    const char* override_binary = std::getenv("KGAI_TEST_BINARY");
    std::string binary = override_binary ? override_binary : KGAI_BINARY;
    std::vector<char*> argv;
    argv.push_back(binary.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out_pipe[1], STDOUT_FILENO);
      dup2(out_pipe[1], STDERR_FILENO);
      close(out_pipe[0]);
      close(out_pipe[1]);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(out_pipe[1]);
    out_fd_ = out_pipe[0];
  }

  ~KgaiProcess() {
    stop();
    if (out_fd_ >= 0) close(out_fd_);
  }

  // Reads output until `count` lines "... on http://HOST:PORT" appeared; returns the ports.
  std::vector<uint16_t> wait_for_ports(size_t count,
                                       std::chrono::seconds timeout = std::chrono::seconds(30)) {
    static const std::regex kServing(R"(on (?:http|grpc)://[^:\s]+:(\d+))");
    std::vector<uint16_t> ports;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t scanned = 0;
    while (ports.size() < count && std::chrono::steady_clock::now() < deadline) {
      if (!read_some(std::chrono::milliseconds(100))) {
        if (eof_) break;  // the process closed its output: it exited
        continue;
      }
      size_t newline;
      while ((newline = output_.find('\n', scanned)) != std::string::npos) {
        std::string line = output_.substr(scanned, newline - scanned);
        scanned = newline + 1;
        std::smatch m;
        if (std::regex_search(line, m, kServing)) {
          ports.push_back(static_cast<uint16_t>(std::stoi(m[1])));
        }
      }
    }
    return ports;
  }

  // Waits for the process to exit and returns its exit code (-1 on timeout).
  int wait_exit(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      read_some(std::chrono::milliseconds(20));
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        while (read_some(std::chrono::milliseconds(0))) {
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }

  // SIGTERM, then wait; returns the exit code.
  int stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int code = wait_exit(std::chrono::seconds(10));
    if (code == -1) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    exit_code_ = code;
    return code;
  }

  const std::string& output() const { return output_; }

  void signal(int number) {
    if (pid_ > 0) kill(pid_, number);
  }

 private:
  bool read_some(std::chrono::milliseconds wait) {
    if (out_fd_ < 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char buffer[4096];
    ssize_t n = read(out_fd_, buffer, sizeof buffer);
    if (n == 0) eof_ = true;
    if (n <= 0) return false;
    output_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int exit_code_ = -1;
  bool eof_ = false;
  std::string output_;
};

}  // namespace kgai::testing
