// matches() on std::regex (ECMAScript), guarded. CEL specifies RE2, which runs in linear
// time; std::regex backtracks (exponential on nested repetition) and recurses once per
// subject character in libstdc++. The guard keeps it bounded: patterns and subjects have
// size limits, and patterns with a repeated group that itself repeats or alternates
// ("(a+)+", "(a|aa)*") or with backreferences are rejected with an error. Kubernetes
// selectors match short attribute strings (at most 64 characters), far inside the limits.
#pragma once

#include <memory>
#include <regex>
#include <string_view>

#include "common/result.h"

namespace kgai::dra::cel {

inline constexpr size_t kMaxRegexPatternBytes = 256;
inline constexpr size_t kMaxRegexSubjectBytes = 1024;

Result<std::shared_ptr<const std::regex>> compile_regex(std::string_view pattern);
// Unanchored search, as RE2's MatchString in cel-go.
Result<bool> regex_search(const std::regex& regex, std::string_view subject);

}  // namespace kgai::dra::cel
