#include "gateway/endpoints_file_watcher.h"

#include <sys/stat.h>

#include "common/log.h"
#include "gateway/endpoints_file.h"

namespace kgai::gateway {

EndpointsFileWatcher::EndpointsFileWatcher(std::string path, Datastore& datastore,
                                           std::chrono::milliseconds poll_interval)
    : path_(std::move(path)), datastore_(datastore), poll_interval_(poll_interval) {}

EndpointsFileWatcher::~EndpointsFileWatcher() { stop(); }

EndpointsFileWatcher::Stamp EndpointsFileWatcher::stamp() const {
  struct stat info {};
  // stat, not lstat: a Kubernetes ConfigMap mount swaps a symlink, and the target matters.
  if (::stat(path_.c_str(), &info) != 0) return Stamp{};
  return Stamp{
      .exists = true,
      .device = static_cast<uint64_t>(info.st_dev),
      .inode = static_cast<uint64_t>(info.st_ino),
      .size = static_cast<int64_t>(info.st_size),
      .mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

Result<void> EndpointsFileWatcher::reload() {
  // Stamp before reading: a write that lands during the read changes the stamp again, so the
  // next poll reads the file once more.
  const Stamp before = stamp();
  auto endpoints = load_endpoints_file(path_);
  std::lock_guard lock(mutex_);
  seen_ = before;
  if (!endpoints) {
    last_error_ = endpoints.error().message;
    return fail(endpoints.error());
  }
  last_error_.clear();
  log::info("gateway: endpoints file {}: {} endpoints", path_, endpoints->size());
  datastore_.set_endpoints(std::move(*endpoints));
  return {};
}

void EndpointsFileWatcher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { poll_loop(); });
}

void EndpointsFileWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string EndpointsFileWatcher::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void EndpointsFileWatcher::poll_loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, poll_interval_, [this] { return stopping_; })) {
    if (stamp() == seen_) continue;
    lock.unlock();
    if (auto reloaded = reload(); !reloaded) {
      log::error("gateway: {}; keeping the current endpoints", reloaded.error().message);
    }
    lock.lock();
  }
}

}  // namespace kgai::gateway
