#include "sim/openai_api.h"

#include <chrono>
#include <random>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/tokenizer.h"

namespace kgai::sim {
namespace {

// No context limit unless a test is about it.
constexpr int kNoLimit = 1 << 30;

std::expected<CompletionRequest, ApiError> parse(std::string_view body, bool chat,
                                                 int max_model_len = kNoLimit) {
  return parse_completion_request(body, chat, max_model_len);
}

TEST(ParseCompletion, ReadsTheFieldsThatMatter) {
  auto r = parse(
      R"({"model":"m","prompt":"Hello there","max_tokens":12,"stream":true,
          "stream_options":{"include_usage":true},"ignore_eos":true,"temperature":0.7,
          "stop":["x"],"n":1})",
      false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt.materialize(), "Hello there");
  EXPECT_EQ(r->max_tokens, 12);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->ignore_eos);
}

TEST(ParseCompletion, DefaultsAndNulls) {
  auto r = parse(R"({"prompt":"x","max_tokens":null,"stream":null,"stream_options":null})", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "");
  EXPECT_FALSE(r->max_tokens);
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->include_usage);
}

TEST(ParseCompletion, AcceptsPromptListsAndTokenIds) {
  auto one = parse(R"({"prompt":["only one"]})", false);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->prompt.materialize(), "only one");
  auto ids = parse(R"({"prompt":[1,2,3,70000]})", false);
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->prompt_tokens, 4);
  auto nested = parse(R"({"prompt":[[5,6]]})", false);
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->prompt_tokens, 2);
  // Equal id prefixes give equal text prefixes, hence shared blocks.
  auto longer = parse(R"({"prompt":[1,2,3,70000,9]})", false);
  EXPECT_EQ(longer->prompt.materialize().substr(0, 16), ids->prompt.materialize());
}

TEST(ParseChat, RendersMessagesThroughATemplate) {
  auto r = parse(
      R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
          {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"!"}]}],
          "max_completion_tokens":3})",
      true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->prompt.materialize(),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi!<|end|>\n<|assistant|>\n");
  EXPECT_EQ(r->max_tokens, 3);
}

TEST(ParseChat, SharedSystemPromptIsASharedPrefix) {
  const std::string system(500, 's');
  auto a = parse(R"({"messages":[{"role":"system","content":")" + system +
                     R"("},{"role":"user","content":"question one"}]})",
                 true);
  auto b = parse(R"({"messages":[{"role":"system","content":")" + system +
                     R"("},{"role":"user","content":"another question"}]})",
                 true);
  ASSERT_TRUE(a && b);
  auto ta = tokenize(a->prompt, 16);
  auto tb = tokenize(b->prompt, 16);
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
      {R"({"prompt":"x","best_of":3})", false, "best_of = 1", "best_of"},
      {R"({"prompt":"x","best_of":"3"})", false, "'best_of' must be an integer", "best_of"},
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
    auto r = parse(c.body, c.chat);
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
  ASSERT_TRUE(parse(body, true));
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(parse(body.substr(0, cut), true)) << cut;
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string noise = body;
    for (int k = 0; k < 3; ++k) noise[rng() % noise.size()] = static_cast<char>(rng());
    (void)parse(noise, true);  // must not crash
  }
}

TEST(ParseCompletion, HandlesLargeBodies) {
  std::string big = R"({"prompt":")" + std::string(4 << 20, 'a') + R"("})";
  auto r = parse(big, false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prompt_tokens, 1 << 20);
}

// A chat body of tiny image parts: each costs ~45 bytes of JSON and stands for 576 tokens.
std::string image_parts_body(size_t body_bytes) {
  const std::string part = R"({"type":"image_url","image_url":{"url":"data:,"}},)";
  std::string body = R"({"messages":[{"role":"user","content":[)";
  body.reserve(body_bytes + 64);
  size_t parts = 0;
  while (body.size() + part.size() + 8 < body_bytes) {
    body += part;
    ++parts;
  }
  body.back() = ']';
  body += "}]}";
  return body;
}

TEST(ParseChat, ImagePartsCountWithoutBeingWrittenOut) {
  auto r = parse(R"({"messages":[{"role":"user","content":[{"type":"text","text":"Look:"},
      {"type":"image_url","image_url":{"url":"https://x/a.png"}},{"type":"text","text":"and"},
      {"type":"input_audio","input_audio":{"data":"","format":"wav"}}]}]})",
                 true, 131072);
  ASSERT_TRUE(r) << r.error().message;
  // The count the written-out '#' stand-ins gave before: 2,304 bytes (576 tokens) a part.
  const std::string written = "<|user|>\nLook:" + std::string(2304, '#') + "and" +
                              std::string(2304, '#') + "<|end|>\n<|assistant|>\n";
  EXPECT_EQ(r->prompt.materialize(), written);
  EXPECT_EQ(r->prompt_tokens, count_tokens(written));
  EXPECT_EQ(r->prompt_tokens, 2 * 576 + 10);
  EXPECT_EQ(r->prompt.stored_text(), "<|user|>\nLook:and<|end|>\n<|assistant|>\n");
  EXPECT_EQ(tokenize(r->prompt, 16).block_hashes, tokenize(written, 16).block_hashes);
}

TEST(ParseChat, ImagePartsOverTheContextAreRefusedBeforeExpanding) {
  // 8 MB of image parts stood for 400 MB of prompt text, built on the event loop.
  const std::string body = image_parts_body(8 << 20);
  const auto start = std::chrono::steady_clock::now();
  auto r = parse(body, true, 131072);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(r.error().param, "messages");
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("This model's maximum context length is 131072 tokens. However, your request "
                   "has "),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("Please reduce the length of the input messages."), std::string::npos) << m;
  EXPECT_LT(elapsed, std::chrono::seconds(1));  // generous: it takes milliseconds
}

TEST(ParseChat, ReportsTheExactLengthOfAnOverlongPrompt) {
  // 300 image parts: 300 * 576 tokens plus the template, counted although never stored.
  std::string body = R"({"messages":[{"role":"user","content":[)";
  for (int i = 0; i < 300; ++i) body += R"({"type":"image_url"},)";
  body.back() = ']';
  body += "}]}";
  auto r = parse(body, true, 4096);
  ASSERT_FALSE(r);
  const int64_t tokens =
      tokens_for_bytes(300 * 2304 + std::string_view("<|user|>\n<|end|>\n<|assistant|>\n").size());
  EXPECT_NE(r.error().message.find(fmt::format("has {} input tokens", tokens)), std::string::npos)
      << r.error().message;
}

TEST(ParseCompletion, TheContextLimitIsExact) {
  // 4096 tokens of context leave room for prompts of at most 4095 tokens.
  auto fits = parse(R"({"prompt":")" + std::string(4095 * 4, 'a') + R"("})", false, 4096);
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->prompt_tokens, 4095);
  auto one_byte_more =
      parse(R"({"prompt":")" + std::string(4095 * 4 + 1, 'a') + R"("})", false, 4096);
  ASSERT_FALSE(one_byte_more);
  EXPECT_NE(one_byte_more.error().message.find("has 4096 input tokens"), std::string::npos);
  EXPECT_EQ(one_byte_more.error().param, "prompt");
  std::string ids = "[0";
  for (int i = 1; i < 4096; ++i) ids += ",7";
  ids += "]";
  auto id_prompt = parse(R"({"prompt":)" + ids + "}", false, 4096);
  ASSERT_FALSE(id_prompt);
  EXPECT_NE(id_prompt.error().message.find("has 4096 input tokens"), std::string::npos);
  // Ids past the limit are counted without being read, flat or nested.
  std::string many = "[0";
  for (int i = 1; i < 10000; ++i) many += ",7";
  many += "]";
  for (const std::string& prompt : {many, "[" + many + "]"}) {
    auto r = parse(R"({"prompt":)" + prompt + "}", false, 4096);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("has 10000 input tokens"), std::string::npos)
        << r.error().message;
  }
}

TEST(ParseCompletion, HugePromptsOfEveryShapeAreRefusedQuickly) {
  const size_t kBody = 16 << 20;  // the servers' body limit
  std::vector<std::pair<std::string, bool>> bodies;
  // One long string, as a string and as [string].
  bodies.push_back({R"({"prompt":")" + std::string(kBody - 20, 'x') + R"("})", false});
  bodies.push_back({R"({"prompt":[")" + std::string(kBody - 20, 'x') + R"("]})", false});
  // Token ids, flat and nested: 4 bytes of prompt for every 2 bytes of body.
  std::string ids;
  ids.reserve(kBody);
  ids += "7";
  while (ids.size() < kBody - 40) ids += ",7";
  bodies.push_back({R"({"prompt":[)" + ids + "]}", false});
  bodies.push_back({R"({"prompt":[[)" + ids + "]]}", false});
  // Many small messages, and one message's role as the long part.
  std::string messages = R"({"messages":[)";
  messages.reserve(kBody);
  while (messages.size() < kBody - 64) messages += R"({"role":"u","content":""},)";
  messages.back() = ']';
  messages += "}";
  bodies.push_back({messages, true});
  bodies.push_back({R"({"messages":[{"role":")" + std::string(kBody - 40, 'r') + R"("}]})", true});
  bodies.push_back({image_parts_body(kBody), true});
  for (const auto& [body, chat] : bodies) {
    const auto start = std::chrono::steady_clock::now();
    auto r = parse(body, chat, 131072);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r) << body.substr(0, 40);
    EXPECT_NE(r.error().message.find("maximum context length is 131072"), std::string::npos)
        << body.substr(0, 40) << ": " << r.error().message;
    EXPECT_LT(elapsed, std::chrono::seconds(2)) << body.substr(0, 40);
  }
}

TEST(ParseCompletion, ARepeatedPromptKeyReplacesTheEarlierOne) {
  // The last value wins, as in Python's json (vLLM); the two were once concatenated.
  auto r = parse(R"({"prompt":"first","prompt":"second"})", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prompt.materialize(), "second");
  auto c = parse(
      R"({"messages":[{"role":"a","content":"1"}],"messages":[{"role":"b","content":"2"}]})", true);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prompt.materialize(), "<|b|>\n2<|end|>\n<|assistant|>\n");
}

TEST(ParseCompletion, DeepNestingIsRefused) {
  const std::string deep =
      R"({"prompt":"x","logit_bias":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = parse(deep, false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("invalid JSON"), std::string::npos) << r.error().message;
  auto open_only = parse(std::string(1 << 20, '['), false);
  ASSERT_FALSE(open_only);
}

TEST(ParseLora, ReadsNameAndPath) {
  auto load = parse_lora_request(R"({"lora_name":"org/sql-v1.2:q4_0","lora_path":"/a/b"})", true);
  ASSERT_TRUE(load) << load.error().message;
  EXPECT_EQ(load->name, "org/sql-v1.2:q4_0");
  EXPECT_EQ(load->path, "/a/b");
  auto no_path = parse_lora_request(R"({"lora_name":"x","lora_path":null})", true);
  ASSERT_TRUE(no_path);
  EXPECT_FALSE(no_path->path);
  // An unload ignores a path.
  auto unload = parse_lora_request(R"({"lora_name":"x","lora_path":5})", false);
  ASSERT_TRUE(unload);
  EXPECT_EQ(unload->name, "x");
}

TEST(ParseLora, RejectsBadBodiesWithAClearMessage) {
  const std::string long_name(kMaxLoraNameBytes + 1, 'n');
  const std::string long_path(kMaxLoraPathBytes + 1, 'p');
  const std::vector<std::tuple<std::string, const char*, const char*>> cases = {
      {"", "invalid JSON", ""},
      {R"({"lora_name":"x")", "invalid JSON", ""},
      {std::string(1 << 20, '['), "invalid JSON", ""},
      {"[]", "JSON object", ""},
      {R"({"lora_path":"/x"})", "'lora_name' is required", "lora_name"},
      {R"({"lora_name":5})", "must be a string", "lora_name"},
      {R"({"lora_name":""})", "must not be empty", "lora_name"},
      {R"({"lora_name":"a b"})", "letters, digits", "lora_name"},
      {R"({"lora_name":"a\nb"})", "byte 0x0a", "lora_name"},
      {R"({"lora_name":"caf\u00e9"})", "letters, digits", "lora_name"},
      {R"({"lora_name":")" + long_name + R"("})", "at most 256 bytes", "lora_name"},
      {R"({"lora_name":"x","lora_path":["/x"]})", "'lora_path' must be a string", "lora_path"},
      {R"({"lora_name":"x","lora_path":")" + long_path + R"("})", "at most 4096", "lora_path"},
      {R"({"lora_name":"x","lora_path":"a\u0000b"})", "control characters", "lora_path"},
  };
  for (const auto& [body, message, param] : cases) {
    auto r = parse_lora_request(body, true);
    ASSERT_FALSE(r) << body.substr(0, 80);
    EXPECT_EQ(r.error().status, 400);
    EXPECT_NE(r.error().message.find(message), std::string::npos)
        << body.substr(0, 80) << " -> " << r.error().message;
    EXPECT_EQ(r.error().param, param) << body.substr(0, 80);
  }
}

TEST(ParseLora, ShortenedKeepsMessagesReadable) {
  EXPECT_EQ(shortened("sql"), "sql");
  const std::string huge(1 << 20, 'm');
  const std::string s = shortened(huge);
  EXPECT_LT(s.size(), 100u);
  EXPECT_NE(s.find("1048576 bytes"), std::string::npos);
  // Two-byte characters are never cut in half.
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "\xc3\xa9";
  const std::string cut = shortened(accents);
  EXPECT_EQ(cut.substr(0, cut.find("...")).size() % 2, 0u);
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
