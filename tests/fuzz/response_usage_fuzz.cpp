// The usage reader a proxy feeds each response through (src/common/response_usage.h), which
// promises that the answer does not depend on where the chunks were cut, that what it holds
// stays within its limits whatever the bytes, and that it reads usage as OpenAiJson does. The
// first byte picks the body kind (bit 0: event stream), the limits (bit 1: small ones, so the
// fuzzer reaches the over-limit paths with short inputs) and how the rest is cut.
#include <string>

#include "common/openai_json.h"
#include "common/response_usage.h"
#include "fuzz/fuzz_target.h"

using kgai::ResponseUsageLimits;
using kgai::ResponseUsageReader;
using kgai::UsageFields;

namespace {

constexpr ResponseUsageLimits kSmall{
    .max_event_bytes = 96, .max_body_bytes = 256, .tail_bytes = 64};

// What any reader may hold: two events (the one in progress and the usage one), or a body.
size_t bound(const ResponseUsageLimits& limits) {
  return 2 * limits.max_event_bytes + limits.max_body_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t seed = data[0];
  const std::string_view text = kgai::fuzz::as_text(data + 1, size - 1);
  const auto body =
      (seed & 1) != 0 ? ResponseUsageReader::Body::kEventStream : ResponseUsageReader::Body::kJson;
  const ResponseUsageLimits limits = (seed & 2) != 0 ? kSmall : ResponseUsageLimits{};
  kgai::OpenAiJson json;

  ResponseUsageReader whole(body, limits);
  whole.feed(text);
  FUZZ_CHECK(whole.buffered_bytes() <= bound(limits));
  const UsageFields answer = whole.finish(json);

  ResponseUsageReader pieces(body, limits);
  kgai::fuzz::for_each_piece(text, seed, [&](std::string_view piece) {
    pieces.feed(piece);
    FUZZ_CHECK(pieces.buffered_bytes() <= bound(limits));
  });
  FUZZ_CHECK(pieces.finish(json) == answer);

  // Where the reader parses exactly the input, its answer is OpenAiJson's: a JSON body under
  // the limit that parses, and the input sent as the data of one event. (The event may have no
  // "usage" key as bytes while OpenAiJson finds an escaped one, hence only one direction.)
  std::string error;
  if (body == ResponseUsageReader::Body::kJson && text.size() <= limits.max_body_bytes) {
    kgai::BodyFields fields;
    if (json.parse_body(text, &fields, &error)) FUZZ_CHECK(answer == fields.usage);
  }
  if (text.find_first_of("\r\n") == std::string_view::npos &&
      text.size() <= limits.max_event_bytes) {
    ResponseUsageReader event(ResponseUsageReader::Body::kEventStream, limits);
    event.feed("data: ");
    event.feed(text);
    event.feed("\n\n");
    const UsageFields usage = event.finish(json);
    kgai::ChunkFields chunk;
    if (usage.reported) {
      FUZZ_CHECK(json.parse_chunk(text, &chunk, &error));
      FUZZ_CHECK(usage == chunk.usage);
    }
  }
  return 0;
}
