// matches(): a small regular-expression engine with RE2's syntax subset and RE2's
// guarantee, time linear in the subject (a Pike VM over a compiled program). std::regex
// was not used: it backtracks (exponential on "(a+)+$"), and libstdc++'s recurses once
// per subject character, so a selector could hang or overflow the stack.
//
// Supported: literals, '.', [classes] with ranges and negation, \d \w \s \D \W \S, escaped
// punctuation, \n \t \r \f \v \xHH, ^ $ (whole text), groups (...) and (?:...), '|', and
// the repetitions * + ? {n} {n,} {n,m} (lazy forms too; laziness does not change whether a
// match exists). Matching is by code point. Anything else (\b, (?i), backreferences,
// \p{...}) is an error that names the construct.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kgai::dra::cel {

inline constexpr size_t kMaxRegexPatternBytes = 1024;
inline constexpr size_t kMaxRegexProgramSize = 20'000;  // instructions, after {n,m} copies

class Regex {
 public:
  struct Range {
    uint32_t lo, hi;
  };
  enum class OpCode : uint8_t { kClass, kAny, kSplit, kJump, kBegin, kEnd, kMatch };
  struct Instruction {
    OpCode op;
    bool negate = false;
    uint32_t x = 0, y = 0;  // jump targets
    std::vector<Range> ranges;
  };

  explicit Regex(std::vector<Instruction> program) : program_(std::move(program)) {}
  // Unanchored search, as RE2's MatchString in cel-go.
  bool search(std::string_view subject) const;
  size_t program_size() const { return program_.size(); }

 private:
  std::vector<Instruction> program_;
};

Result<std::shared_ptr<const Regex>> compile_regex(std::string_view pattern);

}  // namespace kgai::dra::cel
