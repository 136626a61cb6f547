// CEL device selectors (src/dra/cel.h): the compiler (lexer, parser, checker) and the
// evaluator against a fixed GPU device, the way `kgai dra` runs the selectors of users'
// DeviceClass and ResourceClaim files. The limits (expression size, nesting, cost) are the
// defaults, so a slow input is one users can write too.
#include "dra/cel.h"
#include "fuzz/fuzz_target.h"
#include "unit/dra/cel_test_device.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kgai::dra::cel::testing::TestDevice device;
  auto program = kgai::dra::cel::compile(kgai::fuzz::as_text(data, size));
  if (program) (void)program->evaluate(device.view);
  return 0;
}
