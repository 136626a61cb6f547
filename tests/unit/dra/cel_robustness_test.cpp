// Random mutations of valid selectors must compile to a Program or an error, and evaluate to
// a bool or an error: never a crash, a hang or a stack overflow.
#include <random>

#include <gtest/gtest.h>

#include "dra/cel.h"
#include "unit/dra/cel_test_device.h"

namespace kgai::dra::cel {
namespace {

constexpr std::string_view kSeeds[] = {
    "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'",
    "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('40Gi')) >= 0",
    "device.attributes['gpu.nvidia.com'].driverVersion.isGreaterThan(semver('535.0.0'))",
    "has(device.attributes['gpu.nvidia.com'].productName) ? "
    "device.attributes['gpu.nvidia.com'].productName.matches('^NVIDIA H[0-9]+') : false",
    "[1, 2, 3].map(x, x * 2).exists(y, y == 4) || {'a': 1u, 'b': 2.5}.all(k, k in ['a', 'b'])",
    "'model' in device.attributes['gpu.nvidia.com'] || size(\"\"\"h\\u00e9\"\"\") == 2",
    "quantity('1.5').add(24).sub(quantity('500m')).asInteger() == 25 && "
    "-9223372036854775807 - 1 < 0x7f",
    "!(1 / 0 == 1) || r'\\d+'.startsWith(b'x' == b'\\x78' ? 'x' : 'y') && int('3') % 2 == 1",
};

constexpr std::string_view kGrammar[] = {"(",        ")",
                                         "[",        "]",
                                         "{",        "}",
                                         ".",        ",",
                                         ":",        "?",
                                         "!",        "-",
                                         "+",        "*",
                                         "/",        "%",
                                         "<",        ">",
                                         "=",        "==",
                                         "&&",       "||",
                                         "'",        "\"",
                                         "'''",      "\\",
                                         "\\u",      "\\x",
                                         "r'",       "b'",
                                         "in",       "has(",
                                         ".all(x, ", ".map(",
                                         "device",   "device.attributes[",
                                         "1",        "0x",
                                         "1e",       "u",
                                         ".5",       "null",
                                         "true",     " ",
                                         "\n",       "\xc3",
                                         "\xff",     "quantity('",
                                         "semver('", ".matches('(a+)+",
                                         "@"};

std::string mutate(std::string text, std::mt19937& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int rounds = 1 + static_cast<int>(pick(4));
  for (int r = 0; r < rounds; ++r) {
    size_t pos = text.empty() ? 0 : pick(text.size() + 1);
    switch (pick(6)) {
      case 0:  // flip a byte
        if (!text.empty()) text[pick(text.size())] = static_cast<char>(pick(256));
        break;
      case 1:  // truncate
        text.resize(pos);
        break;
      case 2:  // insert grammar
      case 3:
        text.insert(pos, kGrammar[pick(std::size(kGrammar))]);
        break;
      case 4:  // delete a span
        if (!text.empty() && pos < text.size()) text.erase(pos, 1 + pick(8));
        break;
      case 5:  // duplicate a span (grows nesting)
        if (!text.empty() && pos < text.size()) text.insert(pos, text.substr(pos, 1 + pick(30)));
        break;
    }
  }
  return text;
}

TEST(CelRobustnessTest, RandomMutationsNeverCrashOrHang) {
  const testing::TestDevice device;
  std::mt19937 rng(20260418);
  int compiled = 0, evaluated_true = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string text = mutate(std::string(kSeeds[i % std::size(kSeeds)]), rng);
    auto program = compile(text);
    if (!program) {
      EXPECT_FALSE(program.error().message.empty()) << text;
      continue;
    }
    ++compiled;
    auto result = program->evaluate(device.view);
    if (result) {
      evaluated_true += *result;
    } else {
      EXPECT_FALSE(result.error().message.empty()) << text;
    }
  }
  // Some mutations stay valid; most do not. Both paths were exercised.
  EXPECT_GT(compiled, 100);
  EXPECT_LT(compiled, 20'000);
  EXPECT_GT(evaluated_true, 0);
}

}  // namespace
}  // namespace kgai::dra::cel
