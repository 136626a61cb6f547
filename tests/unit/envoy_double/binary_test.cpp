// The kgai-envoy-double binary itself: started as a process in front of the fake processor and
// endpoint, it prints where it serves, relays a request, and exits cleanly on SIGTERM.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "unit/envoy_double/fake_endpoint.h"
#include "unit/envoy_double/fake_ext_proc.h"

namespace kgai::envoy_double {
namespace {

using ::testing::HasSubstr;

// The binary with stdout and stderr on a pipe.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    std::string binary = KGAI_ENVOY_DOUBLE_BINARY;
    std::vector<char*> argv = {binary.data()};
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    fd_ = out[0];
  }
  ~Child() {
    if (pid_ > 0 && exit_code_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  // Reads output until `pattern` matches a line (its first group), or 20 s pass.
  std::string wait_for(const std::regex& pattern) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      if (std::regex_search(output_, match, pattern)) return match[1];
      if (!read_some(100)) {
        if (eof_) break;
      }
    }
    return "";
  }

  int terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    while (read_some(0)) {
    }
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  const std::string& output() const { return output_; }

 private:
  bool read_some(int wait_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return false;
    char buffer[4096];
    const ssize_t n = read(fd_, buffer, sizeof buffer);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int exit_code_ = -1;
  bool eof_ = false;
  std::string output_;
};

TEST(EnvoyDoubleBinary, RelaysARequestAndStopsOnSigterm) {
  testing::FakeEndpoint endpoint;
  testing::FakeProcessor processor({.destination = endpoint.address()});
  Child child({"--listen", "127.0.0.1:0", "--ext-proc", processor.target()});
  const std::string port = child.wait_for(std::regex(R"(serving on http://127\.0\.0\.1:(\d+))"));
  ASSERT_FALSE(port.empty()) << child.output();

  http::Client client("127.0.0.1", static_cast<uint16_t>(std::stoi(port)));
  http::Request request;
  request.method = "POST";
  request.target = "/v1/chat/completions";
  request.body = R"({"model":"m","messages":[]})";
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, request.body);
  EXPECT_EQ(processor.record().served_endpoint, endpoint.address());

  EXPECT_EQ(child.terminate(), 0) << child.output();
  EXPECT_THAT(child.output(), HasSubstr("1 requests, 0 immediate responses, 0 failed"));
}

TEST(EnvoyDoubleBinary, BadArgumentsAreRefused) {
  Child child({"--listen", "nonsense", "--ext-proc", "127.0.0.1:1"});
  std::regex any("(kgai-envoy-double: --listen wants HOST:PORT)");
  EXPECT_FALSE(child.wait_for(any).empty()) << child.output();
}

}  // namespace
}  // namespace kgai::envoy_double
