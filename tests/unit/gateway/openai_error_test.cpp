#include "gateway/openai_error.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kgai::gateway {
namespace {

TEST(OpenAiError, HasTheShapeOpenAiClientsParse) {
  const http::Response r = openai_error(404, "The model `x` does not exist.");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["message"], "The model `x` does not exist.");
  EXPECT_EQ(j["error"]["type"], "NotFoundError");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["code"], 404);
  EXPECT_EQ(nlohmann::json::parse(openai_error(405, "m").body)["error"]["type"],
            "MethodNotAllowed");
}

TEST(OpenAiError, ClientBytesInTheMessageNeverBreakTheJson) {
  // A model name from a header may hold anything: invalid UTF-8, quotes, control characters.
  const http::Response r = openai_error(404, "The model `\xff\xfe\"}\n\x01` does not exist.");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  EXPECT_EQ(j["error"]["message"], "The model `\xEF\xBF\xBD\xEF\xBF\xBD\"}\n\x01` does not exist.");
}

}  // namespace
}  // namespace kgai::gateway
