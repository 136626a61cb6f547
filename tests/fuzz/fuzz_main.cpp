// The main() of every fuzz target.
//
// With afl-fuzz (KGAI_FUZZ_AFL): persistent mode with the test case in shared memory, the
// protocol of afl-compiler-rt.o that afl-cc's __AFL_LOOP / __AFL_FUZZ_TESTCASE_BUF macros
// wrap. It is spelled out here because the fuzz build compiles with plain g++ (see
// afl_coverage.cpp for why). One process runs kLoopIterations inputs before afl-fuzz forks a
// fresh one, which also bounds state that leaks from one input into the next.
//
// Either way, files (or directories of files) named on the command line are each run once:
// that replays a crash, also in a plain or sanitizer build without afl.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace {

int replay(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path path(argv[i]);
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(path);
    }
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", file.c_str());
      return 2;
    }
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    std::fprintf(stderr, "running %s (%zu bytes)\n", file.c_str(), data.size());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::fprintf(stderr, "ran %zu inputs\n", files.size());
  return 0;
}

}  // namespace

#ifdef KGAI_FUZZ_AFL

extern "C" {
// Tells afl-compiler-rt.o that this harness takes its input from shared memory.
int __afl_sharedmem_fuzzing = 1;
extern unsigned int* __afl_fuzz_len;
extern unsigned char* __afl_fuzz_ptr;
int __afl_persistent_loop(unsigned int max_count);
void __afl_manual_init();
}

// afl-fuzz scans the binary for these markers to switch on persistent mode and the deferred
// fork server; `used` keeps them in the binary.
__attribute__((used)) static const volatile char* kPersistentSignature = "##SIG_AFL_PERSISTENT##";
__attribute__((used)) static const volatile char* kDeferredSignature = "##SIG_AFL_DEFER_FORKSRV##";

namespace {
constexpr unsigned kLoopIterations = 10000;
}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) return replay(argc, argv);
  // The fork server starts here, before any target state exists: targets start their threads
  // (servers, event loops) lazily on their first input, so each forked child gets its own.
  __afl_manual_init();
  while (__afl_persistent_loop(kLoopIterations)) {
    // A heap copy of exactly the input's size, so a sanitizer build sees reads past its end
    // (the shared-memory buffer is larger).
    std::vector<uint8_t> input;
    if (__afl_fuzz_ptr != nullptr) {
      input.assign(__afl_fuzz_ptr, __afl_fuzz_ptr + *__afl_fuzz_len);
    } else {  // run by hand, without afl-fuzz: one input from stdin
      input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  return 0;
}

#else

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  return replay(argc, argv);
}

#endif
