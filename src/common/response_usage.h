// The token usage of an OpenAI-compatible response, for a proxy that forwards the response
// chunk by chunk and cannot keep it: feed() sees each chunk once and keeps only where the
// usage can be (bounded, whatever the input), finish() parses that once with OpenAiJson, the
// parser the perf client reads every response with. Feeding costs a memchr-class scan per
// chunk and allocates nothing once warm; no byte is parsed as JSON before finish().
//
// Where the usage is: a stream (text/event-stream, "stream_options": {"include_usage": true})
// sends it in a final event of its own, `data: {..., "choices": [], "usage": {...}}`, before
// `data: [DONE]` (vLLM, SGLang, OpenAI; earlier events may carry "usage": null); a JSON body
// has it as a top-level key after "choices", so at the very end.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/openai_json.h"

namespace kgai {

struct ResponseUsageLimits {
  // An SSE event holding more data is skipped: a usage event is a few hundred bytes.
  std::size_t max_event_bytes = 64 << 10;
  // A JSON body up to this size is parsed whole; past it, only its last tail_bytes are kept
  // (a completion of a million tokens must not be held for four numbers at its end).
  std::size_t max_body_bytes = 1 << 20;
  std::size_t tail_bytes = 64 << 10;  // at most max_body_bytes
};

class ResponseUsageReader {
 public:
  enum class Body { kJson, kEventStream };

  // kEventStream for a text/event-stream content type (case and parameters ignored), else
  // kJson: what the proxy passes on from the upstream's response headers.
  static Body body_of(std::string_view content_type);

  explicit ResponseUsageReader(Body body, ResponseUsageLimits limits = {});

  // The response's bytes in order, cut anywhere: an event or a line may span chunks, and
  // the answer does not depend on where the cuts fall. Stream lines end in "\n" or "\r\n",
  // as servers send them; a bare "\r" (SSE allows it, no server sends it) ends no line here,
  // so such a stream reports usage only when it is a single event.
  void feed(std::string_view chunk);

  // The usage the response reported, read with `json` (a parser the caller keeps, one per
  // thread, so that it allocates nothing once warm):
  // - a stream: the last event whose data has a "usage" object, read as OpenAiJson::
  //   parse_chunk reads it. An event the stream ended in without its closing blank line
  //   counts when its data parses (a server that closed early still reported usage); one cut
  //   in its JSON does not, and the last complete usage event stands.
  // - a JSON body: its top-level "usage" (OpenAiJson::parse_body). A body over the limit, or
  //   one that does not parse (cut short, or an SSE stream labelled as JSON), gives the last
  //   "usage" object in its last tail_bytes, parsed alone (last_usage_in below).
  // `reported` is false where the response held none: no usage, "usage": null, an error
  // event or body, garbage. Never throws for any input; may be called again after more feed().
  UsageFields finish(OpenAiJson& json) const;
  // The same with a parser of its own, made for the call (allocates; for one-off use).
  UsageFields finish() const;

  // Bytes held now (the buffers' sizes; the limits above bound them), for tests.
  std::size_t buffered_bytes() const;

 private:
  enum class Line : unsigned char { kStart, kData, kSkip };

  void feed_event_stream(std::string_view chunk);
  void feed_json(std::string_view chunk);
  void take(const char* p, std::size_t n);
  void classify_line();
  void append_data(const char* p, std::size_t n);
  void end_line();
  void end_event();

  Body body_;
  ResponseUsageLimits limits_;

  // text/event-stream. A line's first bytes wait in head_ until they show whether it is a
  // data: line; a data line's value goes to event_, any other line is skipped unread.
  static constexpr std::size_t kHead = 6;  // "data: "
  char head_[kHead] = {};
  std::size_t head_len_ = 0;
  Line line_ = Line::kStart;
  std::size_t line_bytes_ = 0;  // this line's bytes so far, to tell a blank line
  bool line_cr_ = false;        // this line's last byte so far is '\r'
  std::string event_;           // the event in progress: its data lines joined by '\n'
  bool event_has_data_ = false;
  bool event_too_big_ = false;  // over max_event_bytes: event_ was dropped
  std::string usage_event_;     // the data of the last complete event with a "usage" object

  // application/json (or anything that is not a stream).
  std::string body_text_;  // the body, or once over max_body_bytes a tail of it
  bool body_cut_ = false;
};

// The last "usage" key with an object value in `text` (a response's tail, any bytes), that
// object parsed alone with `json`; reported == false when there is none, when it is cut off,
// or when it is not JSON. Keys are found as bytes on the wire: "usage" inside a JSON string
// is escaped there (\"usage\") and never matches; a nested "usage" key would.
UsageFields last_usage_in(std::string_view text, OpenAiJson& json);

}  // namespace kgai
