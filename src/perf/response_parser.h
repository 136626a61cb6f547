// Incremental HTTP/1.1 response parsing for the perf client (and bench/sim_stream_load.cpp):
// any byte may arrive in any read, the body is handed out as spans of the caller's buffer, and
// nothing allocates per chunk. Private to the perf module.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/core.h>

#include "common/excerpt.h"

namespace kgai::perf {

constexpr size_t kMaxHeaderLine = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 response parser. The body goes to a sink callable as (const char*, size_t) spans
// pointing into the caller's buffer; chunked framing, chunk extensions and trailers are removed.

class ResponseParser {
 public:
  enum class Feed { kMore, kComplete, kError };

  void reset() { *this = ResponseParser(); }

  // Consumes bytes until the response ends; `*consumed` says how many (the rest belong to
  // nothing: the caller sends one request at a time).
  template <typename Sink>
  Feed feed(const char* data, size_t size, size_t* consumed, Sink&& sink);
  // The peer closed the connection.
  Feed finish_at_eof();

  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  bool event_stream() const { return event_stream_; }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  std::string_view content_type() const { return content_type_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kChunkSize,
    kChunkExtension,
    kChunkSizeLf,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kTrailer,
    kBodyLength,
    kBodyUntilEof,
    kDone,
  };

  Feed fail(std::string message) {
    error_ = std::move(message);
    return Feed::kError;
  }
  // A whole line (without CR LF) when its end is in [*p, end), else buffers the bytes.
  std::optional<std::string_view> take_line(const char** p, const char* end);
  std::optional<std::string> on_status_line(std::string_view line);
  std::optional<std::string> on_header_line(std::string_view line);
  std::optional<std::string> on_headers_end();

  State state_ = State::kStatusLine;
  std::string line_;  // a header line split across reads; keeps its capacity across resets
  bool clear_line_ = false;
  bool started_ = false;
  int status_ = 0;
  bool http10_ = false;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool event_stream_ = false;
  std::string content_type_;
  std::optional<uint64_t> content_length_;
  uint64_t remaining_ = 0;
  int size_digits_ = 0;
  size_t extension_bytes_ = 0;
  std::string error_;
};

template <typename Sink>
ResponseParser::Feed ResponseParser::feed(const char* data, size_t size, size_t* consumed,
                                          Sink&& sink) {
  const char* p = data;
  const char* const end = data + size;
  if (size > 0) started_ = true;
  while (p < end && state_ != State::kDone) {
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kTrailer: {
        const char* before = p;
        auto line = take_line(&p, end);
        if (!line) {
          if (p == before && p < end) return fail("header line longer than 16 KiB");
          break;
        }
        std::optional<std::string> error;
        if (state_ == State::kStatusLine) {
          error = on_status_line(*line);
          if (!error) state_ = State::kHeaders;
        } else if (state_ == State::kHeaders) {
          error = line->empty() ? on_headers_end() : on_header_line(*line);
        } else if (line->empty()) {
          state_ = State::kDone;  // trailer fields, if any, are ignored
        }
        if (error) return fail(std::move(*error));
        break;
      }
      case State::kChunkSize: {
        const char c = *p++;
        int digit = -1;
        if (c >= '0' && c <= '9') digit = c - '0';
        if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        if (digit >= 0) {
          if (remaining_ > (uint64_t{1} << 40)) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
          ++size_digits_;
        } else if (size_digits_ > 0 && (c == ';' || c == ' ' || c == '\t')) {
          state_ = State::kChunkExtension;
        } else if (size_digits_ > 0 && c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (size_digits_ > 0 && c == '\n') {
          return fail("chunk size line ended by a bare LF, expected CR LF");
        } else {
          return fail(fmt::format("bad byte '{}' in a chunk size", excerpt({&c, 1})));
        }
        break;
      }
      case State::kChunkExtension: {
        const auto* cr =
            static_cast<const char*>(std::memchr(p, '\r', static_cast<size_t>(end - p)));
        const char* stop = cr ? cr : end;
        extension_bytes_ += static_cast<size_t>(stop - p);
        if (extension_bytes_ > kMaxHeaderLine) return fail("chunk extension longer than 16 KiB");
        p = stop;
        if (cr) {
          ++p;
          state_ = State::kChunkSizeLf;
        }
        break;
      }
      case State::kChunkSizeLf:
        if (*p++ != '\n') return fail("chunk size line not ended by CR LF");
        size_digits_ = 0;
        extension_bytes_ = 0;
        state_ = remaining_ == 0 ? State::kTrailer : State::kChunkData;
        break;
      case State::kChunkData:
      case State::kBodyLength: {
        const auto n =
            static_cast<size_t>(std::min<uint64_t>(remaining_, static_cast<uint64_t>(end - p)));
        sink(p, n);
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = state_ == State::kChunkData ? State::kChunkDataCr : State::kDone;
        }
        break;
      }
      case State::kChunkDataCr:
        if (*p++ != '\r') return fail("chunk data not followed by CR LF (chunk size wrong?)");
        state_ = State::kChunkDataLf;
        break;
      case State::kChunkDataLf:
        if (*p++ != '\n') return fail("chunk data not followed by CR LF (chunk size wrong?)");
        state_ = State::kChunkSize;
        break;
      case State::kBodyUntilEof:
        sink(p, static_cast<size_t>(end - p));
        p = end;
        break;
      case State::kDone:
        break;
    }
  }
  *consumed = static_cast<size_t>(p - data);
  return state_ == State::kDone ? Feed::kComplete : Feed::kMore;
}

// ---------------------------------------------------------------------------------------------
// Server-sent events reader for the client: hands out each event's data (data lines joined by
// '\n'), reusing one buffer, so a token's JSON can be parsed. Other fields and comments are
// skipped. Lines longer than kMaxEventBytes are an error (a stream that never ends a line).

class SseEventReader {
 public:
  static constexpr size_t kMaxEventBytes = 4 << 20;

  void reset() {
    line_.clear();
    data_.clear();
    has_data_ = false;
    error_ = false;
  }

  // Calls on_event(std::string_view data) for each complete event that had data; stops early
  // when it returns false. Returns false on an over-long event (or when on_event stopped it).
  template <typename OnEvent>
  bool feed(const char* p, size_t size, OnEvent&& on_event);

 private:
  template <typename OnEvent>
  bool on_line(std::string_view line, OnEvent&& on_event);

  std::string line_;  // a line split across reads
  std::string data_;  // the current event's data
  bool has_data_ = false;
  bool error_ = false;
};

template <typename OnEvent>
bool SseEventReader::feed(const char* p, size_t size, OnEvent&& on_event) {
  if (error_) return false;
  const char* const end = p + size;
  while (p < end) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!nl) {
      if (line_.size() + static_cast<size_t>(end - p) > kMaxEventBytes) return !(error_ = true);
      line_.append(p, end);
      return true;
    }
    std::string_view line(p, static_cast<size_t>(nl - p));
    if (!line_.empty()) {  // the rare case: the line began in an earlier read
      line_.append(p, nl);
      line = line_;
    }
    p = nl + 1;
    const bool more = on_line(line, on_event);
    line_.clear();
    if (!more) return false;
  }
  return true;
}

template <typename OnEvent>
bool SseEventReader::on_line(std::string_view line, OnEvent&& on_event) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    // A blank line dispatches the event, if it had data (SSE: fields-only events don't).
    if (!has_data_) return true;
    has_data_ = false;
    const bool more = on_event(std::string_view(data_));
    data_.clear();
    return more;
  }
  if (!line.starts_with("data:")) return true;  // event:, id:, retry:, comments
  line.remove_prefix(5);
  if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (has_data_) data_ += '\n';
  if (data_.size() + line.size() > kMaxEventBytes) return !(error_ = true);
  data_.append(line);
  has_data_ = true;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Server-sent events scanner: counts events, spots `data: [DONE]` and in-band errors
// (`data: {"error": ...}`, which vLLM sends once the 200 headers are out). Only the first bytes
// of each line are kept; the rest of a token's JSON is skipped with memchr.

class SseScanner {
 public:
  enum class Event { kData, kDone, kError };

  void reset() {
    head_len_ = 0;
    line_len_ = 0;
    last_ = 0;
    capturing_ = false;
    error_text_.clear();
    event_data_lines_ = 0;
    event_done_ = false;
    event_error_ = false;
  }

  // Calls on_event(Event) for each complete event.
  template <typename OnEvent>
  void feed(const char* p, size_t size, OnEvent&& on_event) {
    const char* const end = p + size;
    while (p < end) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* stop = nl ? nl : end;
      const auto take = static_cast<size_t>(stop - p);
      size_t copied = 0;
      if (head_len_ < kHead) {
        copied = std::min(take, kHead - head_len_);
        std::memcpy(head_ + head_len_, p, copied);
        head_len_ += copied;
        if (head_len_ == kHead && error_line()) {
          capturing_ = true;
          error_text_.assign(head_ + value_offset(), kHead - value_offset());
        }
      }
      if (capturing_ && take > copied && error_text_.size() < kMaxErrorBody) {
        error_text_.append(p + copied, std::min(take - copied, kMaxErrorBody - error_text_.size()));
      }
      if (take > 0) {
        last_ = stop[-1];
        line_len_ += take;
      }
      if (!nl) break;
      end_line(on_event);
      p = nl + 1;
    }
  }

  // The error event's data, for the report.
  const std::string& error_text() const { return error_text_; }

 private:
  static constexpr size_t kHead = 16;  // holds `data: {"error"` and `data: [DONE]`

  size_t value_offset() const { return head_len_ > 5 && head_[5] == ' ' ? 6 : 5; }
  bool data_line() const { return head_len_ >= 5 && std::memcmp(head_, "data:", 5) == 0; }
  bool error_line() const {
    const size_t v = value_offset();
    return data_line() && head_len_ >= v + 8 && std::memcmp(head_ + v, "{\"error\"", 8) == 0;
  }

  template <typename OnEvent>
  void end_line(OnEvent&& on_event) {
    size_t len = line_len_;
    if (len > 0 && last_ == '\r') --len;
    if (len == 0) {
      // A blank line dispatches the event, if it had data (SSE: fields-only events don't).
      if (event_data_lines_ > 0) {
        on_event(event_error_                            ? Event::kError
                 : event_data_lines_ == 1 && event_done_ ? Event::kDone
                                                         : Event::kData);
      }
      event_data_lines_ = 0;
      event_done_ = false;
      event_error_ = false;
      error_text_.clear();
    } else if (len >= 5 && data_line()) {
      ++event_data_lines_;
      const size_t v = value_offset();
      event_done_ = len == v + 6 && std::memcmp(head_ + v, "[DONE]", 6) == 0;
      event_error_ = event_error_ || capturing_;
    }  // other fields (event:, id:, retry:) and comments do not matter here
    head_len_ = 0;
    line_len_ = 0;
    last_ = 0;
    capturing_ = false;
  }

  char head_[kHead] = {};
  size_t head_len_ = 0;
  size_t line_len_ = 0;
  char last_ = 0;
  bool capturing_ = false;
  std::string error_text_;
  int event_data_lines_ = 0;
  bool event_done_ = false;
  bool event_error_ = false;
};

}  // namespace kgai::perf
