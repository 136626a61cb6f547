#include "demo/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace kgai::demo {

using Clock = std::chrono::steady_clock;

Result<ChildProcess> ChildProcess::start(std::vector<std::string> argv,
                                         const std::string& log_path) {
  if (argv.empty()) return fail("nothing to start");
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return fail("cannot write {}: {}", log_path, std::strerror(errno));
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // A pipe that closes on a successful exec tells the parent whether exec worked.
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return fail("pipe: {}", std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(status_pipe[0]);
    ::close(status_pipe[1]);
    return fail("fork: {}", std::strerror(errno));
  }
  if (pid == 0) {
    // The child: only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the demo died before the prctl
    ::setpgid(0, 0);  // Ctrl-C at the terminal goes to the demo, which stops its children
    // The demo blocks SIGINT/SIGTERM (it waits for them on a thread) and ignores SIGPIPE; a
    // mask and ignored signals survive exec, so the child gets the defaults back.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execvp(args[0], args.data());
    const int error = errno;
    [[maybe_unused]] auto n = ::write(status_pipe[1], &error, sizeof error);
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(status_pipe[1]);
  int exec_error = 0;
  const ssize_t n = ::read(status_pipe[0], &exec_error, sizeof exec_error);
  ::close(status_pipe[0]);
  std::string name = argv[0].substr(argv[0].rfind('/') + 1);
  ChildProcess child(pid, name, log_path);
  if (n == sizeof exec_error) {
    child.reap(true);
    return fail("cannot run {}: {}", argv[0], std::strerror(exec_error));
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      status_(other.status_),
      exited_(other.exited_),
      name_(std::move(other.name_)),
      log_path_(std::move(other.log_path_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
    exited_ = other.exited_;
    name_ = std::move(other.name_);
    log_path_ = std::move(other.log_path_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { stop(); }

bool ChildProcess::reap(bool block) {
  if (pid_ < 0 || exited_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1);
    return true;
  }
  return false;
}

bool ChildProcess::running() { return pid_ >= 0 && !reap(false); }

Result<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    if (Clock::now() >= deadline)
      return fail("{} still running after {} s", name_, timeout.count() / 1000.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0 || reap(false)) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (!reap(false)) {
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      reap(true);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string ChildProcess::log_tail(size_t lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "    " + l + "\n";
  return out;
}

Result<std::vector<std::string>> ChildProcess::wait_for_lines(const std::string& needle,
                                                              size_t count,
                                                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    std::vector<std::string> found;
    {
      std::ifstream in(log_path_);
      for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) found.push_back(line);
      }
    }
    if (found.size() >= count) return found;
    if (!running()) {
      return fail("{} exited (status {}) before printing '{}'; its log ({}) ends:\n{}", name_,
                  status_, needle, log_path_, log_tail());
    }
    if (Clock::now() >= deadline) {
      return fail("{} did not print '{}' within {} s; its log ({}) ends:\n{}", name_, needle,
                  timeout.count() / 1000.0, log_path_, log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace kgai::demo
