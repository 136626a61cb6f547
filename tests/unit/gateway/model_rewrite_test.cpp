#include "gateway/model_rewrite.h"

#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kgai::gateway {
namespace {

TEST(RewriteModel, HeaderWinsThenRulesThenAsRequested) {
  std::mt19937_64 rng(1);
  std::vector<ModelRewriteConfig> rules = {
      {{"llama"}, {{"llama-v2", 90}, {"llama-v3", 10}}},
      {{"other"}, {{"other-lora", 1}}},
  };
  EXPECT_EQ(rewrite_model("llama", "pinned", rules, rng), "pinned");
  EXPECT_EQ(rewrite_model("other", "", rules, rng), "other-lora");
  EXPECT_EQ(rewrite_model("mistral", "", rules, rng), "mistral");
  std::map<std::string, int> split;
  for (int i = 0; i < 10000; ++i) ++split[rewrite_model("llama", "", rules, rng)];
  EXPECT_NEAR(split["llama-v2"], 9000, 300);
  EXPECT_NEAR(split["llama-v3"], 1000, 300);
}

RequestInfo parsed(std::string_view body, ApiKind api = ApiKind::kChatCompletions) {
  auto info = parse_request_body(body, api);
  EXPECT_TRUE(info) << info.error().message;
  return info ? *info : RequestInfo{};
}

TEST(SpliceModel, SetsTheTopLevelModelOnlyAndKeepsEverythingElseByteForByte) {
  const std::string body =
      R"({"messages":[{"role":"user","content":"model"}], "model" : "a","z":1,"a":2})";
  const std::string out = splice_model(body, parsed(body), "b");
  EXPECT_EQ(out, R"({"messages":[{"role":"user","content":"model"}], "model" : "b","z":1,"a":2})");
  // An escaped key and an escaped value are found where they lie.
  const std::string escaped = R"({"mod\u0065l":"l\u0061ma","prompt":"x"})";
  EXPECT_EQ(splice_model(escaped, parsed(escaped, ApiKind::kCompletions), "b"),
            R"({"mod\u0065l":"b","prompt":"x"})");
}

TEST(SpliceModel, EscapesTheNewValue) {
  const std::string body = R"({"model":"a","prompt":"x"})";
  const std::string out =
      splice_model(body, parsed(body, ApiKind::kCompletions), "we\"ird\\\n\x01name");
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["model"], "we\"ird\\\n\x01name");
  EXPECT_EQ(j["prompt"], "x");
}

TEST(SpliceModel, DeeplyNestedBodyNeedsNoRecursion) {
  // 200,000 levels inside "messages": a DOM parse and dump would recurse that deep.
  std::string body = R"({"model":"a","messages":)";
  body.append(200'000, '[');
  body.append(200'000, ']');
  body += "}";
  auto info = parse_request_body(body, ApiKind::kChatCompletions);
  ASSERT_TRUE(info) << info.error().message;
  const std::string out = splice_model(body, *info, "b");
  EXPECT_EQ(out.substr(0, 23), R"({"model":"b","messages")");
  EXPECT_EQ(out.size(), body.size());
}

TEST(InvalidModelName, RejectsWhatNoServerShouldSee) {
  EXPECT_FALSE(invalid_model_name("meta-llama/Llama-3.1-8B-Instruct"));
  EXPECT_FALSE(invalid_model_name("modèle"));
  EXPECT_TRUE(invalid_model_name(""));
  EXPECT_TRUE(invalid_model_name("bad\xff\xfe"));
  EXPECT_TRUE(invalid_model_name("a\r\nb"));
  EXPECT_TRUE(invalid_model_name(std::string(kMaxModelNameBytes + 1, 'm')));
  EXPECT_FALSE(invalid_model_name(std::string(kMaxModelNameBytes, 'm')));
}

// Found by tests/fuzz (when rewrites went through a DOM): a name that is not UTF-8 made
// nlohmann's dump() throw out of the proxy. A splice escapes and repairs it instead.
TEST(SpliceModel, ModelNameThatIsNotUtf8IsRepairedNotThrown) {
  const std::string body = R"({"model":"a","prompt":"hi"})";
  const std::string out = splice_model(body, parsed(body, ApiKind::kCompletions), "bad\xff\xfe");
  auto again = parse_request_body(out, ApiKind::kCompletions);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->model, "bad\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace kgai::gateway
