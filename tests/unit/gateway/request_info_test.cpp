#include "gateway/request_info.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::gateway {
namespace {

using ::testing::HasSubstr;

constexpr ApiKind kCompletions = ApiKind::kCompletions;
constexpr ApiKind kChat = ApiKind::kChatCompletions;

// Runs both overloads and checks they agree; returns the string_view one's answer.
Result<RequestInfo> parse(std::string_view body, ApiKind api) {
  auto viewed = parse_request_body(body, api);
  std::string owned(body);
  auto in_place = parse_request_body(owned, api);
  EXPECT_EQ(viewed.has_value(), in_place.has_value()) << body.substr(0, 200);
  if (viewed && in_place) {
    EXPECT_EQ(viewed->model, in_place->model);
    EXPECT_EQ(viewed->prefix_text, in_place->prefix_text);
    EXPECT_EQ(viewed->stream, in_place->stream);
    EXPECT_EQ(viewed->max_tokens, in_place->max_tokens);
    // The in-place overload's view points into its own string.
    if (!in_place->prefix_text.empty()) {
      EXPECT_GE(in_place->prefix_text.data(), owned.data());
      EXPECT_LE(in_place->prefix_text.data() + in_place->prefix_text.size(),
                owned.data() + owned.size());
    }
  } else if (!viewed && !in_place) {
    EXPECT_EQ(viewed.error().message, in_place.error().message);
  }
  return viewed;
}

std::string error_of(std::string_view body, ApiKind api) {
  auto info = parse(body, api);
  return info ? std::string("<ok>") : info.error().message;
}

TEST(ParseRequestBody, CompletionsFields) {
  const std::string body =
      R"({"model":"llama","prompt":"Hello there","stream":true,"max_tokens":128,"temperature":0.5})";
  auto info = parse(body, kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->api, kCompletions);
  EXPECT_EQ(info->model, "llama");
  EXPECT_EQ(info->target_model, "llama");
  EXPECT_TRUE(info->stream);
  EXPECT_EQ(info->max_tokens, 128);
  EXPECT_EQ(info->prefix_text, "Hello there");
  EXPECT_EQ(info->body_bytes, body.size());
  // A view into the caller's body, not into a copy.
  EXPECT_EQ(info->prefix_text.data(), body.data() + body.find("Hello"));
}

TEST(ParseRequestBody, ChatFields) {
  const std::string body =
      R"({ "messages" : [ {"role":"system","content":"Be brief."}, {"role":"user","content":"Hi"} ] ,)"
      R"( "model" : "qwen", "max_completion_tokens": 7, "stream": false } )";
  auto info = parse(body, kChat);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->api, kChat);
  EXPECT_EQ(info->model, "qwen");
  EXPECT_FALSE(info->stream);
  EXPECT_EQ(info->max_tokens, 7);
  EXPECT_EQ(info->prefix_text,
            R"([ {"role":"system","content":"Be brief."}, {"role":"user","content":"Hi"} ])");
  EXPECT_EQ(info->prefix_text.data(), body.data() + body.find('['));
}

TEST(ParseRequestBody, OptionalFieldsDefaultAndNull) {
  auto info = parse(R"({"model":"m","prompt":"x"})", kCompletions);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->stream);
  EXPECT_FALSE(info->max_tokens);
  info = parse(R"({"model":"m","prompt":"x","stream":null,"max_tokens":null})", kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(info->stream);
  EXPECT_FALSE(info->max_tokens);
  info = parse(R"({"model":"m","prompt":"x","max_tokens":0})", kCompletions);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->max_tokens, 0);
}

TEST(ParseRequestBody, MaxCompletionTokensWinsOverMaxTokens) {
  for (auto body : {R"({"model":"m","messages":[1],"max_tokens":5,"max_completion_tokens":9})",
                    R"({"model":"m","messages":[1],"max_completion_tokens":9,"max_tokens":5})"}) {
    auto info = parse(body, kChat);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->max_tokens, 9);
  }
  auto info =
      parse(R"({"model":"m","messages":[1],"max_tokens":5,"max_completion_tokens":null})", kChat);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->max_tokens, 5);
}

TEST(ParseRequestBody, PromptKeepsEscapesAndUtf8) {
  const std::string body = R"({"model":"m","prompt":"line1\nline2 \"q\" \\ \u00e9 \ud83d\ude00 caf)"
                           "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"
                           R"("})";
  auto info = parse(body, kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->prefix_text, R"(line1\nline2 \"q\" \\ \u00e9 \ud83d\ude00 caf)"
                               "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
  // Escaped keys are read as the server reads them.
  info = parse(R"({"mod\u0065l":"m","pr\u006fmpt":"p"})", kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->model, "m");
  EXPECT_EQ(info->prefix_text, "p");
  // The model's escapes are decoded.
  info = parse(R"({"model":"a\/b","prompt":""})", kCompletions);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->model, "a/b");
  EXPECT_EQ(info->prefix_text, "");
}

TEST(ParseRequestBody, ListPrompts) {
  auto info = parse(R"({"model":"m","prompt":["a","b\n"] , "stream":true})", kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->prefix_text, R"(["a","b\n"])");
  EXPECT_TRUE(info->stream);
  info = parse(R"({"model":"m","prompt":[1, 2,3 ]})", kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->prefix_text, "[1, 2,3 ]");
  info = parse(R"({"prompt":[[1,2],[3]],"model":"m"})", kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->prefix_text, "[[1,2],[3]]");
  // The prompt as the last field: the array ends just before the object's brace.
  info = parse("{\"model\":\"m\",\"prompt\":[\"z\"]\n}", kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->prefix_text, R"(["z"])");
}

TEST(ParseRequestBody, WrongPromptShapes) {
  const std::string shape = "'prompt' must be a string, an array of strings";
  EXPECT_THAT(error_of(R"({"model":"m","prompt":5})", kCompletions), HasSubstr(shape));
  EXPECT_THAT(error_of(R"({"model":"m","prompt":{"a":1}})", kCompletions), HasSubstr(shape));
  EXPECT_THAT(error_of(R"({"model":"m","prompt":null})", kCompletions), HasSubstr(shape));
  EXPECT_THAT(error_of(R"({"model":"m","prompt":[{"a":1}]})", kCompletions), HasSubstr(shape));
  EXPECT_THAT(error_of(R"({"model":"m","prompt":[-1]})", kCompletions), HasSubstr(shape));
  EXPECT_THAT(error_of(R"({"model":"m","prompt":[1.5]})", kCompletions), HasSubstr(shape));
  EXPECT_THAT(error_of(R"({"model":"m","prompt":[["a"]]})", kCompletions), HasSubstr(shape));
  EXPECT_EQ(error_of(R"({"model":"m","prompt":[]})", kCompletions), "'prompt' must not be empty");
  // The prompt's escapes are left to the model server (unescaping 200 KB costs as much as the
  // rest of the parse): a bad one passes here and is the server's 400.
  EXPECT_EQ(error_of(R"({"model":"m","prompt":"bad \q escape"})", kCompletions), "<ok>");
}

TEST(ParseRequestBody, RequiredFields) {
  EXPECT_EQ(error_of(R"({"prompt":"x"})", kCompletions), "'model' is required");
  EXPECT_EQ(error_of(R"({"model":"m"})", kCompletions), "'prompt' is required for /v1/completions");
  EXPECT_EQ(error_of(R"({"model":"m","prompt":"x"})", kChat),
            "'messages' is required for /v1/chat/completions");
  // Completions ignore "messages"; chat ignores "prompt".
  EXPECT_EQ(error_of(R"({"model":"m","messages":[1]})", kCompletions),
            "'prompt' is required for /v1/completions");
}

TEST(ParseRequestBody, WrongTypes) {
  EXPECT_EQ(error_of(R"({"model":5,"prompt":"x"})", kCompletions), "'model' must be a string");
  EXPECT_EQ(error_of(R"({"model":null,"prompt":"x"})", kCompletions), "'model' must be a string");
  EXPECT_EQ(error_of(R"({"model":["m"],"prompt":"x"})", kCompletions), "'model' must be a string");
  EXPECT_EQ(error_of(R"({"model":"","prompt":"x"})", kCompletions), "'model' must not be empty");
  EXPECT_EQ(error_of(R"({"model":"m","prompt":"x","stream":"yes"})", kCompletions),
            "'stream' must be a boolean");
  EXPECT_EQ(error_of(R"({"model":"m","prompt":"x","stream":1})", kCompletions),
            "'stream' must be a boolean");
  for (auto bad : {"-1", "1.5", "\"10\"", "true", "1e3", "99999999999999999999", "[1]"}) {
    EXPECT_EQ(
        error_of(fmt::format(R"({{"model":"m","prompt":"x","max_tokens":{}}})", bad), kCompletions),
        "'max_tokens' must be a non-negative integer")
        << bad;
  }
  EXPECT_EQ(error_of(R"({"model":"m","messages":[1],"max_completion_tokens":-3})", kChat),
            "'max_completion_tokens' must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"model":"m","messages":"hi"})", kChat), "'messages' must be an array");
  EXPECT_EQ(error_of(R"({"model":"m","messages":{}})", kChat), "'messages' must be an array");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[ ]})", kChat), "'messages' must not be empty");
}

TEST(ParseRequestBody, DuplicateKeysAreErrors) {
  EXPECT_EQ(error_of(R"({"model":"a","prompt":"x","model":"b"})", kCompletions),
            "duplicate key 'model' in the request body");
  EXPECT_EQ(error_of(R"({"model":"a","model":"b","prompt":"x"})", kCompletions),
            "duplicate key 'model' in the request body");
  EXPECT_EQ(error_of(R"({"model":"a","mod\u0065l":"b","prompt":"x"})", kCompletions),
            "duplicate key 'model' in the request body");
  EXPECT_EQ(error_of(R"({"model":"a","prompt":"x","prompt":"y"})", kCompletions),
            "duplicate key 'prompt' in the request body");
  EXPECT_EQ(error_of(R"({"model":"a","messages":[1],"messages":[2]})", kChat),
            "duplicate key 'messages' in the request body");
  EXPECT_EQ(error_of(R"({"model":"a","prompt":"x","stream":true,"stream":false})", kCompletions),
            "duplicate key 'stream' in the request body");
  EXPECT_EQ(error_of(R"({"model":"a","prompt":"x","max_tokens":1,"max_tokens":2})", kCompletions),
            "duplicate key 'max_tokens' in the request body");
  // Keys the gateway does not read may repeat (the server decides).
  EXPECT_EQ(error_of(R"({"model":"a","prompt":"x","n":1,"n":2})", kCompletions), "<ok>");
}

TEST(ParseRequestBody, NotJsonOrNotAnObject) {
  EXPECT_EQ(error_of("", kCompletions), "request body is empty");
  EXPECT_EQ(error_of(" \n\t", kCompletions), "request body is empty");
  EXPECT_EQ(error_of("[1,2]", kCompletions), "request body must be a JSON object");
  EXPECT_EQ(error_of("\"model\"", kCompletions), "request body must be a JSON object");
  EXPECT_EQ(error_of("42", kCompletions), "request body must be a JSON object");
  EXPECT_EQ(error_of("null", kCompletions), "request body must be a JSON object");
  for (auto bad : {"{", "}", "{\"model\"}", "{\"model\":}", "{\"model\":\"m\",}",
                   "{\"model\":\"m\" \"prompt\":\"x\"}", "{'model':'m'}", "{model:\"m\"}",
                   "{\"model\":\"m\",\"prompt\":\"x\"}}", "{\"model\":\"m\",\"prompt\":\"x\"} x",
                   "{\"model\":\"m\",\"prompt\":\"x\"}{}", "{\"model\":\"m\",\"prompt\":\"x\xff\"}",
                   "{\"model\":\"m\",\"prompt\":\"unterminated}"}) {
    EXPECT_THAT(error_of(bad, kCompletions), HasSubstr("not valid JSON")) << bad;
  }
}

// Every proper prefix of a valid body is an error (never a crash, never a success).
TEST(ParseRequestBody, EveryTruncationIsAnError) {
  const std::string chat =
      R"({"model":"m-1","stream":true,"max_tokens":42,"messages":[{"role":"user",)"
      R"("content":"h\u00e9llo \"w\" [x] {y}"},{"role":"assistant","content":[{"type":"text"}]}],)"
      R"("temperature":0.25,"stop":null,"n":1,"extra":{"a":[true,false,null,-1.5e3]}})";
  const std::string completions =
      R"({"model":"m","prompt":["ab\n",[1,2],3],"stream":false,"max_completion_tokens":0,)"
      R"("logit_bias":{"50256":-100}})";
  const std::string plain = R"({"prompt":"escaped \" quote\\","model":"x"})";
  for (const auto& [body, api] : {std::pair{chat, kChat}, std::pair{completions, kCompletions},
                                  std::pair{plain, kCompletions}}) {
    ASSERT_TRUE(parse(body, api)) << body;
    for (size_t n = 0; n < body.size(); ++n) {
      EXPECT_FALSE(parse(body.substr(0, n), api)) << body.substr(0, n);
    }
  }
}

TEST(ParseRequestBody, HugePrompt) {
  std::string prompt;
  for (int i = 0; prompt.size() < (1 << 20); ++i) prompt += fmt::format("token{} \\n ", i);
  const std::string body = R"({"model":"big","prompt":")" + prompt + R"(","max_tokens":1})";
  auto info = parse(body, kCompletions);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->prefix_text.size(), prompt.size());
  EXPECT_EQ(info->prefix_text, prompt);
  EXPECT_EQ(info->max_tokens, 1);
  EXPECT_EQ(info->body_bytes, body.size());
  // A small body after a huge one on the same thread still parses (buffers are reused).
  ASSERT_TRUE(parse(R"({"model":"m","prompt":"x"})", kCompletions));
}

TEST(ParseRequestBody, DeepNesting) {
  // Inside "messages" (skipped, checked for balance), in an ignored field, and unbalanced.
  for (size_t depth : {10, 1000, 100000}) {
    const std::string nest = std::string(depth, '[') + std::string(depth, ']');
    const std::string chat = R"({"model":"m","messages":[)" + nest + "]}";
    auto info = parse(chat, kChat);
    // simdjson bounds the depth (1024 by default): deeper bodies are an error, not a crash.
    if (info) {
      EXPECT_EQ(info->prefix_text.size(), nest.size() + 2);
    }
    const std::string other = R"({"model":"m","messages":[1],"x":)" + nest + "}";
    (void)parse(other, kChat);
    EXPECT_FALSE(parse(R"({"model":"m","messages":[)" + std::string(depth, '['), kChat));
  }
  EXPECT_TRUE(parse(R"({"model":"m","messages":[[[[[[]]]]]]})", kChat));
}

TEST(ParseRequestBody, InPlaceKeepsTheBody) {
  std::string body = R"({"model":"m","prompt":"abc"})";
  body.shrink_to_fit();
  const std::string copy = body;
  auto info = parse_request_body(body, kCompletions);
  ASSERT_TRUE(info);
  EXPECT_EQ(body, copy);
  EXPECT_GE(body.capacity(), body.size() + 64);
  EXPECT_EQ(info->prefix_text.data(), body.data() + body.find("abc"));
}

}  // namespace
}  // namespace kgai::gateway
