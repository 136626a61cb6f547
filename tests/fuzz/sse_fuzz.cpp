// The server-sent events parser (src/common/sse.h), which promises to accept a stream cut at
// any byte: the input is parsed whole and in pieces (sizes drawn from its first byte), and
// both must give the same events, the same error state and the same partial flag. A small
// event limit lets the fuzzer reach the over-limit path.
#include <string>
#include <vector>

#include "common/sse.h"
#include "fuzz/fuzz_target.h"

namespace {

struct Outcome {
  std::vector<kgai::sse::Event> events;
  bool failed = false;
  bool partial = false;
};

constexpr size_t kMaxEventBytes = 512;

template <typename Feeder>
Outcome parse(Feeder&& feeder) {
  Outcome out;
  kgai::sse::Parser parser(kMaxEventBytes);
  feeder([&](std::string_view bytes) {
    if (out.failed) return;
    auto fed =
        parser.feed(bytes, [&](kgai::sse::Event&& e) { out.events.push_back(std::move(e)); });
    if (!fed) out.failed = true;
  });
  out.partial = parser.has_partial();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t seed = data[0];
  const std::string_view text = kgai::fuzz::as_text(data + 1, size - 1);

  Outcome whole = parse([&](auto&& feed) { feed(text); });
  Outcome pieces = parse([&](auto&& feed) { kgai::fuzz::for_each_piece(text, seed, feed); });

  FUZZ_CHECK(whole.failed == pieces.failed);
  if (whole.failed) return 0;  // events before the failure may differ by where the cut fell
  FUZZ_CHECK(whole.partial == pieces.partial);
  FUZZ_CHECK(whole.events.size() == pieces.events.size());
  for (size_t i = 0; i < whole.events.size(); ++i) {
    FUZZ_CHECK(whole.events[i].event == pieces.events[i].event);
    FUZZ_CHECK(whole.events[i].data == pieces.events[i].data);
    FUZZ_CHECK(whole.events[i].id == pieces.events[i].id);
  }
  // What format() writes, the parser reads back as one event with the same data (with any
  // CR or CR LF read as a line end, as the format defines).
  std::string expected;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      expected += '\n';
    } else {
      expected += text[i];
    }
  }
  Outcome round = parse([&](auto&& feed) { feed(kgai::sse::format(text)); });
  if (!round.failed && expected.size() < kMaxEventBytes / 2) {
    FUZZ_CHECK(round.events.size() == 1);
    FUZZ_CHECK(round.events[0].data == expected);
  }
  return 0;
}
