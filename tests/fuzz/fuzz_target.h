// The interface every fuzz target implements: libFuzzer's entry point, so a target also builds
// under libFuzzer with a clang that can compile this code. tests/fuzz/fuzz_main.cpp drives it
// from afl-fuzz (persistent mode) or replays files given on the command line.
//
// A target returns normally for any input. A finding is anything else: a crash, a sanitizer
// report, an uncaught exception, a failed FUZZ_CHECK, or running past afl-fuzz's -t timeout.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace kgai::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", file, line, what);
  std::abort();
}

// Splits off the text up to the first '\n' (dropped) for targets that take two inputs, such
// as a model name and a body; without a newline, all of `rest` is the line.
inline std::string_view take_line(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

// Cuts `text` into pieces of 1 to 64 bytes, sizes drawn from `seed`: the reads an incremental
// parser sees from a socket. Targets parse the pieces and the whole and compare.
template <typename F>
void for_each_piece(std::string_view text, uint32_t seed, F&& f) {
  uint32_t state = seed * 2654435761u + 1;
  while (!text.empty()) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    const size_t n = std::min<size_t>(text.size(), 1 + state % 64);
    f(text.substr(0, n));
    text.remove_prefix(n);
  }
}

}  // namespace kgai::fuzz

// An invariant of the code under test. Unlike assert() it stays on in every build type, since
// a property a fuzzer cannot check is one it cannot find a violation of.
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::kgai::fuzz::check_failed(#cond, __FILE__, __LINE__))
