// The gateway's body edits on the request path (src/gateway/model_rewrite.h): replace_model,
// which sets "model" in a client's body when a modelRewrites rule or the
// x-gateway-model-name-rewrite header names another model, and usage_from_tail, which reads
// token counts from the end of an upstream response. Input: the new model name (first line),
// then the body. The model name may be anything a header value can carry.
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_target.h"
#include "gateway/model_rewrite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = kgai::fuzz::as_text(data, size);
  const std::string_view model = kgai::fuzz::take_line(rest);
  const std::string_view body = rest;

  auto rewritten = kgai::gateway::replace_model(body, model);
  if (rewritten) {
    // The result is the same object with "model" set: it must read back as such.
    auto j = nlohmann::json::parse(*rewritten, nullptr, false);
    FUZZ_CHECK(j.is_object());
    FUZZ_CHECK(j["model"] == model);
  }

  auto [prompt_tokens, completion_tokens] = kgai::gateway::usage_from_tail(body);
  FUZZ_CHECK(prompt_tokens >= -1 && completion_tokens >= -1);
  return 0;
}
