// Where the Director reads the pool from: the datastore in the gateway (scraped metrics), a
// hand-made pool in tests. The seam that lets the request lifecycle run without sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "gateway/endpoint.h"

namespace kgai::gateway {

class PoolSource {
 public:
  virtual ~PoolSource() = default;
  // The latest pool, never null. Cheap and thread-safe.
  virtual std::shared_ptr<const PoolSnapshot> snapshot() const = 0;
  // A request could not connect to endpoint `id`: it should count as unhealthy until its
  // next successful scrape. Thread-safe; unknown ids are ignored.
  virtual void report_failure(uint32_t id, std::string_view why) = 0;
};

}  // namespace kgai::gateway
