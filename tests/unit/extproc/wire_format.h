// A protobuf wire-format writer for tests, independent of the protobuf library: the bytes
// Envoy (or any other peer) would put on the wire, built from field numbers alone, to check
// that kgai's generated code reads and writes the same numbers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kgai::test::wire {

inline std::string varint(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

// Wire types: 0 varint, 2 length-delimited.
inline std::string tag(uint32_t field, uint32_t wire_type) {
  return varint((uint64_t{field} << 3) | wire_type);
}

inline std::string varint_field(uint32_t field, uint64_t value) {
  return tag(field, 0) + varint(value);
}

inline std::string bytes_field(uint32_t field, std::string_view bytes) {
  return tag(field, 2) + varint(bytes.size()) + std::string(bytes);
}

}  // namespace kgai::test::wire
