// The gateway's request-body reader (src/gateway/request_info.h): every request body a client
// sends the gateway goes through parse_request_body before routing. Both API kinds, and both
// overloads, which must agree: the copying one pads a thread-local copy, the in-place one pads
// the caller's string, and a difference would mean one of them reads the padding.
#include <string>

#include "fuzz/fuzz_target.h"
#include "gateway/request_info.h"

using kgai::gateway::ApiKind;
using kgai::gateway::RequestInfo;

namespace {

void check_same(const kgai::Result<RequestInfo>& a, const kgai::Result<RequestInfo>& b) {
  FUZZ_CHECK(a.has_value() == b.has_value());
  if (!a) {
    FUZZ_CHECK(a.error().message == b.error().message);
    return;
  }
  FUZZ_CHECK(a->model == b->model);
  FUZZ_CHECK(a->stream == b->stream);
  FUZZ_CHECK(a->max_tokens == b->max_tokens);
  FUZZ_CHECK(a->prefix_text == b->prefix_text);
  FUZZ_CHECK(a->body_bytes == b->body_bytes);
  FUZZ_CHECK(!a->max_tokens || *a->max_tokens >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = kgai::fuzz::as_text(data, size);
  for (ApiKind api : {ApiKind::kCompletions, ApiKind::kChatCompletions}) {
    auto copied = kgai::gateway::parse_request_body(body, api);
    std::string owned(body);
    auto in_place = kgai::gateway::parse_request_body(owned, api);
    FUZZ_CHECK(owned == body);  // padding in place leaves size and content as they were
    check_same(copied, in_place);
  }
  return 0;
}
