#include "perf/response_parser.h"

#include <charconv>

#include "common/ascii.h"

namespace kgai::perf {
namespace {

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated list `value` holds `token` (case-insensitive), as in
// "Connection: keep-alive, close".
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (ascii_iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::optional<std::string_view> ResponseParser::take_line(const char** p, const char* end) {
  if (clear_line_) {
    line_.clear();
    clear_line_ = false;
  }
  const auto* nl = static_cast<const char*>(std::memchr(*p, '\n', static_cast<size_t>(end - *p)));
  const char* stop = nl ? nl : end;
  if (line_.size() + static_cast<size_t>(stop - *p) > kMaxHeaderLine) {
    return std::nullopt;  // the caller sees the length below and fails
  }
  std::string_view line;
  if (nl && line_.empty()) {
    line = std::string_view(*p, static_cast<size_t>(nl - *p));  // the common case: no copy
  } else {
    line_.append(*p, stop);
    if (!nl) {
      *p = end;
      return std::nullopt;
    }
    line = line_;
    clear_line_ = true;
  }
  *p = nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::optional<std::string> ResponseParser::on_status_line(std::string_view line) {
  // "HTTP/1.1 200 OK": the reason phrase may be empty.
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    return fmt::format("bad status line '{}'", excerpt(line));
  }
  int status = 0;
  auto [ptr, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || ptr != line.data() + 12 || status < 100) {
    return fmt::format("bad status code in '{}'", excerpt(line));
  }
  status_ = status;
  http10_ = line[7] == '0';
  return std::nullopt;
}

std::optional<std::string> ResponseParser::on_header_line(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || line[colon - 1] == ' ' ||
      line.front() == ' ' || line.front() == '\t') {
    return fmt::format("bad header line '{}'", excerpt(line));
  }
  std::string_view name = line.substr(0, colon);
  std::string_view value = trim(line.substr(colon + 1));
  if (ascii_iequals(name, "content-length")) {
    uint64_t length = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
      return fmt::format("bad Content-Length '{}'", excerpt(value));
    }
    if (content_length_ && *content_length_ != length) {
      return "two different Content-Length headers";
    }
    content_length_ = length;
  } else if (ascii_iequals(name, "transfer-encoding")) {
    // Only the last coding frames the body (RFC 9112 6.1); anything else is read until close.
    size_t comma = value.rfind(',');
    std::string_view last = trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
    chunked_ = ascii_iequals(last, "chunked");
    if (!chunked_) content_length_.reset();
  } else if (ascii_iequals(name, "connection")) {
    connection_close_ = connection_close_ || has_token(value, "close");
    connection_keep_alive_ = connection_keep_alive_ || has_token(value, "keep-alive");
  } else if (ascii_iequals(name, "content-type")) {
    content_type_.assign(value);
    event_stream_ = istarts_with(value, "text/event-stream");
  }
  return std::nullopt;
}

std::optional<std::string> ResponseParser::on_headers_end() {
  keep_alive_ = !connection_close_ && (!http10_ || connection_keep_alive_);
  if (status_ < 200) {
    if (status_ == 101) return "unexpected 101 Switching Protocols";
    // An interim response (100 Continue, 103 Early Hints): the real one follows.
    const bool started = started_;
    reset();
    started_ = started;
    return std::nullopt;
  }
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (content_length_) {
    remaining_ = *content_length_;
    state_ = remaining_ == 0 ? State::kDone : State::kBodyLength;
  } else {
    state_ = State::kBodyUntilEof;
    keep_alive_ = false;
  }
  return std::nullopt;
}

ResponseParser::Feed ResponseParser::finish_at_eof() {
  if (state_ == State::kBodyUntilEof) {
    state_ = State::kDone;
    return Feed::kComplete;
  }
  if (!started_) return fail("connection closed before any byte of the response");
  switch (state_) {
    case State::kStatusLine:
    case State::kHeaders:
      return fail("connection closed in the response headers");
    case State::kBodyLength:
      return fail(fmt::format("connection closed with {} bytes of the body missing", remaining_));
    default:
      return fail("connection closed before the last chunk (chunked body cut short)");
  }
}

}  // namespace kgai::perf
