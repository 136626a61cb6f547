// CEL (Common Expression Language) for DRA device selectors: the subset Kubernetes uses,
// compiled once per DeviceClass or request selector and evaluated against each device.
// No CEL library is packaged for Debian, hence this interpreter.
//
// Semantics worth knowing (they follow cel-go as Kubernetes configures it):
// - `==` and `!=` across different types are a compile error when both types are known
//   (`device.driver == 1`); on attribute values, whose types are only known per device, they
//   are false, as CEL's heterogeneous equality says. int, uint and double compare by value.
// - `<` `<=` `>` `>=` work on numbers (across int, uint, double), strings, bytes and bools;
//   other types, quantities and versions included, are errors (use compareTo()).
// - matches() uses RE2's syntax subset in a linear-time engine (see cel_regex.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"
#include "dra/quantity.h"
#include "dra/semver.h"

namespace kgai::dra::cel {

// A device attribute's value: int, bool, string or version.
using AttributeValue = std::variant<int64_t, bool, std::string, Semver>;

// What an expression sees as `device`. Attribute and capacity names are split at the '/'
// of their qualified name: "gpu.nvidia.com/productName" is domain "gpu.nvidia.com", id
// "productName"; a name without a domain was already put under the driver's domain.
struct DeviceView {
  std::string_view driver;
  const std::map<std::string, std::map<std::string, AttributeValue, std::less<>>, std::less<>>*
      attributes = nullptr;
  const std::map<std::string, std::map<std::string, Quantity, std::less<>>, std::less<>>* capacity =
      nullptr;
  bool allow_multiple_allocations = false;
};

struct Limits {
  size_t max_expression_bytes = 10 * 1024;  // Kubernetes: 10 KiB per selector
  uint64_t max_cost = 1'000'000;            // Kubernetes' per-expression cost limit
  // Nesting of the expression (parentheses, calls, operators); bounds the interpreter's
  // recursion so that no input can overflow the stack.
  int max_nesting_depth = 100;
};

// A compiled expression. Thread-safe to evaluate concurrently.
class Program {
 public:
  ~Program();
  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;

  // true or false; an error for a runtime failure (no such key, type mismatch, division by
  // zero, overflow, cost limit), worded like cel-go's ("no such key: model").
  Result<bool> evaluate(const DeviceView& device) const;
  const std::string& source() const;

 private:
  friend Result<Program> compile(std::string_view, const Limits&);
  struct Impl;
  explicit Program(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses and checks an expression. Errors point at the column: "1:17: Syntax error: ..."
// (line:column, 1-based), or say the expression is empty, too long, or cannot yield bool
// (when that is known without a device, e.g. `device.driver`).
Result<Program> compile(std::string_view expression, const Limits& limits = {});

}  // namespace kgai::dra::cel
