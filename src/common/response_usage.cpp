#include "common/response_usage.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/ascii.h"

namespace kgai {
namespace {

constexpr std::string_view kUsageKey = "\"usage\"";
constexpr std::size_t npos = std::string_view::npos;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view text, std::size_t i) {
  while (i < text.size() && is_json_space(text[i])) ++i;
  return i;
}

// Where the first `"usage"` at or after `from` starts, or npos. memchr for its 'g', the rare
// byte of it in completion chunks, then a look around: glibc's memmem over the 7-byte key
// made feeding a 200-token stream twice as slow (bench/response_usage_bench.cpp).
std::size_t find_usage_key(std::string_view text, std::size_t from) {
  const char* const data = text.data();
  for (std::size_t g = from + 4; g + 2 < text.size(); ++g) {
    const auto* hit = static_cast<const char*>(std::memchr(data + g, 'g', text.size() - g));
    if (hit == nullptr) return npos;
    g = static_cast<std::size_t>(hit - data);
    if (g + 2 < text.size() && std::memcmp(data + g - 4, "\"usa", 4) == 0 && data[g + 1] == 'e' &&
        data[g + 2] == '"') {
      return g - 4;
    }
  }
  return npos;
}

// Where the object value of the first "usage" key at or after `from` opens ('{'), or npos.
// Inside a JSON string every '"' is escaped, so `"usage"` followed by ':' is always a key.
std::size_t find_usage_object(std::string_view text, std::size_t from) {
  for (std::size_t key = find_usage_key(text, from); key != npos;
       key = find_usage_key(text, key + 1)) {
    std::size_t i = skip_space(text, key + kUsageKey.size());
    if (i < text.size() && text[i] == ':') {
      i = skip_space(text, i + 1);
      if (i < text.size() && text[i] == '{') return i;
    }
  }
  return npos;
}

// One past the '}' that closes the object opening at `open`, or npos when `text` ends first.
// Brackets inside strings do not count; mismatched ones are left for the JSON parser to reject.
std::size_t object_end(std::string_view text, std::size_t open) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return npos;
}

}  // namespace

UsageFields last_usage_in(std::string_view text, OpenAiJson& json) {
  std::size_t open = npos;
  for (std::size_t at = find_usage_object(text, 0); at != npos;
       at = find_usage_object(text, at + 1)) {
    open = at;
  }
  if (open == npos) return {};
  const std::size_t end = object_end(text, open);
  if (end == npos) return {};
  std::string alone = "{\"usage\":";
  alone.append(text.substr(open, end - open));
  alone += '}';
  BodyFields fields;
  std::string error;
  if (!json.parse_body(alone, &fields, &error)) return {};
  return fields.usage;
}

ResponseUsageReader::Body ResponseUsageReader::body_of(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return ascii_iequals(media, "text/event-stream") ? Body::kEventStream : Body::kJson;
}

ResponseUsageReader::ResponseUsageReader(Body body, ResponseUsageLimits limits)
    : body_(body), limits_(limits) {
  // The body's tail is cut from what max_body_bytes kept, so it cannot be longer.
  limits_.tail_bytes = std::min(limits_.tail_bytes, limits_.max_body_bytes);
}

void ResponseUsageReader::feed(std::string_view chunk) {
  if (body_ == Body::kEventStream) {
    feed_event_stream(chunk);
  } else {
    feed_json(chunk);
  }
}

std::size_t ResponseUsageReader::buffered_bytes() const {
  return event_.size() + usage_event_.size() + body_text_.size();
}

// ---------------------------------------------------------------------------------------------
// text/event-stream: lines found with memchr, data lines copied into event_ (the one copy),
// every other line skipped. At an event's end one memmem over its data decides whether it is
// kept as the usage event; the JSON parse waits for finish().

void ResponseUsageReader::feed_event_stream(std::string_view chunk) {
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  while (p < end) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = nl != nullptr ? nl : end;
    take(p, static_cast<std::size_t>(stop - p));
    if (nl == nullptr) return;
    end_line();
    p = nl + 1;
  }
}

// Bytes of the current line, without its '\n'.
void ResponseUsageReader::take(const char* p, std::size_t n) {
  if (n == 0) return;
  line_bytes_ += n;
  line_cr_ = p[n - 1] == '\r';
  if (line_ == Line::kStart) {
    const std::size_t copied = std::min(n, kHead - head_len_);
    std::memcpy(head_ + head_len_, p, copied);
    head_len_ += copied;
    if (head_len_ < kHead) return;  // the line ends, or more bytes come, before it is known
    classify_line();
    p += copied;
    n -= copied;
  }
  if (line_ == Line::kData) append_data(p, n);
}

// Decides from head_ whether the line is a data line; if so, starts its value in event_.
void ResponseUsageReader::classify_line() {
  if (head_len_ < 5 || std::memcmp(head_, "data:", 5) != 0) {
    line_ = Line::kSkip;  // event:, id:, retry:, comments: nothing of the usage is there
    return;
  }
  line_ = Line::kData;
  // Data lines of one event join with '\n' (SSE); a JSON event may span several.
  if (event_has_data_) append_data("\n", 1);
  event_has_data_ = true;
  const std::size_t value = head_len_ > 5 && head_[5] == ' ' ? 6 : 5;
  append_data(head_ + value, head_len_ - value);
}

void ResponseUsageReader::append_data(const char* p, std::size_t n) {
  if (event_too_big_ || n == 0) return;
  if (event_.size() + n > limits_.max_event_bytes) {
    event_too_big_ = true;
    event_.clear();  // keeps its capacity, which the limit bounds
    return;
  }
  event_.append(p, n);
}

void ResponseUsageReader::end_line() {
  if (line_ == Line::kStart) {
    if (line_bytes_ == 0 || (line_bytes_ == 1 && line_cr_)) {
      end_event();
    } else {
      classify_line();  // a line shorter than head_, such as "data:"
    }
  }
  // A "\r\n" line end leaves its '\r' as the last byte of the value.
  if (line_ == Line::kData && line_cr_ && !event_too_big_ && !event_.empty()) event_.pop_back();
  line_ = Line::kStart;
  head_len_ = 0;
  line_bytes_ = 0;
  line_cr_ = false;
}

// A blank line: the event is complete.
void ResponseUsageReader::end_event() {
  if (event_has_data_ && !event_too_big_ && find_usage_object(event_, 0) != npos) {
    usage_event_.swap(event_);  // both keep their capacity: no allocation once warm
  }
  event_.clear();
  event_has_data_ = false;
  event_too_big_ = false;
}

// ---------------------------------------------------------------------------------------------
// application/json: the body as it comes, then only its tail.

void ResponseUsageReader::feed_json(std::string_view chunk) {
  if (!body_cut_) {
    if (body_text_.size() + chunk.size() <= limits_.max_body_bytes) {
      body_text_.append(chunk);
      return;
    }
    // Over the limit: from now on a tail, in a buffer of its own so the big one is freed.
    body_cut_ = true;
    std::string tail;
    tail.reserve(2 * limits_.tail_bytes);
    if (chunk.size() < limits_.tail_bytes) {
      const std::size_t from_body = std::min(body_text_.size(), limits_.tail_bytes - chunk.size());
      tail.append(std::string_view(body_text_).substr(body_text_.size() - from_body));
    }
    body_text_.swap(tail);
  }
  // Between tail_bytes and twice that are kept, so the buffer moves once per tail_bytes fed.
  if (chunk.size() >= limits_.tail_bytes) {
    body_text_.assign(chunk.substr(chunk.size() - limits_.tail_bytes));
    return;
  }
  if (body_text_.size() + chunk.size() > 2 * limits_.tail_bytes) {
    body_text_.erase(0, body_text_.size() + chunk.size() - limits_.tail_bytes);
  }
  body_text_.append(chunk);
}

// ---------------------------------------------------------------------------------------------

UsageFields ResponseUsageReader::finish(OpenAiJson& json) const {
  ChunkFields chunk;
  std::string error;
  if (body_ == Body::kEventStream) {
    // The event the stream ended in, if it has usage; else the last complete one that had.
    if (event_has_data_ && !event_too_big_ && find_usage_object(event_, 0) != npos &&
        json.parse_chunk(event_, &chunk, &error) && chunk.usage.reported) {
      return chunk.usage;
    }
    if (!usage_event_.empty() && json.parse_chunk(usage_event_, &chunk, &error)) {
      return chunk.usage;
    }
    return {};
  }
  if (!body_cut_) {
    BodyFields fields;
    if (json.parse_body(body_text_, &fields, &error)) return fields.usage;
  }
  // The last tail_bytes exactly, whatever the buffer held beyond them, so that where the
  // chunks were cut cannot change the answer.
  std::string_view tail = body_text_;
  if (tail.size() > limits_.tail_bytes) tail.remove_prefix(tail.size() - limits_.tail_bytes);
  return last_usage_in(tail, json);
}

UsageFields ResponseUsageReader::finish() const {
  OpenAiJson json;
  return finish(json);
}

}  // namespace kgai
