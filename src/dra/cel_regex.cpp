#include "dra/cel_regex.h"

#include <optional>
#include <vector>

namespace kgai::dra::cel {
namespace {

bool is_quantifier_start(char c) { return c == '*' || c == '+' || c == '?' || c == '{'; }

// Returns an explanation when the pattern could make the backtracking engine blow up.
std::optional<std::string_view> risky_pattern(std::string_view pattern) {
  struct Group {
    bool repeats_inside = false;
  };
  std::vector<Group> groups;
  bool last_group_repeats_inside = false;  // of the group that just closed
  bool after_group = false;
  int quantifiers = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    bool closed_group = false;
    if (c == '\\') {
      if (i + 1 < pattern.size() && pattern[i + 1] >= '1' && pattern[i + 1] <= '9') {
        return "backreferences are not supported";
      }
      ++i;
    } else if (c == '[') {
      // Skip the character class; a ']' right after '[' or '[^' is literal.
      size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '(') {
      groups.push_back({});
    } else if (c == ')') {
      if (!groups.empty()) {
        last_group_repeats_inside = groups.back().repeats_inside;
        groups.pop_back();
        // What repeats inside a group also repeats inside its parent.
        if (!groups.empty() && last_group_repeats_inside) groups.back().repeats_inside = true;
        closed_group = true;
      }
    } else if (c == '|') {
      if (!groups.empty()) groups.back().repeats_inside = true;
    } else if (is_quantifier_start(c)) {
      ++quantifiers;
      if (after_group && last_group_repeats_inside) {
        return "a repeated group must not itself contain repetition or alternation";
      }
      if (!groups.empty()) groups.back().repeats_inside = true;
      if (c == '{') {
        size_t close = pattern.find('}', i);
        if (close != std::string_view::npos) {
          std::string_view bounds = pattern.substr(i + 1, close - i - 1);
          for (size_t k = 0; k < bounds.size();) {
            size_t end = bounds.find(',', k);
            std::string_view number =
                bounds.substr(k, end == std::string_view::npos ? end : end - k);
            if (number.size() > 3) return "repetition counts are limited to 999";
            if (end == std::string_view::npos) break;
            k = end + 1;
          }
        }
      }
    }
    after_group = closed_group;
  }
  if (quantifiers > 16) return "too many repetition operators (limit 16)";
  return std::nullopt;
}

}  // namespace

Result<std::shared_ptr<const std::regex>> compile_regex(std::string_view pattern) {
  if (pattern.size() > kMaxRegexPatternBytes) {
    return fail("matches: pattern is {} bytes, the limit is {}", pattern.size(),
                kMaxRegexPatternBytes);
  }
  if (auto why = risky_pattern(pattern)) {
    return fail("matches: unsupported pattern '{}': {}", pattern, *why);
  }
  try {
    return std::make_shared<const std::regex>(pattern.begin(), pattern.end(),
                                              std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return fail("matches: invalid pattern '{}': {}", pattern, e.what());
  }
}

Result<bool> regex_search(const std::regex& regex, std::string_view subject) {
  if (subject.size() > kMaxRegexSubjectBytes) {
    return fail("matches: string is {} bytes, the limit is {}", subject.size(),
                kMaxRegexSubjectBytes);
  }
  try {
    return std::regex_search(subject.begin(), subject.end(), regex);
  } catch (const std::regex_error& e) {
    return fail("matches: {}", e.what());
  }
}

}  // namespace kgai::dra::cel
