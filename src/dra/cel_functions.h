// CEL's functions for DRA selectors: strings, conversions, Kubernetes' quantity and semver
// libraries. One table tells the checker which names exist and what they return; the
// evaluator calls them through call_function().
#pragma once

#include <span>
#include <string_view>

#include "common/result.h"
#include "dra/cel_ast.h"

namespace kgai::dra::cel {

// The runtime cost counter: 1 per node evaluated, plus the sizes of strings and lists that
// an operation walks.
class CostMeter {
 public:
  explicit CostMeter(uint64_t limit) : limit_(limit) {}
  Result<void> charge(uint64_t amount) {
    used_ += amount;
    if (used_ > limit_) {
      exceeded_ = true;
      return fail("operation cancelled: actual cost limit exceeded");
    }
    return {};
  }
  bool exceeded() const { return exceeded_; }
  uint64_t used() const { return used_; }

 private:
  uint64_t limit_;
  uint64_t used_ = 0;
  bool exceeded_ = false;
};

struct FunctionInfo {
  std::string_view name;
  int receiver_args;  // arguments besides the receiver in x.f(...); -1: not a method
  int global_args;    // arguments of f(...); -1: not a global function
  Type result;
};

const FunctionInfo* find_function(std::string_view name);

// `receiver` is null for a global call. `call.regex` holds a precompiled pattern for
// matches() with a literal pattern.
Result<Value> call_function(const Node& call, const Value* receiver, std::span<const Value> args,
                            CostMeter& cost);

}  // namespace kgai::dra::cel
