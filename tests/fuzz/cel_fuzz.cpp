// libFuzzer target for the CEL selector compiler and evaluator. Not built by CMake; from the
// repository root, with a clang whose __cpp_concepts is at least 202002L (libstdc++ 12's
// <expected> needs it; clang 14, the one in this image, reports 201907 and cannot build it):
//
//   clang++ -std=c++2b -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Itests \
//     tests/fuzz/cel_fuzz.cpp src/dra/quantity.cpp src/dra/semver.cpp src/dra/cel*.cpp \
//     -lfmt -o /tmp/cel_fuzz
//   /tmp/cel_fuzz -max_len=4096 -timeout=5
//
// With g++ (no coverage-guided fuzzing, but it replays inputs, e.g. crashes found elsewhere,
// under the sanitizers):
//
//   g++ -std=c++23 -g -fsanitize=address,undefined -DKGAI_FUZZ_REPLAY_MAIN -Isrc -Itests \
//     tests/fuzz/cel_fuzz.cpp src/dra/quantity.cpp src/dra/semver.cpp src/dra/cel*.cpp \
//     -lfmt -o /tmp/cel_replay
//   /tmp/cel_replay FILE...
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "dra/cel.h"
#include "unit/dra/cel_test_device.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kgai::dra::cel::testing::TestDevice device;
  std::string_view expression(reinterpret_cast<const char*>(data), size);
  auto program = kgai::dra::cel::compile(expression);
  if (program) (void)program->evaluate(device.view);
  return 0;
}

#ifdef KGAI_FUZZ_REPLAY_MAIN
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  return 0;
}
#endif
