// Edge coverage for afl-fuzz from g++'s -fsanitize-coverage=trace-pc.
//
// Debian bookworm's afl++ (4.04c) ships afl-g++-fast's GCC plugin built against gcc 12.2.0-14,
// and cc1plus refuses it under the gcc 12.2.0-14+deb12u1 that bookworm now installs ("GCC and
// plugin have incompatible versions"; 4.04c has no switch to skip the check). afl-clang-fast
// cannot compile this code (clang 14 cannot parse libstdc++ 12's <expected>), and the classic
// afl-g++ (assembler rewriting) has no persistent mode. So the fuzz build compiles with plain
// g++ and -fsanitize-coverage=trace-pc, which calls the hook below at the start of every basic
// block, and links afl-compiler-rt.o from the afl++ package for the fork server, persistent
// mode and the shared coverage map. The hook records edges the way afl's own GCC plugin does:
// map[cur ^ (prev >> 1)]++, with `cur` a hash of the block's address.
//
// This file itself must not be instrumented (the hook would call itself): the attribute below
// keeps g++ from adding the call.
#include <cstdint>

extern "C" {
extern unsigned char* __afl_area_ptr;  // afl-compiler-rt.o: the coverage map (64 KiB here)
extern const char __executable_start;  // the linker's: where the executable is loaded
}

namespace {
// The previous block of this thread: edges are per thread, as in afl's instrumentation (the
// HTTP targets run the server on a second thread).
thread_local uint32_t previous_block = 0;
}  // namespace

extern "C" __attribute__((no_sanitize_coverage)) void __sanitizer_cov_trace_pc() {
  // The offset from the load address, not the address: with ASLR the addresses change from one
  // process to the next, and afl-cmin/afl-showmap compare maps across processes.
  const auto pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0)) -
                  reinterpret_cast<uintptr_t>(&__executable_start);
  // Fibonacci hashing down to 16 bits: block addresses share their low bits (alignment).
  const auto block =
      static_cast<uint32_t>((static_cast<uint64_t>(pc) * 0x9E3779B97F4A7C15ull) >> 48);
  __afl_area_ptr[block ^ previous_block]++;
  previous_block = block >> 1;
}
