// The simulator's OpenAI request parser (src/sim/openai_api.h): every body sent to
// `kgai sim`'s /v1/completions and /v1/chat/completions. Both endpoints per input, with a
// context length small enough that the over-the-limit path (counting without storing) runs
// too, and with a large one.
#include "fuzz/fuzz_target.h"
#include "sim/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = kgai::fuzz::as_text(data, size);
  for (bool chat : {false, true}) {
    for (int max_model_len : {64, 131'072}) {
      auto request = kgai::sim::parse_completion_request(body, chat, max_model_len);
      if (request) {
        FUZZ_CHECK(request->chat == chat);
        FUZZ_CHECK(!request->max_tokens || *request->max_tokens >= 0);
      } else {
        FUZZ_CHECK(request.error().status >= 400 && request.error().status < 600);
        FUZZ_CHECK(!request.error().message.empty());
      }
    }
  }
  return 0;
}
