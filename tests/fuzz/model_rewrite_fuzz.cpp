// The gateway's body edits on the request path (src/gateway/model_rewrite.h): splice_model,
// which puts another model name into a client's body when a modelRewrites rule or the
// x-gateway-model-name-rewrite header names one. Input: the new model name (first line), then the
// body. The model name may be anything a header value can carry.
#include <string>

#include "fuzz/fuzz_target.h"
#include "gateway/model_rewrite.h"
#include "gateway/request_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = kgai::fuzz::as_text(data, size);
  const std::string_view model = kgai::fuzz::take_line(rest);
  const std::string_view body = rest;

  for (auto api :
       {kgai::gateway::ApiKind::kCompletions, kgai::gateway::ApiKind::kChatCompletions}) {
    auto info = kgai::gateway::parse_request_body(body, api);
    if (!info) continue;
    // The spliced body is the same request with the new model (escaped): it must read back as
    // such, with the same prompt or messages.
    const std::string spliced = kgai::gateway::splice_model(body, *info, model);
    // The proxy splices only names that pass this check (an empty one would be a 400 there).
    if (kgai::gateway::invalid_model_name(model)) continue;
    auto again = kgai::gateway::parse_request_body(spliced, api);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->model == model);
    FUZZ_CHECK(again->prefix_text == info->prefix_text);
    FUZZ_CHECK(again->stream == info->stream);
  }
  return 0;
}
