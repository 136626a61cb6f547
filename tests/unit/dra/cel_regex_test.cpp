#include "dra/cel_regex.h"

#include <gtest/gtest.h>

namespace kgai::dra::cel {
namespace {

bool search(std::string_view pattern, std::string_view subject) {
  auto regex = compile_regex(pattern);
  EXPECT_TRUE(regex.has_value()) << pattern << ": " << regex.error().message;
  return regex && (*regex)->search(subject);
}

TEST(CelRegexTest, MatchesLikeRe2) {
  struct Case {
    std::string_view pattern, subject;
    bool expected;
  };
  for (auto [pattern, subject, expected] : std::initializer_list<Case>{
           {"b", "abc", true},
           {"^b", "abc", false},
           {"c$", "abc", true},
           {"^abc$", "abc", true},
           {"^$", "", true},
           {"", "anything", true},
           {"^H[0-9]+$", "H100", true},
           {"^H[0-9]+$", "H100x", false},
           {"^NVIDIA (A|H)100", "NVIDIA H100 80GB HBM3", true},
           {"a.c", "abc", true},
           {"a.c", "a\nc", false},
           {"^a.c$", "aéc", true},  // '.' is one code point
           {"^.{5}$", "héllo", true},
           {"[^0-9]", "123", false},
           {"[^0-9]", "12a", true},
           {"[a-c]+x", "zzabcx", true},
           {"[]a]", "]", true},
           {"[a-]", "-", true},
           {"\\d+\\.\\d+", "v1.25", true},
           {"\\w+", "___", true},
           {"^\\S+$", "a b", false},
           {"\\D", "123", false},
           {"colou?r", "color", true},
           {"^(ab)*$", "ababab", true},
           {"^(ab)*$", "ababa", false},
           {"^(?:ab|cd){2}$", "abcd", true},
           {"^a{2,3}$", "aaaa", false},
           {"^a{2,}$", "aaaa", true},
           {"^a{2}$", "aa", true},
           {"a{,2}", "a{,2}", true},  // not a repetition: literal braces, as in RE2
           {"^(a*)*$", "aaa", true},
           {"^(a|aa)*$", "aaaa", true},
           {"^a*?b", "aab", true},
           {"\\x41", "A", true},
           {"é", "café", true},
       }) {
    EXPECT_EQ(search(pattern, subject), expected) << pattern << " on '" << subject << "'";
  }
}

TEST(CelRegexTest, PathologicalPatternsRunInLinearTime) {
  // Exponential for a backtracking engine; linear here. A hang would time the test out.
  std::string as(5000, 'a');
  EXPECT_FALSE(search("(a+)+b", as));
  EXPECT_FALSE(search("(a|aa)*c", as));
  EXPECT_FALSE(search("a*a*a*a*a*a*a*b", as));
  EXPECT_TRUE(search("^(a|a)*$", as));
}

TEST(CelRegexTest, RejectsBadOrUnsupportedPatterns) {
  struct Case {
    std::string_view pattern, message;
  };
  for (auto [pattern, message] : std::initializer_list<Case>{
           {"(", "missing ')'"},
           {")", "unmatched ')'"},
           {"[a", "missing ']'"},
           {"*a", "missing argument to repetition operator"},
           {"a**", "bad repetition operator"},
           {"a{3,2}", "bad repetition operator"},
           {"[z-a]", "bad class range"},
           {"\\", "trailing backslash"},
           {"\\1", "escape \\1 is not supported"},
           {"\\bx", "escape \\b is not supported"},
           {"(?i)x", "flags and named groups"},
           {"a{1001}", "limited to 1000"},
           {"(a{1000}){1000}", "too large once compiled"},
       }) {
    auto regex = compile_regex(pattern);
    ASSERT_FALSE(regex.has_value()) << pattern;
    EXPECT_NE(regex.error().message.find(message), std::string::npos)
        << pattern << ": " << regex.error().message;
  }
  std::string deep = std::string(150, '(') + "a" + std::string(150, ')');
  EXPECT_FALSE(compile_regex(deep).has_value());
  EXPECT_FALSE(compile_regex(std::string(2000, 'a')).has_value());
}

}  // namespace
}  // namespace kgai::dra::cel
