#include "perf/request_body.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

namespace kgai::perf {
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

}  // namespace

void append_json_string(std::string* out, std::string_view s) {
  out->push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;  // start of the bytes not yet copied
  auto escape_at = [&](const char* at) {
    out->append(run, at);
    out->append(kEscapes[static_cast<unsigned char>(*at)].data());
    run = at + 1;
  };
  // Prompts are mostly plain text: skip clean bytes a word at a time and jump straight to the
  // next byte to escape (the word trick needs little-endian loads; others go byte by byte).
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
  out->append(run, end);
  out->push_back('"');
}

RequestBodyRenderer::RequestBodyRenderer(const PerfConfig& config, std::string_view model)
    : chat_(config.api.type == "chat") {
  model_ = "\"model\":";
  append_json_string(&model_, model);
  if (config.server.ignore_eos) suffix_ += ",\"ignore_eos\":true";
  if (config.api.streaming)
    suffix_ += ",\"stream\":true,\"stream_options\":{\"include_usage\":true}";
  suffix_ += '}';
}

std::string RequestBodyRenderer::render(const Prompt& prompt, std::string_view lora) const {
  // Room for the fixed parts and a little escaping, so the string grows at most rarely.
  size_t text = prompt.text.size();
  for (const auto& m : prompt.messages) text += m.role.size() + m.content.size() + 32;
  std::string body;
  body.reserve(model_.size() + lora.size() + suffix_.size() + text + text / 16 + 64);
  body.push_back('{');
  if (lora.empty()) {
    body.append(model_);
  } else {
    body.append("\"model\":");
    append_json_string(&body, lora);
  }
  const fmt::format_int max_tokens(prompt.output_tokens);
  body.append(",\"max_tokens\":").append(max_tokens.data(), max_tokens.size());
  if (chat_) {
    body.append(",\"messages\":[");
    for (size_t i = 0; i < prompt.messages.size(); ++i) {
      body.append(i == 0 ? "{\"role\":" : ",{\"role\":");
      append_json_string(&body, prompt.messages[i].role);
      body.append(",\"content\":");
      append_json_string(&body, prompt.messages[i].content);
      body.push_back('}');
    }
    body.push_back(']');
  } else {
    body.append(",\"prompt\":");
    append_json_string(&body, prompt.text);
  }
  body.append(suffix_);
  return body;
}

}  // namespace kgai::perf
