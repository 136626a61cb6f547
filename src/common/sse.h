// Server-sent events (text/event-stream): formatting on the server side and an incremental
// parser on the client side that accepts the stream cut at any byte.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kgai::sse {

struct Event {
  std::string event;  // "" means the default "message"
  std::string data;   // multiple data: lines joined with '\n'
  std::string id;     // the last id: seen in the stream; as in the spec it carries over
                      // to later events until another id: line changes it
};

// "data: <payload>\n\n" (a payload with newlines becomes several data: lines).
std::string format(std::string_view data);
// Appends the same to `out` without a temporary.
void append(std::string& out, std::string_view data);

// Feed it bytes as they come; it calls back with each complete event. Handles \n, \r\n and
// \r line ends, comments (": ..."), the event/data/id fields, and ignores unknown fields and
// retry:. As the spec says, an event is dispatched at a blank line and only when it had at
// least one data: line. An event whose size passes `max_event_bytes` is an error (the stream
// is bad or hostile), after which the parser stays failed.
class Parser {
 public:
  explicit Parser(std::size_t max_event_bytes = 4 * 1024 * 1024);

  Result<void> feed(std::string_view bytes, const std::function<void(Event&&)>& on_event);
  // True when bytes of an unfinished event are buffered (a truncated stream at the end).
  bool has_partial() const;

 private:
  Result<void> process_line(std::string_view line, const std::function<void(Event&&)>& on_event);
  void dispatch(const std::function<void(Event&&)>& on_event);
  bool over_limit() const;
  Result<void> fail_limit();

  std::string buffer_;  // an unfinished line carried over to the next feed()
  Event current_;
  bool has_fields_ = false;  // a field line was seen since the last dispatch
  bool has_data_ = false;    // ... and one of them was data:
  bool pending_cr_ = false;  // the last feed ended with '\r': a leading '\n' next is its pair
  bool failed_ = false;
  std::size_t max_event_bytes_;
};

}  // namespace kgai::sse
