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

TEST(ReplaceModel, SetsTheTopLevelModelOnly) {
  auto body = replace_model(R"({"model":"a","messages":[{"role":"user","content":"model"}]})", "b");
  ASSERT_TRUE(body) << body.error().message;
  auto j = nlohmann::json::parse(*body);
  EXPECT_EQ(j["model"], "b");
  EXPECT_EQ(j["messages"][0]["content"], "model");
  EXPECT_FALSE(replace_model("[1,2]", "b"));
  EXPECT_FALSE(replace_model("{broken", "b"));
}

// Found by tests/fuzz: a name that is not UTF-8 (from the x-gateway-model-name-rewrite header)
// made nlohmann's dump() throw out of the proxy.
TEST(ReplaceModel, ModelNameThatIsNotUtf8IsAnError) {
  auto body = replace_model(R"({"model":"a","prompt":"hi"})", "bad\xff\xfe");
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().message, "the model name to send is not valid UTF-8");
}

TEST(UsageFromTail, ReadsTheLastUsageObject) {
  EXPECT_EQ(usage_from_tail(
                R"(..."usage":{"prompt_tokens":12,"total_tokens":20,"completion_tokens":8}})"),
            (std::pair<int64_t, int64_t>{12, 8}));
  // A stream: the final chunk's usage wins over an earlier null one.
  EXPECT_EQ(usage_from_tail("data: {\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{"
                            "\"prompt_tokens\": 3, \"completion_tokens\": 4}}\n\ndata: [DONE]\n\n"),
            (std::pair<int64_t, int64_t>{3, 4}));
  EXPECT_EQ(usage_from_tail("no usage here"), (std::pair<int64_t, int64_t>{-1, -1}));
  EXPECT_EQ(usage_from_tail(R"("usage":{"prompt_tokens":-5,"completion_tokens":"x"})"),
            (std::pair<int64_t, int64_t>{-1, -1}));
  EXPECT_EQ(usage_from_tail(R"("usage":{"prompt_tokens":)"), (std::pair<int64_t, int64_t>{-1, -1}));
}

}  // namespace
}  // namespace kgai::gateway
