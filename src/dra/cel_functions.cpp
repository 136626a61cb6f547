#include "dra/cel_functions.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "dra/cel_regex.h"

namespace kgai::dra::cel {
namespace {

constexpr std::array<FunctionInfo, 29> kFunctions = {{
    {"size", 0, 1, Type::kInt},
    {"contains", 1, -1, Type::kBool},
    {"startsWith", 1, -1, Type::kBool},
    {"endsWith", 1, -1, Type::kBool},
    {"matches", 1, 2, Type::kBool},
    {"lowerAscii", 0, -1, Type::kString},
    {"upperAscii", 0, -1, Type::kString},
    {"int", -1, 1, Type::kInt},
    {"uint", -1, 1, Type::kUint},
    {"double", -1, 1, Type::kDouble},
    {"string", -1, 1, Type::kString},
    {"bool", -1, 1, Type::kBool},
    {"bytes", -1, 1, Type::kBytes},
    {"quantity", -1, 1, Type::kQuantity},
    {"isQuantity", -1, 1, Type::kBool},
    {"semver", -1, 1, Type::kSemver},
    {"isSemver", -1, 1, Type::kBool},
    {"compareTo", 1, -1, Type::kInt},
    {"isGreaterThan", 1, -1, Type::kBool},
    {"isLessThan", 1, -1, Type::kBool},
    {"sign", 0, -1, Type::kInt},
    {"add", 1, -1, Type::kQuantity},
    {"sub", 1, -1, Type::kQuantity},
    {"asInteger", 0, -1, Type::kInt},
    {"isInteger", 0, -1, Type::kBool},
    {"asApproximateFloat", 0, -1, Type::kDouble},
    {"major", 0, -1, Type::kInt},
    {"minor", 0, -1, Type::kInt},
    {"patch", 0, -1, Type::kInt},
}};

std::unexpected<Error> no_overload(std::string_view name, const Value* receiver,
                                   std::span<const Value> args) {
  std::string types;
  for (const Value& arg : args) {
    if (!types.empty()) types += ", ";
    types += type_name(arg);
  }
  if (receiver) return fail("no such overload: {}.{}({})", type_name(*receiver), name, types);
  return fail("no such overload: {}({})", name, types);
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

Value int_value(int64_t v) { return Value{v}; }

// std::expected::transform is missing from g++ 12's library.
template <typename T>
Result<Value> to_value(Result<T> result) {
  if (!result) return fail(std::move(result.error()));
  return Value{std::move(*result)};
}

Result<int64_t> to_int64(uint64_t v) {
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return fail("integer overflow: {} does not fit an int", v);
  }
  return static_cast<int64_t>(v);
}

Result<Value> convert(std::string_view name, const Value& x) {
  if (name == "int") {
    if (x.as<int64_t>()) return x;
    if (auto u = x.as<uint64_t>()) {
      auto i = to_int64(*u);
      if (!i) return fail(i.error());
      return Value{*i};
    }
    if (auto d = x.as<double>()) {
      // 2^63 is exactly representable; anything at or beyond it does not fit.
      if (!std::isfinite(*d) || *d < -9223372036854775808.0 || *d >= 9223372036854775808.0) {
        return fail("range error converting {} to int", *d);
      }
      return Value{static_cast<int64_t>(*d)};
    }
    if (auto s = x.as<std::string>()) {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
      if (ec != std::errc{} || end != s->data() + s->size()) {
        return fail("cannot convert string '{}' to int", *s);
      }
      return Value{v};
    }
  } else if (name == "uint") {
    if (x.as<uint64_t>()) return x;
    if (auto i = x.as<int64_t>()) {
      if (*i < 0) return fail("range error converting {} to uint", *i);
      return Value{static_cast<uint64_t>(*i)};
    }
    if (auto d = x.as<double>()) {
      if (!std::isfinite(*d) || *d <= -1.0 || *d >= 18446744073709551616.0) {
        return fail("range error converting {} to uint", *d);
      }
      return Value{static_cast<uint64_t>(*d)};
    }
    if (auto s = x.as<std::string>()) {
      uint64_t v = 0;
      auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
      if (ec != std::errc{} || end != s->data() + s->size()) {
        return fail("cannot convert string '{}' to uint", *s);
      }
      return Value{v};
    }
  } else if (name == "double") {
    if (x.as<double>()) return x;
    if (auto i = x.as<int64_t>()) return Value{static_cast<double>(*i)};
    if (auto u = x.as<uint64_t>()) return Value{static_cast<double>(*u)};
    if (auto s = x.as<std::string>()) {
      double v = 0;
      auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
      if (ec != std::errc{} || end != s->data() + s->size()) {
        return fail("cannot convert string '{}' to double", *s);
      }
      return Value{v};
    }
  } else if (name == "string") {
    if (x.as<std::string>()) return x;
    if (auto i = x.as<int64_t>()) return Value{std::to_string(*i)};
    if (auto u = x.as<uint64_t>()) return Value{std::to_string(*u)};
    if (auto d = x.as<double>()) return Value{fmt::format("{}", *d)};
    if (auto b = x.as<bool>()) return Value{std::string(*b ? "true" : "false")};
    if (auto b = x.as<Bytes>()) {
      if (!valid_utf8(b->data)) return fail("invalid UTF-8 in bytes, cannot convert to string");
      return Value{b->data};
    }
  } else if (name == "bool") {
    if (x.as<bool>()) return x;
    if (auto s = x.as<std::string>()) {
      for (std::string_view t : {"1", "t", "true", "TRUE", "True"}) {
        if (*s == t) return Value{true};
      }
      for (std::string_view f : {"0", "f", "false", "FALSE", "False"}) {
        if (*s == f) return Value{false};
      }
      return fail("cannot convert string '{}' to bool", *s);
    }
  } else if (name == "bytes") {
    if (x.as<Bytes>()) return x;
    if (auto s = x.as<std::string>()) return Value{Bytes{*s}};
  }
  return no_overload(name, nullptr, std::span<const Value>(&x, 1));
}

Result<Value> string_method(const Node& call, const std::string& s, std::span<const Value> args,
                            CostMeter& cost) {
  std::string_view name = call.name;
  if (auto charged = cost.charge(s.size()); !charged) return fail(charged.error());
  if (name == "lowerAscii" || name == "upperAscii") {
    std::string out = s;
    for (char& c : out) {
      if (name == "lowerAscii" && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (name == "upperAscii" && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return Value{std::move(out)};
  }
  const std::string* arg = args.size() == 1 ? args[0].as<std::string>() : nullptr;
  if (!arg)
    return fail("no such overload: string.{}({})", name, args.empty() ? "" : type_name(args[0]));
  if (auto charged = cost.charge(arg->size()); !charged) return fail(charged.error());
  if (name == "contains") return Value{s.find(*arg) != std::string::npos};
  if (name == "startsWith") return Value{s.starts_with(*arg)};
  if (name == "endsWith") return Value{s.ends_with(*arg)};
  if (name == "matches") {
    // The engine is linear: charge the subject once per instruction of the program.
    if (call.regex) {
      if (auto charged = cost.charge(s.size() * call.regex->program_size() / 8); !charged) {
        return fail(charged.error());
      }
      return Value{call.regex->search(s)};
    }
    auto regex = compile_regex(*arg);
    if (!regex) return fail(regex.error());
    if (auto charged = cost.charge((s.size() + 8) * (*regex)->program_size() / 8); !charged) {
      return fail(charged.error());
    }
    return Value{(*regex)->search(s)};
  }
  return fail("no such overload: string.{}", name);
}

Result<Quantity> quantity_operand(const Value& v, std::string_view name) {
  if (auto q = v.as<Quantity>()) return *q;
  if (auto i = v.as<int64_t>()) return Quantity::from_int(*i);
  return fail("no such overload: kubernetes.Quantity.{}({})", name, type_name(v));
}

Result<Value> quantity_method(std::string_view name, const Quantity& q,
                              std::span<const Value> args) {
  if (name == "sign") return int_value(q.sign());
  if (name == "isInteger") return Value{q.is_integer()};
  if (name == "asInteger") return to_value(q.as_integer());
  if (name == "asApproximateFloat") return Value{q.as_approximate_float()};
  if (args.size() != 1) return no_overload(name, nullptr, args);
  if (name == "add" || name == "sub") {
    auto other = quantity_operand(args[0], name);
    if (!other) return fail(other.error());
    auto result = name == "add" ? q.add(*other) : q.sub(*other);
    if (!result) return fail(result.error());
    return Value{*result};
  }
  const Quantity* other = args[0].as<Quantity>();
  if (!other) return fail("no such overload: kubernetes.Quantity.{}({})", name, type_name(args[0]));
  if (name == "compareTo") return int_value(q.compare(*other));
  if (name == "isGreaterThan") return Value{q.compare(*other) > 0};
  if (name == "isLessThan") return Value{q.compare(*other) < 0};
  return fail("no such overload: kubernetes.Quantity.{}", name);
}

Result<Value> semver_method(std::string_view name, const Semver& v, std::span<const Value> args) {
  auto component = [](uint64_t n) { return to_value(to_int64(n)); };
  if (name == "major") return component(v.major);
  if (name == "minor") return component(v.minor);
  if (name == "patch") return component(v.patch);
  const Semver* other = args.size() == 1 ? args[0].as<Semver>() : nullptr;
  if (!other) {
    return fail("no such overload: kubernetes.Semver.{}({})", name,
                args.empty() ? "" : type_name(args[0]));
  }
  if (name == "compareTo") return int_value(v.compare(*other));
  if (name == "isGreaterThan") return Value{v.compare(*other) > 0};
  if (name == "isLessThan") return Value{v.compare(*other) < 0};
  return fail("no such overload: kubernetes.Semver.{}", name);
}

Result<Value> size_of(const Value& x) {
  if (auto s = x.as<std::string>()) return int_value(static_cast<int64_t>(code_points(*s)));
  if (auto b = x.as<Bytes>()) return int_value(static_cast<int64_t>(b->data.size()));
  if (auto l = x.as<std::shared_ptr<const ValueList>>()) {
    return int_value(static_cast<int64_t>((*l)->size()));
  }
  if (is_map_like(x)) return int_value(static_cast<int64_t>(map_size(x)));
  return no_overload("size", nullptr, std::span<const Value>(&x, 1));
}

}  // namespace

const FunctionInfo* find_function(std::string_view name) {
  for (const FunctionInfo& f : kFunctions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Result<Value> call_function(const Node& call, const Value* receiver, std::span<const Value> args,
                            CostMeter& cost) {
  std::string_view name = call.name;
  if (!receiver) {
    if (name == "size" && args.size() == 1) return size_of(args[0]);
    if (name == "matches" && args.size() == 2) {
      auto s = args[0].as<std::string>();
      if (!s) return no_overload(name, nullptr, args);
      return string_method(call, *s, args.subspan(1), cost);
    }
    if (args.size() != 1) return no_overload(name, nullptr, args);
    if (name == "quantity" || name == "isQuantity" || name == "semver" || name == "isSemver") {
      const std::string* s = args[0].as<std::string>();
      if (!s) return no_overload(name, nullptr, args);
      if (name == "quantity") return to_value(Quantity::parse(*s));
      if (name == "isQuantity") return Value{Quantity::parse(*s).has_value()};
      if (name == "semver") return to_value(Semver::parse(*s));
      return Value{Semver::parse(*s).has_value()};
    }
    return convert(name, args[0]);
  }
  if (name == "size" && args.empty()) return size_of(*receiver);
  if (auto s = receiver->as<std::string>()) return string_method(call, *s, args, cost);
  if (auto q = receiver->as<Quantity>()) return quantity_method(name, *q, args);
  if (auto v = receiver->as<Semver>()) return semver_method(name, *v, args);
  return no_overload(name, receiver, args);
}

}  // namespace kgai::dra::cel
