// The perf client's HTTP/1.1 response parser and its two SSE readers
// (src/perf/response_parser.h), which read every response of a benchmark from the server
// under test. They promise that any byte may arrive in any read, so the input is parsed as
// one read and as many (sizes drawn from its first byte), and everything the parser reports
// must agree: result, status, framing flags, error, body, and the events the SSE reader and
// scanner find in the body.
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "perf/response_parser.h"

using kgai::perf::ResponseParser;
using kgai::perf::SseEventReader;
using kgai::perf::SseScanner;

namespace {

struct Outcome {
  ResponseParser::Feed result = ResponseParser::Feed::kMore;
  int status = 0;
  bool keep_alive = false;
  bool event_stream = false;
  std::string content_type;
  std::string error;
  std::string body;
  size_t consumed = 0;
  std::vector<std::string> events;  // SseEventReader
  bool reader_ok = true;
  std::vector<SseScanner::Event> scanned;  // SseScanner
  std::vector<std::string> scanned_errors;

  bool operator==(const Outcome&) const = default;
};

template <typename Feeder>
Outcome parse(Feeder&& feeder) {
  Outcome out;
  ResponseParser parser;
  SseEventReader reader;
  SseScanner scanner;
  auto sink = [&](const char* p, size_t n) {
    out.body.append(p, n);
    out.reader_ok = out.reader_ok && reader.feed(p, n, [&](std::string_view event) {
      out.events.emplace_back(event);
      return true;
    });
    scanner.feed(p, n, [&](SseScanner::Event e) {
      out.scanned.push_back(e);
      if (e == SseScanner::Event::kError) out.scanned_errors.push_back(scanner.error_text());
    });
  };
  feeder([&](std::string_view piece) {
    if (out.result != ResponseParser::Feed::kMore) return;
    size_t consumed = 0;
    out.result = parser.feed(piece.data(), piece.size(), &consumed, sink);
    FUZZ_CHECK(consumed <= piece.size());
    out.consumed += consumed;
  });
  if (out.result == ResponseParser::Feed::kMore) out.result = parser.finish_at_eof();
  out.status = parser.status();
  out.keep_alive = parser.keep_alive();
  out.event_stream = parser.event_stream();
  out.content_type = parser.content_type();
  out.error = parser.error();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t seed = data[0];
  const std::string_view text = kgai::fuzz::as_text(data + 1, size - 1);

  Outcome whole = parse([&](auto&& feed) { feed(text); });
  Outcome pieces = parse([&](auto&& feed) { kgai::fuzz::for_each_piece(text, seed, feed); });
  FUZZ_CHECK(whole.consumed <= text.size());
  if (whole.result == ResponseParser::Feed::kError) {
    // A parser that failed stops where it failed, so only the verdict must agree.
    FUZZ_CHECK(pieces.result == ResponseParser::Feed::kError);
    FUZZ_CHECK(whole.error == pieces.error);
    FUZZ_CHECK(!whole.error.empty());
    return 0;
  }
  FUZZ_CHECK(whole == pieces);
  return 0;
}
