#include "common/sse.h"

#include <utility>

namespace kgai::sse {

namespace {

constexpr std::string_view kLineEnds = "\r\n";

}  // namespace

std::string format(std::string_view data) {
  std::string out;
  append(out, data);
  return out;
}

void append(std::string& out, std::string_view data) {
  out.reserve(out.size() + data.size() + 8);
  std::size_t start = 0;
  for (;;) {
    // Any line end inside the payload would end the data: line early, so each line of the
    // payload gets its own data: line (the parser joins them back with '\n').
    const std::size_t end = data.find_first_of(kLineEnds, start);
    out += "data: ";
    out.append(data.substr(start, end == std::string_view::npos ? end : end - start));
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out += '\n';
}

Parser::Parser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

Result<void> Parser::feed(std::string_view bytes, const std::function<void(Event&&)>& on_event) {
  if (failed_) return fail("SSE event over {} bytes (the stream already failed)", max_event_bytes_);
  if (bytes.empty()) return {};
  std::size_t pos = 0;
  if (pending_cr_) {
    pending_cr_ = false;
    if (bytes[0] == '\n') pos = 1;
  }
  while (pos < bytes.size()) {
    const std::size_t end = bytes.find_first_of(kLineEnds, pos);
    if (end == std::string_view::npos) {
      buffer_.append(bytes.substr(pos));
      if (over_limit()) return fail_limit();
      return {};
    }
    std::string_view line = bytes.substr(pos, end - pos);
    if (!buffer_.empty()) {
      buffer_.append(line);
      line = buffer_;
    }
    Result<void> result = process_line(line, on_event);
    buffer_.clear();
    if (!result) return result;
    pos = end + 1;
    if (bytes[end] == '\r') {
      if (pos == bytes.size()) {
        pending_cr_ = true;
      } else if (bytes[pos] == '\n') {
        ++pos;
      }
    }
  }
  return {};
}

bool Parser::has_partial() const { return !buffer_.empty() || has_fields_; }

Result<void> Parser::process_line(std::string_view line,
                                  const std::function<void(Event&&)>& on_event) {
  if (line.empty()) {
    dispatch(on_event);
    return {};
  }
  if (line.front() == ':') return {};  // a comment, often a keep-alive ping
  const std::size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  has_fields_ = true;
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    // The spec ignores ids with NUL in them (they could not be sent back in a header).
    if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
  }
  // retry: and unknown fields are ignored, as the spec asks.
  if (over_limit()) return fail_limit();
  return {};
}

void Parser::dispatch(const std::function<void(Event&&)>& on_event) {
  const bool had_data = has_data_;
  has_fields_ = false;
  has_data_ = false;
  if (!had_data) {
    current_.event.clear();
    return;
  }
  // State is reset before the callback so that it sees a parser ready for the next event.
  Event event{std::exchange(current_.event, {}), std::exchange(current_.data, {}), current_.id};
  on_event(std::move(event));
}

bool Parser::over_limit() const {
  return buffer_.size() + current_.data.size() + current_.event.size() + current_.id.size() >
         max_event_bytes_;
}

Result<void> Parser::fail_limit() {
  failed_ = true;
  buffer_.clear();
  current_ = {};
  return fail("SSE event over {} bytes", max_event_bytes_);
}

}  // namespace kgai::sse
