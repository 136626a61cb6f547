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
  std::string id;
};

// "data: <payload>\n\n" (a payload with newlines becomes several data: lines).
std::string format(std::string_view data);
// Appends the same to `out` without a temporary.
void append(std::string& out, std::string_view data);

// Feed it bytes as they come; it calls back with each complete event. Handles \n, \r\n and
// \r line ends, comments (": ..."), the event/data/id fields, and ignores unknown fields and
// retry:. An event whose size passes `max_event_bytes` is an error (the stream is bad or
// hostile), after which the parser stays failed.
class Parser {
 public:
  explicit Parser(std::size_t max_event_bytes = 4 * 1024 * 1024);

  Result<void> feed(std::string_view bytes, const std::function<void(Event&&)>& on_event);
  // True when bytes of an unfinished event are buffered (a truncated stream at the end).
  bool has_partial() const;

 private:
  std::string buffer_;
  Event current_;
  bool has_fields_ = false;
  bool failed_ = false;
  std::size_t max_event_bytes_;
};

}  // namespace kgai::sse
