// The resource.k8s.io/v1 objects kgai dra reads (Kubernetes 1.34), reduced to what the
// allocator needs, plus Node for node selectors. Field names follow the API; limits are
// checked by the reader (object_reader.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dra/cel.h"
#include "dra/quantity.h"

namespace kgai::dra {

template <typename V>
using NameMap = std::map<std::string, V, std::less<>>;

// core/v1 NodeSelector: terms are ORed, requirements within a term ANDed.
struct NodeSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist, Gt, Lt
  std::vector<std::string> values;
};
struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> match_expressions;  // on labels
  std::vector<NodeSelectorRequirement> match_fields;       // metadata.name only
};
struct NodeSelector {
  std::vector<NodeSelectorTerm> terms;
};

struct Node {
  std::string name;
  NameMap<std::string> labels;
};

struct DeviceTaint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule | NoExecute
};

struct CounterConsumption {
  std::string counter_set;
  NameMap<Quantity> counters;
};

struct Device {
  std::string name;
  // By domain then id, the driver's domain filled in for unqualified names: what CEL sees.
  NameMap<NameMap<cel::AttributeValue>> attributes;
  NameMap<NameMap<Quantity>> capacity;
  std::vector<CounterConsumption> consumes_counters;
  // Per-device node selection (when the slice has perDeviceNodeSelection).
  std::optional<std::string> node_name;
  std::optional<NodeSelector> node_selector;
  bool all_nodes = false;
  std::vector<DeviceTaint> taints;
  bool allow_multiple_allocations = false;
};

struct CounterSet {
  std::string name;
  NameMap<Quantity> counters;
};

struct ResourceSlice {
  std::string name;  // metadata.name
  std::string driver;
  std::string pool;
  int64_t generation = 0;
  int64_t resource_slice_count = 1;
  std::optional<std::string> node_name;
  std::optional<NodeSelector> node_selector;
  bool all_nodes = false;
  bool per_device_node_selection = false;
  std::vector<Device> devices;
  std::vector<CounterSet> shared_counters;
};

struct OpaqueConfig {
  std::string driver;
  nlohmann::ordered_json parameters;
};

struct DeviceClass {
  std::string name;
  std::vector<std::string> selectors;  // CEL expressions
  std::vector<OpaqueConfig> config;
};

struct DeviceToleration {
  std::string key;
  std::string op = "Equal";  // Equal | Exists
  std::string value;
  std::string effect;  // empty: every effect
};

// The fields shared by `exactly` and each `firstAvailable` subrequest.
struct DeviceSelection {
  std::string name;  // the subrequest's name; empty for `exactly`
  std::string device_class_name;
  std::vector<std::string> selectors;
  bool all = false;  // allocationMode All (else ExactCount)
  int64_t count = 1;
  bool admin_access = false;
  std::vector<DeviceToleration> tolerations;
};

struct DeviceRequest {
  std::string name;
  std::optional<DeviceSelection> exactly;
  std::vector<DeviceSelection> first_available;
};

struct DeviceConstraint {
  std::vector<std::string> requests;  // empty: all
  std::optional<std::string> match_attribute;
  std::optional<std::string> distinct_attribute;
};

struct DeviceClaimConfig {
  std::vector<std::string> requests;  // empty: all
  OpaqueConfig opaque;
};

struct DeviceResult {
  std::string request;  // "request" or "request/subrequest"
  std::string driver;
  std::string pool;
  std::string device;
  bool admin_access = false;
};

struct ResourceClaim {
  std::string name;
  std::string name_space = "default";
  std::vector<DeviceRequest> requests;
  std::vector<DeviceConstraint> constraints;
  std::vector<DeviceClaimConfig> config;
  // Already allocated claims hold their devices.
  bool allocated = false;
  std::vector<DeviceResult> allocated_devices;
  nlohmann::ordered_json object;  // as read, to write back with status.allocation filled
};

// Everything read from the input files, in file order.
struct Inputs {
  std::vector<ResourceSlice> slices;
  std::vector<DeviceClass> classes;
  std::vector<ResourceClaim> claims;
  std::vector<Node> nodes;
};

}  // namespace kgai::dra
