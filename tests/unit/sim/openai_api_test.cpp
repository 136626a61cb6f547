#include "sim/openai_api.h"

#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/tokenizer.h"

namespace kgai::sim {
namespace {

TEST(ParseCompletion, ReadsTheFieldsThatMatter) {
  auto r = parse_completion_request(
      R"({"model":"m","prompt":"Hello there","max_tokens":12,"stream":true,
          "stream_options":{"include_usage":true},"ignore_eos":true,"temperature":0.7,
          "stop":["x"],"n":1})",
      false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt_text, "Hello there");
  EXPECT_EQ(r->max_tokens, 12);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->ignore_eos);
}

TEST(ParseCompletion, DefaultsAndNulls) {
  auto r = parse_completion_request(
      R"({"prompt":"x","max_tokens":null,"stream":null,"stream_options":null})", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "");
  EXPECT_FALSE(r->max_tokens);
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->include_usage);
}

TEST(ParseCompletion, AcceptsPromptListsAndTokenIds) {
  auto one = parse_completion_request(R"({"prompt":["only one"]})", false);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->prompt_text, "only one");
  auto ids = parse_completion_request(R"({"prompt":[1,2,3,70000]})", false);
  ASSERT_TRUE(ids);
  EXPECT_EQ(count_tokens(ids->prompt_text), 4);
  auto nested = parse_completion_request(R"({"prompt":[[5,6]]})", false);
  ASSERT_TRUE(nested);
  EXPECT_EQ(count_tokens(nested->prompt_text), 2);
  // Equal id prefixes give equal text prefixes, hence shared blocks.
  auto longer = parse_completion_request(R"({"prompt":[1,2,3,70000,9]})", false);
  EXPECT_EQ(longer->prompt_text.substr(0, 16), ids->prompt_text);
}

TEST(ParseChat, RendersMessagesThroughATemplate) {
  auto r = parse_completion_request(
      R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
          {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"!"}]}],
          "max_completion_tokens":3})",
      true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->prompt_text, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi!<|end|>\n<|assistant|>\n");
  EXPECT_EQ(r->max_tokens, 3);
}

TEST(ParseChat, SharedSystemPromptIsASharedPrefix) {
  const std::string system(500, 's');
  auto a = parse_completion_request(R"({"messages":[{"role":"system","content":")" + system +
                                        R"("},{"role":"user","content":"question one"}]})",
                                    true);
  auto b = parse_completion_request(R"({"messages":[{"role":"system","content":")" + system +
                                        R"("},{"role":"user","content":"another question"}]})",
                                    true);
  ASSERT_TRUE(a && b);
  auto ta = tokenize(a->prompt_text, 16);
  auto tb = tokenize(b->prompt_text, 16);
  ASSERT_GE(ta.block_hashes.size(), 7u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(ta.block_hashes[i], tb.block_hashes[i]);
}

struct BadCase {
  const char* body;
  bool chat;
  const char* message_part;
  const char* param;
};

TEST(ParseCompletion, RejectsBadBodiesWithAClearMessage) {
  const BadCase cases[] = {
      {"", false, "invalid JSON", ""},
      {"{", false, "invalid JSON", ""},
      {R"({"prompt": "abc")", false, "invalid JSON", ""},
      {R"({"prompt": "abc"} trailing)", false, "invalid JSON", ""},
      {"[1,2]", false, "must be a JSON object", ""},
      {R"({"model":"m"})", false, "'prompt' is required", "prompt"},
      {R"({"messages":[{"role":"user","content":"x"}]})", false, "'prompt' is required", "prompt"},
      {R"({"prompt":"x"})", true, "'messages' is required", "messages"},
      {R"({"prompt":42})", false, "must be a string or an array", "prompt"},
      {R"({"prompt":""})", false, "must not be empty", "prompt"},
      {R"({"prompt":[]})", false, "must not be empty", "prompt"},
      {R"({"prompt":["a","b"]})", false, "batched prompts", "prompt"},
      {R"({"prompt":[1,"b"]})", false, "integers", "prompt"},
      {R"({"prompt":[-1]})", false, "out of range", "prompt"},
      {R"({"prompt":[true]})", false, "strings or token ids", "prompt"},
      {R"({"prompt":"x","max_tokens":"5"})", false, "'max_tokens' must be an integer",
       "max_tokens"},
      {R"({"prompt":"x","max_tokens":1.5})", false, "'max_tokens' must be an integer",
       "max_tokens"},
      {R"({"prompt":"x","max_tokens":0})", false, "at least 1", "max_tokens"},
      {R"({"prompt":"x","stream":"yes"})", false, "'stream' must be a boolean", "stream"},
      {R"({"prompt":"x","model":7})", false, "'model' must be a string", "model"},
      {R"({"prompt":"x","n":2})", false, "n = 1", "n"},
      {R"({"prompt":"x","stream_options":[]})", false, "must be an object", "stream_options"},
      {R"({"prompt":"x","stream_options":{"include_usage":1}})", false, "include_usage",
       "stream_options"},
      {R"({"messages":{}})", true, "must be an array", "messages"},
      {R"({"messages":[]})", true, "must not be empty", "messages"},
      {R"({"messages":["hi"]})", true, "must be an object", "messages"},
      {R"({"messages":[{"content":"hi"}]})", true, "no 'role'", "messages"},
      {R"({"messages":[{"role":5,"content":"hi"}]})", true, "role must be a string", "messages"},
      {R"({"messages":[{"role":"user","content":5}]})", true, "content must be a string",
       "messages"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})", true,
       "'text' must be a string", "messages"},
  };
  for (const auto& c : cases) {
    auto r = parse_completion_request(c.body, c.chat);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
        << c.body << " -> " << r.error().message;
    EXPECT_EQ(r.error().param, c.param) << c.body;
  }
}

TEST(ParseCompletion, SurvivesEveryTruncationAndRandomBytes) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi \"x\""}]}],)"
      R"("max_tokens":5,"stream":true,"stream_options":{"include_usage":true}})";
  ASSERT_TRUE(parse_completion_request(body, true));
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(parse_completion_request(body.substr(0, cut), true)) << cut;
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string noise = body;
    for (int k = 0; k < 3; ++k) noise[rng() % noise.size()] = static_cast<char>(rng());
    (void)parse_completion_request(noise, true);  // must not crash
  }
}

TEST(ParseCompletion, HandlesLargeBodies) {
  std::string big = R"({"prompt":")" + std::string(4 << 20, 'a') + R"("})";
  auto r = parse_completion_request(big, false);
  ASSERT_TRUE(r);
  EXPECT_EQ(count_tokens(r->prompt_text), 1 << 20);
}

TEST(Responses, StreamChunksAreValidJson) {
  ResponseHeader h{"cmpl-1", "my \"model\"", 1700000000, false};
  std::string out;
  append_stream_chunk(out, h, " the", nullptr, true);
  ASSERT_TRUE(out.starts_with("data: "));
  ASSERT_TRUE(out.ends_with("\n\n"));
  auto j = nlohmann::json::parse(out.substr(6));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "my \"model\"");
  EXPECT_EQ(j["choices"][0]["text"], " the");
  EXPECT_TRUE(j["choices"][0]["finish_reason"].is_null());

  ResponseHeader chat{"chatcmpl-1", "m", 1, true};
  out.clear();
  append_stream_chunk(out, chat, "a\n\"b\"", "length", true);
  j = nlohmann::json::parse(out.substr(6));
  EXPECT_EQ(j["object"], "chat.completion.chunk");
  EXPECT_EQ(j["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["delta"]["content"], "a\n\"b\"");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");

  out.clear();
  append_usage_chunk(out, chat, {10, 4, 8});
  j = nlohmann::json::parse(out.substr(6));
  EXPECT_TRUE(j["choices"].empty());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  EXPECT_EQ(j["usage"]["total_tokens"], 14);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
}

TEST(Responses, WholeCompletionBody) {
  ResponseHeader chat{"chatcmpl-2", "m", 5, true};
  auto j = nlohmann::json::parse(completion_body(chat, "hello", "stop", {3, 2, 0}));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
  ResponseHeader text{"cmpl-2", "m", 5, false};
  j = nlohmann::json::parse(completion_body(text, "hi", "length", {3, 2, 0}));
  EXPECT_EQ(j["choices"][0]["text"], "hi");
}

TEST(Responses, ErrorBodyHasOpenAIsShape) {
  auto j = nlohmann::json::parse(error_body(404, "The model `x` does not exist.", "model"));
  EXPECT_EQ(j["error"]["message"], "The model `x` does not exist.");
  EXPECT_EQ(j["error"]["type"], "NotFoundError");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], 404);
  j = nlohmann::json::parse(error_body(429, "busy\n\"now\""));
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["message"], "busy\n\"now\"");
}

TEST(Responses, OutputTokensAreFourBytes) {
  for (int i = 0; i < 100; ++i) EXPECT_EQ(output_token_text(42, i).size(), 4u);
  EXPECT_EQ(output_token_text(1, 5), output_token_text(1, 5));
}

}  // namespace
}  // namespace kgai::sim
