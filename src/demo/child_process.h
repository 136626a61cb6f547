// A process the demo starts and owns: the simulator, a gateway, nginx, HAProxy, kgai perf.
// Its stdout and stderr go to a log file (kept in the demo's output folder, so a failure can
// be read afterwards). The child dies with the demo, however the demo ends: stop() or the
// destructor terminates it (SIGTERM, then SIGKILL), and the kernel sends it SIGTERM if the
// demo itself is killed (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace kgai::demo {

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH when it has no slash) with the other arguments.
  static Result<ChildProcess> start(std::vector<std::string> argv, const std::string& log_path);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& name() const { return name_; }

  // Waits until the log holds `count` lines containing `needle` and returns them; fails when
  // the process exits first or `timeout` passes (the error quotes the log's last lines).
  Result<std::vector<std::string>> wait_for_lines(const std::string& needle, size_t count,
                                                  std::chrono::milliseconds timeout);

  // Waits for the process to exit by itself; its exit status (128 + signal when killed), or
  // an error on timeout (the process is left running).
  Result<int> wait(std::chrono::milliseconds timeout);

  // True while the process runs.
  bool running();

  // SIGTERM, then SIGKILL after `grace`; reaps it. Safe to call twice.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

  // The last `lines` lines of the log, for error messages.
  std::string log_tail(size_t lines = 15) const;

 private:
  ChildProcess(pid_t pid, std::string name, std::string log_path)
      : pid_(pid), name_(std::move(name)), log_path_(std::move(log_path)) {}
  bool reap(bool block);

  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string name_;
  std::string log_path_;
};

}  // namespace kgai::demo
