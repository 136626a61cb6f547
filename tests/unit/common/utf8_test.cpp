#include "common/utf8.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/json_string.h"

namespace kgai {
namespace {

TEST(Utf8, ValidTextIsKept) {
  for (std::string_view ok : {"", "plain", "modèle", "日本語", "\xF0\x9F\x98\x80", "a\0b"}) {
    EXPECT_TRUE(is_valid_utf8(ok)) << ok;
    EXPECT_EQ(repair_utf8(ok), ok);
  }
}

TEST(Utf8, IllFormedSequencesBecomeOneReplacementEach) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_EQ(repair_utf8("a\xff"
                        "b"),
            "a" + fffd + "b");
  EXPECT_EQ(repair_utf8("\xC0\xAF"), fffd + fffd);                        // overlong '/'
  EXPECT_EQ(repair_utf8("\xED\xA0\x80"), fffd + fffd + fffd);             // a surrogate
  EXPECT_EQ(repair_utf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(repair_utf8("\xE6\x97"), fffd);                               // truncated at the end
  EXPECT_EQ(repair_utf8("\xE6\x97x"), fffd + "x");
  for (int b = 0; b < 256; ++b) {
    const std::string text = "x" + std::string(1, static_cast<char>(b)) + "\xE6";
    EXPECT_TRUE(is_valid_utf8(repair_utf8(text))) << b;
  }
}

TEST(Utf8, PrefixCutsAtCharacterBoundaries) {
  EXPECT_EQ(utf8_prefix("abc", 5), "abc");
  EXPECT_EQ(utf8_prefix("abc", 2), "ab");
  EXPECT_EQ(utf8_prefix("a日", 2), "a");
  EXPECT_EQ(utf8_prefix("a日", 3), "a");
  EXPECT_EQ(utf8_prefix("a日", 4), "a日");
}

TEST(JsonString, AnyBytesGiveJsonThatStrictParsersRead) {
  for (std::string_view text : {std::string_view("plain"), std::string_view("q\"b\\s/\n\r\t"),
                                std::string_view("\x01\x1f\x7f"), std::string_view("\xff\xfe"),
                                std::string_view("a\0b", 3), std::string_view("日本")}) {
    const std::string literal = json_string(text);
    auto parsed = nlohmann::json::parse(literal, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << literal;
    ASSERT_TRUE(parsed.is_string());
    EXPECT_EQ(parsed.get<std::string>(), repair_utf8(text));
  }
}

TEST(AppendJsonString, EscapesExactlyWhatJsonRequires) {
  auto escaped = [](std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
  };
  EXPECT_EQ(escaped(""), R"("")");
  EXPECT_EQ(escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(escaped("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(escaped(std::string("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(escaped("\x7f/\xc3\xa9"), "\"\x7f/\xc3\xa9\"");
  // An escape in every position of an eight-byte word, and after it.
  for (size_t i = 0; i < 17; ++i) {
    std::string s(17, 'a');
    s[i] = '"';
    std::string want = "\"" + std::string(i, 'a') + "\\\"" + std::string(16 - i, 'a') + "\"";
    EXPECT_EQ(escaped(s), want) << i;
  }
}

// Random mixes of plain text, bytes to escape and UTF-8 at every offset and length, read back.
TEST(AppendJsonString, RoundTripsRandomText) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> pieces = {"a",
                                           "b c",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\x01",
                                           "\x1f",
                                           "\x7f",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           "plain words"};
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    const size_t n = rng() % 24;
    for (size_t k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    std::string out = "[";
    append_json_string(out, text);
    out += "]";
    ASSERT_EQ(nlohmann::json::parse(out)[0].get<std::string>(), text) << out;
  }
}

TEST(AppendJsonEscaped, NoQuotesAndRepairedUtf8) {
  std::string out = "x";
  append_json_escaped(out, "a\"\xff");
  EXPECT_EQ(out, "xa\\\"\xEF\xBF\xBD");
}

}  // namespace
}  // namespace kgai
