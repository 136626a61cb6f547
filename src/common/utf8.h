// UTF-8 checks for text that arrives from clients (headers, paths, JSON bodies) and leaves in
// a JSON string, a log line or a Prometheus label: a single invalid byte there makes a JSON
// library throw and Prometheus reject the whole page, so such text is checked or repaired
// before it is written anywhere.
#pragma once

#include <string>
#include <string_view>

namespace kgai {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// Appends `text` with each maximal ill-formed subsequence replaced by U+FFFD (the
// replacement Unicode and the WHATWG decoder use).
void append_utf8_repaired(std::string& out, std::string_view text);
std::string repair_utf8(std::string_view text);

// At most `max_bytes` of `text`, cut at a character boundary (never inside a UTF-8 sequence).
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace kgai
