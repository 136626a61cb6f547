#include "common/utf8.h"

#include <simdjson.h>

namespace kgai {
namespace {

// Length of the well-formed sequence starting at text[i], or 0 when it is ill-formed. On 0,
// `bad` is the length of the maximal ill-formed prefix to replace by one U+FFFD.
std::size_t sequence_length(std::string_view text, std::size_t i, std::size_t& bad) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  bad = 1;
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the range allowed for the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if (i + k >= text.size()) return 0;
    const unsigned char b = byte(i + k);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    bad = k + 1;
  }
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

void append_utf8_repaired(std::string& out, std::string_view text) {
  if (is_valid_utf8(text)) {
    out.append(text);
    return;
  }
  std::size_t start = 0, i = 0;
  while (i < text.size()) {
    std::size_t bad = 1;
    const std::size_t n = sequence_length(text, i, bad);
    if (n != 0) {
      i += n;
      continue;
    }
    out.append(text.data() + start, i - start);
    out.append("\xEF\xBF\xBD");  // U+FFFD
    i += bad;
    start = i;
  }
  out.append(text.data() + start, text.size() - start);
}

std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_utf8_repaired(out, text);
  return out;
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Back up over continuation bytes to the start of the character that does not fit.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace kgai
