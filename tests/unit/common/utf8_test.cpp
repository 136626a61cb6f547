#include "common/utf8.h"

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

}  // namespace
}  // namespace kgai
