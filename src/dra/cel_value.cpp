#include "dra/cel_value.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace kgai::dra::cel {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

Value from_attribute(const AttributeValue& attribute) {
  return std::visit([](const auto& x) { return Value{x}; }, attribute);
}

std::partial_ordering compare_int_uint(int64_t a, uint64_t b) {
  if (a < 0) return std::partial_ordering::less;
  return static_cast<uint64_t>(a) <=> b;
}

// Numbers of any of the three kinds as one ordering.
std::optional<std::partial_ordering> compare_numbers(const Value& a, const Value& b) {
  if (auto x = a.as<int64_t>()) {
    if (auto y = b.as<int64_t>()) return *x <=> *y;
    if (auto y = b.as<uint64_t>()) return compare_int_uint(*x, *y);
    if (auto y = b.as<double>()) return static_cast<double>(*x) <=> *y;
  } else if (auto x = a.as<uint64_t>()) {
    if (auto y = b.as<int64_t>()) {
      auto c = compare_int_uint(*y, *x);
      return c == std::partial_ordering::less      ? std::partial_ordering::greater
             : c == std::partial_ordering::greater ? std::partial_ordering::less
                                                   : c;
    }
    if (auto y = b.as<uint64_t>()) return *x <=> *y;
    if (auto y = b.as<double>()) return static_cast<double>(*x) <=> *y;
  } else if (auto x = a.as<double>()) {
    if (auto y = b.as<int64_t>()) return *x <=> static_cast<double>(*y);
    if (auto y = b.as<uint64_t>()) return *x <=> static_cast<double>(*y);
    if (auto y = b.as<double>()) return *x <=> *y;
  }
  return std::nullopt;
}

}  // namespace

Type type_of(const Value& value) {
  return std::visit(
      Overloaded{
          [](const Null&) { return Type::kNull; }, [](bool) { return Type::kBool; },
          [](int64_t) { return Type::kInt; }, [](uint64_t) { return Type::kUint; },
          [](double) { return Type::kDouble; }, [](const std::string&) { return Type::kString; },
          [](const Bytes&) { return Type::kBytes; },
          [](const std::shared_ptr<const ValueList>&) { return Type::kList; },
          [](const Quantity&) { return Type::kQuantity; },
          [](const Semver&) { return Type::kSemver; },
          [](const DeviceRef&) { return Type::kDevice; }, [](const auto&) { return Type::kMap; }},
      value.v);
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kNull:
      return "null_type";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kUint:
      return "uint";
    case Type::kDouble:
      return "double";
    case Type::kString:
      return "string";
    case Type::kBytes:
      return "bytes";
    case Type::kList:
      return "list";
    case Type::kMap:
      return "map";
    case Type::kQuantity:
      return "kubernetes.Quantity";
    case Type::kSemver:
      return "kubernetes.Semver";
    case Type::kDevice:
      return "device";
    case Type::kDyn:
      return "dyn";
  }
  return "unknown";
}

bool is_map_like(const Value& value) { return type_of(value) == Type::kMap; }

bool is_numeric(Type type) {
  return type == Type::kInt || type == Type::kUint || type == Type::kDouble;
}

Value make_list(ValueList items) {
  return Value{std::make_shared<const ValueList>(std::move(items))};
}

Value make_map(ValueMap entries) {
  return Value{std::make_shared<const ValueMap>(std::move(entries))};
}

Result<std::optional<Value>> map_lookup(const Value& map, const Value& key) {
  if (auto m = map.as<std::shared_ptr<const ValueMap>>()) {
    for (const auto& [k, v] : **m) {
      if (values_equal(k, key)) return v;
    }
    return std::nullopt;
  }
  // The device's maps are keyed by strings; another key type is simply absent, as it would
  // be in a map[string]... of cel-go.
  const std::string* name = key.as<std::string>();
  if (auto ref = map.as<AttributeDomainsRef>()) {
    if (!name) return std::nullopt;
    if (!ref->domains) return std::nullopt;
    auto it = ref->domains->find(*name);
    if (it == ref->domains->end()) return std::nullopt;
    return Value{AttributeMapRef{&it->second}};
  }
  if (auto ref = map.as<CapacityDomainsRef>()) {
    if (!name) return std::nullopt;
    if (!ref->domains) return std::nullopt;
    auto it = ref->domains->find(*name);
    if (it == ref->domains->end()) return std::nullopt;
    return Value{CapacityMapRef{&it->second}};
  }
  if (auto ref = map.as<AttributeMapRef>()) {
    if (!name || !ref->map) return std::nullopt;
    auto it = ref->map->find(*name);
    if (it == ref->map->end()) return std::nullopt;
    return from_attribute(it->second);
  }
  if (auto ref = map.as<CapacityMapRef>()) {
    if (!name || !ref->map) return std::nullopt;
    auto it = ref->map->find(*name);
    if (it == ref->map->end()) return std::nullopt;
    return Value{it->second};
  }
  return fail("no such overload: {}[{}]", type_name(map), type_name(key));
}

ValueList map_keys(const Value& map) {
  ValueList keys;
  auto add_keys = [&](const auto* m) {
    if (!m) return;
    for (const auto& entry : *m) keys.push_back(Value{entry.first});
  };
  if (auto m = map.as<std::shared_ptr<const ValueMap>>()) {
    for (const auto& entry : **m) keys.push_back(entry.first);
  } else if (auto r = map.as<AttributeDomainsRef>()) {
    add_keys(r->domains);
  } else if (auto r = map.as<CapacityDomainsRef>()) {
    add_keys(r->domains);
  } else if (auto r = map.as<AttributeMapRef>()) {
    add_keys(r->map);
  } else if (auto r = map.as<CapacityMapRef>()) {
    add_keys(r->map);
  }
  return keys;
}

size_t map_size(const Value& map) {
  auto size_of = [](const auto* m) -> size_t { return m ? m->size() : 0; };
  if (auto m = map.as<std::shared_ptr<const ValueMap>>()) return (*m)->size();
  if (auto r = map.as<AttributeDomainsRef>()) return size_of(r->domains);
  if (auto r = map.as<CapacityDomainsRef>()) return size_of(r->domains);
  if (auto r = map.as<AttributeMapRef>()) return size_of(r->map);
  if (auto r = map.as<CapacityMapRef>()) return size_of(r->map);
  return 0;
}

bool values_equal(const Value& a, const Value& b) {
  if (auto c = compare_numbers(a, b)) return *c == std::partial_ordering::equivalent;
  Type ta = type_of(a), tb = type_of(b);
  if (ta != tb) return false;
  switch (ta) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return *a.as<bool>() == *b.as<bool>();
    case Type::kString:
      return *a.as<std::string>() == *b.as<std::string>();
    case Type::kBytes:
      return a.as<Bytes>()->data == b.as<Bytes>()->data;
    case Type::kQuantity:
      return *a.as<Quantity>() == *b.as<Quantity>();
    case Type::kSemver:
      return *a.as<Semver>() == *b.as<Semver>();
    case Type::kDevice:
      return a.as<DeviceRef>()->device == b.as<DeviceRef>()->device;
    case Type::kList: {
      const auto& x = **a.as<std::shared_ptr<const ValueList>>();
      const auto& y = **b.as<std::shared_ptr<const ValueList>>();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!values_equal(x[i], y[i])) return false;
      }
      return true;
    }
    case Type::kMap: {
      if (map_size(a) != map_size(b)) return false;
      for (const Value& key : map_keys(a)) {
        auto x = map_lookup(a, key);
        auto y = map_lookup(b, key);
        if (!x || !y || !*x || !*y || !values_equal(**x, **y)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

Result<std::partial_ordering> values_compare(const Value& a, const Value& b) {
  if (auto c = compare_numbers(a, b)) return *c;
  Type ta = type_of(a), tb = type_of(b);
  if (ta == tb) {
    if (ta == Type::kString) return *a.as<std::string>() <=> *b.as<std::string>();
    if (ta == Type::kBytes) return a.as<Bytes>()->data <=> b.as<Bytes>()->data;
    if (ta == Type::kBool) return *a.as<bool>() <=> *b.as<bool>();
  }
  return fail("no such overload: {} < {} (compare quantities and versions with compareTo)",
              type_name(ta), type_name(tb));
}

std::string display(const Value& value) {
  return std::visit(Overloaded{[](const Null&) -> std::string { return "null"; },
                               [](bool b) -> std::string { return b ? "true" : "false"; },
                               [](int64_t i) { return std::to_string(i); },
                               [](uint64_t u) { return std::to_string(u) + "u"; },
                               [](double d) { return fmt::format("{}", d); },
                               [](const std::string& s) { return s; },
                               [](const Quantity& q) { return q.to_string(); },
                               [](const Semver& s) { return s.to_string(); },
                               [&](const auto&) { return std::string(type_name(value)); }},
                    value.v);
}

}  // namespace kgai::dra::cel
