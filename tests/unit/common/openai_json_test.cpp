#include "common/openai_json.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai {
namespace {

using ::testing::HasSubstr;

// Each case goes through the on-demand fast path or, for anything unusual, the DOM path; the
// answers must be the same either way, so the cases cover both.
ChunkFields chunk(std::string_view json) {
  OpenAiJson parser;
  ChunkFields out;
  std::string error;
  EXPECT_TRUE(parser.parse_chunk(json, &out, &error)) << json << ": " << error;
  return out;
}

BodyFields body(std::string_view json) {
  OpenAiJson parser;
  BodyFields out;
  std::string error;
  EXPECT_TRUE(parser.parse_body(json, &out, &error)) << json << ": " << error;
  return out;
}

std::string chunk_error(std::string_view json) {
  OpenAiJson parser;
  ChunkFields out;
  std::string error;
  EXPECT_FALSE(parser.parse_chunk(json, &out, &error)) << json;
  return error;
}

TEST(OpenAiJsonChunk, CompletionText) {
  EXPECT_TRUE(
      chunk(R"({"id":"c","choices":[{"index":0,"text":" tok","finish_reason":null}]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":[{"index":0,"text":""}]})").has_text);
  // "text" wins over delta, even when empty, and whatever the key order.
  EXPECT_FALSE(chunk(R"({"choices":[{"delta":{"content":"x"},"text":""}]})").has_text);
  EXPECT_TRUE(chunk(R"({"choices":[{"text":null,"delta":{"content":"x"}}]})").has_text);
}

TEST(OpenAiJsonChunk, ChatDelta) {
  EXPECT_TRUE(chunk(R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":[{"index":0,"delta":{"role":"assistant"}}]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":[{"index":0,"delta":{"content":null}}]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":[{"index":0,"delta":"content"}]})").has_text);
}

TEST(OpenAiJsonChunk, OnlyTheFirstChoiceCounts) {
  EXPECT_FALSE(chunk(R"({"choices":[{"text":""},{"text":"x"}]})").has_text);
  EXPECT_TRUE(chunk(R"({"choices":[{"text":"x"},{"text":""},[1,{"a":[]}]]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":[]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":["text"]})").has_text);
  EXPECT_FALSE(chunk(R"({"choices":{"text":"x"}})").has_text);
}

TEST(OpenAiJsonChunk, Usage) {
  const auto c =
      chunk(R"({"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16,)"
            R"("prompt_tokens_details":{"cached_tokens":3}}})");
  EXPECT_FALSE(c.has_text);
  EXPECT_TRUE(c.usage.reported);
  EXPECT_EQ(c.usage.prompt_tokens, 11);
  EXPECT_EQ(c.usage.completion_tokens, 5);
  EXPECT_EQ(c.usage.cached_tokens, 3);

  EXPECT_FALSE(chunk(R"({"choices":[{"text":"a"}],"usage":null})").usage.reported);
  EXPECT_FALSE(chunk(R"({"choices":[{"text":"a"}]})").usage.reported);
  const auto details_null =
      chunk(R"({"usage":{"prompt_tokens_details":null,"completion_tokens":2,"prompt_tokens":1}})");
  EXPECT_TRUE(details_null.usage.reported);
  EXPECT_EQ(details_null.usage.prompt_tokens, 1);
  EXPECT_EQ(details_null.usage.completion_tokens, 2);
  EXPECT_EQ(details_null.usage.cached_tokens, 0);
  // Counts that are not integers read as 0 (the DOM path's answer).
  const auto odd = chunk(R"({"usage":{"prompt_tokens":1.5,"completion_tokens":"7"}})");
  EXPECT_TRUE(odd.usage.reported);
  EXPECT_EQ(odd.usage.prompt_tokens, 0);
  EXPECT_EQ(odd.usage.completion_tokens, 0);
}

TEST(OpenAiJsonChunk, ErrorEvents) {
  const auto a = chunk(R"({"error":{"message":"engine died","code":500}})");
  EXPECT_TRUE(a.is_error);
  EXPECT_EQ(a.error_message, "engine died");
  const auto b = chunk(R"({"error":"overloaded"})");
  EXPECT_TRUE(b.is_error);
  EXPECT_EQ(b.error_message, "overloaded");
  EXPECT_FALSE(chunk(R"({"error":null,"choices":[{"text":"x"}]})").is_error);
  EXPECT_TRUE(chunk(R"({"error":null,"choices":[{"text":"x"}]})").has_text);
}

TEST(OpenAiJsonChunk, MalformedIsAnError) {
  EXPECT_THAT(chunk_error("hello"), HasSubstr("not JSON"));
  EXPECT_THAT(chunk_error(R"({"choices":[{"text":"a"}])"), HasSubstr("not JSON"));
  EXPECT_THAT(chunk_error(R"({"choices":[{"text":"a"}]}})"), HasSubstr("not JSON"));
  EXPECT_THAT(chunk_error(R"({"choices":[{"text":"a"}]} {"usage":{}})"), HasSubstr("not JSON"));
  EXPECT_THAT(chunk_error(R"({"choices":[{"text":"unterminated}]})"), HasSubstr("not JSON"));
  EXPECT_THAT(chunk_error("{\"choices\":[{\"text\":\"bad \xff utf8\"}]}"), HasSubstr("not JSON"));
}

TEST(OpenAiJsonChunk, NotAnObjectHasNothing) {
  const auto c = chunk(R"(["text"])");
  EXPECT_FALSE(c.has_text);
  EXPECT_FALSE(c.is_error);
  EXPECT_FALSE(c.usage.reported);
}

TEST(OpenAiJsonBody, TextBytesAndUsage) {
  const auto b =
      body(R"({"id":"cmpl-fixed","object":"text_completion","created":0,"model":"m","choices":)"
           R"([{"index":0,"text":" tok tok","logprobs":null,"finish_reason":"length"}],"usage":)"
           R"({"prompt_tokens":16,"total_tokens":32,"completion_tokens":16}})");
  EXPECT_EQ(b.text_bytes, 8u);
  EXPECT_TRUE(b.usage.reported);
  EXPECT_EQ(b.usage.prompt_tokens, 16);
  EXPECT_EQ(b.usage.completion_tokens, 16);
}

TEST(OpenAiJsonBody, ChatMessageAndEscapes) {
  // Bytes of the text as decoded: "\u00e9" is two bytes of UTF-8, "\n" one.
  EXPECT_EQ(
      body(R"({"choices":[{"message":{"role":"assistant","content":"caf\u00e9\n"}}]})").text_bytes,
      6u);
  EXPECT_EQ(body(R"({"choices":[{"message":{"content":null}}]})").text_bytes, 0u);
  EXPECT_EQ(body(R"({"usage":{"completion_tokens":3},"choices":[{"text":"abc"}]})").text_bytes, 3u);
  EXPECT_EQ(body("{}").text_bytes, 0u);
}

TEST(OpenAiJsonBody, ReusedParserKeepsNoState) {
  OpenAiJson parser;
  BodyFields out;
  std::string error;
  ASSERT_TRUE(parser.parse_body(R"({"choices":[{"text":"abcdef"}],"usage":{"prompt_tokens":2}})",
                                &out, &error));
  EXPECT_EQ(out.text_bytes, 6u);
  ASSERT_TRUE(parser.parse_body(R"({"choices":[{"text":"a"}]})", &out, &error));
  EXPECT_EQ(out.text_bytes, 1u);
  EXPECT_FALSE(out.usage.reported);
  EXPECT_FALSE(parser.parse_body(R"({"choices":)", &out, &error));
  EXPECT_THAT(error, HasSubstr("response body is not JSON"));
}

}  // namespace
}  // namespace kgai
