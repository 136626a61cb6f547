// The structured-parameters allocator of Kubernetes 1.34 (resource.k8s.io/v1) as a library:
// which devices of which node satisfy a pod's claims, all or nothing, and when none does, why
// not — per node and per request. Deterministic: nodes in name order, pools by driver and
// pool name, slices and devices in input order; the first complete solution wins.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "dra/objects.h"

namespace kgai::dra {

struct AllocatedConfig {
  std::string source;  // FromClass | FromClaim
  std::vector<std::string> requests;
  OpaqueConfig opaque;
};

struct ClaimAllocation {
  size_t claim = 0;  // index into Inputs::claims
  std::vector<DeviceResult> results;
  std::vector<AllocatedConfig> config;
  nlohmann::ordered_json node_selector;  // null when the devices are not tied to nodes
};

struct NodeReport {
  std::string node;
  std::vector<std::string> reasons;  // why this node cannot take the claims
};

struct Allocation {
  bool ok = false;
  std::string node;                     // where the claims fit
  std::vector<ClaimAllocation> claims;  // the pending claims, in input order
  std::vector<NodeReport> not_fitting;  // when !ok: every node tried, in order
};

struct AllocatorOptions {
  std::optional<std::string> node;  // only this node
  // Devices held by earlier allocations of this run (kgai dra fit), as driver/pool/device.
  std::vector<DeviceResult> extra_in_use;
  // Upper bound of search steps per node before giving up with an error (runaway guard).
  uint64_t max_steps = 50'000'000;
};

// Allocates every claim of `inputs` without status.allocation, together. Errors are what
// Kubernetes treats as errors (unknown class, CEL errors, invalid pools, too many devices, All
// on an incomplete pool) and name the object and field.
Result<Allocation> allocate(const Inputs& inputs, const AllocatorOptions& options = {});

// The same for many allocations against one cluster (kgai dra fit, the quickstart planner,
// benchmarks): the cluster is indexed once (slices by node, pools, device ids), selector
// results are cached per device, and each commit() marks the allocated devices in use for
// the next allocate().
class Allocator {
 public:
  // `cluster` must outlive the Allocator; its claims with status.allocation hold devices.
  explicit Allocator(const Inputs& cluster, AllocatorOptions options = {});
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Allocates `claims` (pending ones; their classes come from the cluster) together. The
  // Allocation's claim indexes refer to `claims`.
  Result<Allocation> allocate(const std::vector<ResourceClaim>& claims);
  // Marks the devices of a successful allocation as in use.
  void commit(const Allocation& allocation);

  struct State;  // the index and caches (allocator.cpp)

 private:
  std::unique_ptr<State> state_;
};

}  // namespace kgai::dra
