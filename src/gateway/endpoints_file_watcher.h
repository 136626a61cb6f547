// Keeps a Datastore's endpoints in step with the endpoints file: polls the file's identity
// (device, inode, size, modification time) and re-reads it when that changes, so editors
// that replace the file and tools that rewrite it in place (a ConfigMap's symlink swap)
// are both seen. A broken edit logs an error and keeps the endpoints the datastore has.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "gateway/datastore.h"

namespace kgai::gateway {

class EndpointsFileWatcher {
 public:
  EndpointsFileWatcher(std::string path, Datastore& datastore,
                       std::chrono::milliseconds poll_interval = std::chrono::seconds(1));
  ~EndpointsFileWatcher();  // stops
  EndpointsFileWatcher(const EndpointsFileWatcher&) = delete;
  EndpointsFileWatcher& operator=(const EndpointsFileWatcher&) = delete;

  // Reads the file now and, if it parses, hands its endpoints to the datastore. Call it
  // before start() to fail startup on a broken file; the watcher itself only logs.
  Result<void> reload();

  // Polls every poll_interval on a thread of its own until stop(). Idempotent.
  void start();
  void stop();

  // The error of the latest read that failed, "" once one succeeds again (for status pages
  // and tests).
  std::string last_error() const;

 private:
  struct Stamp {
    bool exists = false;
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const Stamp&, const Stamp&) = default;
  };
  Stamp stamp() const;
  void poll_loop();

  const std::string path_;
  Datastore& datastore_;
  const std::chrono::milliseconds poll_interval_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  Stamp seen_;  // the file as last read
  std::string last_error_;
  std::thread thread_;
};

}  // namespace kgai::gateway
