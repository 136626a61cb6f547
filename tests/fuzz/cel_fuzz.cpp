// libFuzzer target for the CEL selector compiler and evaluator. Not built by CMake; from the
// repository root:
//
//   clang++ -std=c++2b -Wno-macro-redefined -D__cpp_concepts=202002L \
//     -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Itests \
//     tests/fuzz/cel_fuzz.cpp src/dra/quantity.cpp src/dra/semver.cpp src/dra/cel*.cpp \
//     -lfmt -o /tmp/cel_fuzz
//   /tmp/cel_fuzz -max_len=4096 -timeout=5
//
// clang 14 reports concepts as 201907, which hides libstdc++ 12's <expected>; the
// -D__cpp_concepts override makes it visible (clang 14 implements what <expected> needs).
#include <cstddef>
#include <cstdint>
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
