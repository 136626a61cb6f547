// The values a CEL selector computes with: CEL's own types, Kubernetes' Quantity and Semver,
// and light references into the device being evaluated (so that evaluating a selector does
// not copy the device's attribute maps).
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"
#include "dra/cel.h"

namespace kgai::dra::cel {

struct Value;
using ValueList = std::vector<Value>;
using ValueMap = std::vector<std::pair<Value, Value>>;  // small maps: linear lookup is fine

struct Null {};
struct Bytes {
  std::string data;
};

using AttributeDomains =
    std::map<std::string, std::map<std::string, AttributeValue, std::less<>>, std::less<>>;
using AttributeMap = std::map<std::string, AttributeValue, std::less<>>;
using CapacityDomains =
    std::map<std::string, std::map<std::string, Quantity, std::less<>>, std::less<>>;
using CapacityMap = std::map<std::string, Quantity, std::less<>>;

// `device` itself.
struct DeviceRef {
  const DeviceView* device;
};
// `device.attributes` / `device.capacity`: domain -> map. A null pointer is an empty map.
struct AttributeDomainsRef {
  const AttributeDomains* domains;
};
struct AttributeMapRef {
  const AttributeMap* map;
};
struct CapacityDomainsRef {
  const CapacityDomains* domains;
};
struct CapacityMapRef {
  const CapacityMap* map;
};

enum class Type : uint8_t {
  kNull,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kList,
  kMap,
  kQuantity,
  kSemver,
  kDevice,
  kDyn,  // not known before evaluation
};

struct Value {
  std::variant<Null, bool, int64_t, uint64_t, double, std::string, Bytes,
               std::shared_ptr<const ValueList>, std::shared_ptr<const ValueMap>, Quantity, Semver,
               DeviceRef, AttributeDomainsRef, AttributeMapRef, CapacityDomainsRef, CapacityMapRef>
      v;

  template <typename T>
  const T* as() const {
    return std::get_if<T>(&v);
  }
};

Type type_of(const Value& value);
std::string_view type_name(Type type);
inline std::string_view type_name(const Value& value) { return type_name(type_of(value)); }
bool is_map_like(const Value& value);
bool is_numeric(Type type);

Value make_list(ValueList items);
Value make_map(ValueMap entries);

// Key lookup on any map-like value; nullopt when absent, an error when the key type cannot
// index this map.
Result<std::optional<Value>> map_lookup(const Value& map, const Value& key);
// The keys of a map-like value, in its order.
ValueList map_keys(const Value& map);
size_t map_size(const Value& map);

// CEL's heterogeneous equality: values of different types are unequal, except numbers,
// which compare by value.
bool values_equal(const Value& a, const Value& b);
// Ordering for < <= > >=: numbers (across int, uint and double), strings, bytes, bools.
// Other types are an error. NaN is unordered.
Result<std::partial_ordering> values_compare(const Value& a, const Value& b);

// For error messages ("no such key: model").
std::string display(const Value& value);

}  // namespace kgai::dra::cel
