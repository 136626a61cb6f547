#include "common/json_string.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "common/utf8.h"

namespace kgai {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// The high bit of each byte of `w` that needs escaping ('"', '\\' or below 0x20), bytes in
// memory order from the lowest. A borrow may set bits above the lowest set one by mistake; the
// lowest is always right, and it is the only one used.
constexpr uint64_t escape_bits(uint64_t w) {
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t backslash = w ^ (kOnes * '\\');
  const uint64_t any =
      ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) | ((w - kOnes * 0x20) & ~w);
  return any & kHighBits;
}

uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// What replaces each byte: "" = itself.
constexpr std::array<std::array<char, 7>, 256> make_escapes() {
  std::array<std::array<char, 7>, 256> table{};
  constexpr char kHex[] = "0123456789abcdef";
  for (int c = 0; c < 0x20; ++c) {
    table[c] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15], 0};
  }
  table['\b'] = {'\\', 'b'};
  table['\f'] = {'\\', 'f'};
  table['\n'] = {'\\', 'n'};
  table['\r'] = {'\\', 'r'};
  table['\t'] = {'\\', 't'};
  table['"'] = {'\\', '"'};
  table['\\'] = {'\\', '\\'};
  return table;
}
constexpr auto kEscapes = make_escapes();

// `text` is valid UTF-8.
void append_escaped_valid(std::string& out, std::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;  // start of the bytes not yet copied
  auto escape_at = [&](const char* at) {
    out.append(run, at);
    out.append(kEscapes[static_cast<unsigned char>(*at)].data());
    run = at + 1;
  };
  // Mostly plain text: skip clean bytes a word at a time and jump straight to the next byte
  // to escape (the word trick needs little-endian loads; others go byte by byte).
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 16) {
      if ((escape_bits(load8(p)) | escape_bits(load8(p + 8))) == 0) {
        p += 16;
        continue;
      }
      const uint64_t bits = escape_bits(load8(p));
      if (bits == 0) {
        p += 8;
        continue;
      }
      p += std::countr_zero(bits) / 8;
      escape_at(p++);
    }
  }
  for (; p < end; ++p) {
    if (kEscapes[static_cast<unsigned char>(*p)][0] != 0) escape_at(p);
  }
  out.append(run, end);
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  if (is_valid_utf8(text)) {
    append_escaped_valid(out, text);
  } else {
    append_escaped_valid(out, repair_utf8(text));
  }
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

std::string json_string(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

}  // namespace kgai
