#include "dra/cel.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "unit/dra/cel_test_device.h"

namespace kgai::dra::cel {
namespace {

using testing::TestDevice;

Result<bool> run(std::string_view expression, const Limits& limits = {}) {
  static const TestDevice device;
  auto program = compile(expression, limits);
  if (!program) return fail(std::move(program.error()));
  return program->evaluate(device.view);
}

struct Case {
  std::string_view expression;
  bool expected;
};

void expect_all(std::initializer_list<Case> cases) {
  for (const auto& [expression, expected] : cases) {
    auto result = run(expression);
    ASSERT_TRUE(result.has_value()) << expression << ": " << result.error().message;
    EXPECT_EQ(*result, expected) << expression;
  }
}

struct ErrorCase {
  std::string_view expression;
  std::string_view message;  // a substring of the error
};

void expect_errors(std::initializer_list<ErrorCase> cases, const Limits& limits = {}) {
  for (const auto& [expression, message] : cases) {
    auto result = run(expression, limits);
    ASSERT_FALSE(result.has_value()) << expression << " gave " << *result;
    EXPECT_NE(result.error().message.find(message), std::string::npos)
        << expression << ": got '" << result.error().message << "', want '" << message << "'";
  }
}

TEST(CelTest, LiteralsArithmeticAndPrecedence) {
  expect_all({
      {"1 + 2 * 3 == 7", true},
      {"(1 + 2) * 3 == 9", true},
      {"10 - 4 - 3 == 3", true},
      {"7 / 2 == 3 && 7 % 2 == 1", true},
      {"-7 / 2 == -3", true},
      {"-(3) == -3", true},
      {"--3 == 3", true},
      {"2u * 3u == 6u", true},
      {"0x1F == 31", true},
      {"1.5 + 1.5 == 3.0", true},
      {".5 == 0.5 && 1e3 == 1000.0 && 2E-1 == 0.2", true},
      {"1 == 1.0 && 1u == 1 && 2 > 1.5 && 1u < 2", true},
      {"-9223372036854775808 < 0", true},
      {"'a' + \"b\" == 'ab'", true},
      {"'''tri'ple''' == \"tri'ple\"", true},
      {"\"\"\"two\nlines\"\"\" == 'two\\nlines'", true},
      {"r'a\\d' == 'a\\\\d'", true},
      {"r'\\' == '\\\\' && R\"\\n\" == '\\\\n'", true},
      {"int(-9223372036854775808.0) < 0", true},
      {"'\\x41\\u00e9\\101\\t' == 'Aé' + 'A' + '\\t'", true},
      {"b'ab' == b'\\x61b' && size(b'\\xff') == 1", true},
      {"true != false && !false", true},
      {"null == null", true},
      {"[1, 2, 3] == [1, 2, 3] && [1] != [2]", true},
      {"{'a': 1, 'b': 2} == {'b': 2, 'a': 1}", true},
      {"{'a': 1}['a'] == 1 && {'a': {'b': true}}.a.b", true},
      {"[1, [2, 3]][1][0] == 2", true},
      {"[1, 2,] == [1, 2]", true},
      {"1 < 2 == true", true},
      {"'abc' < 'abd' && 'b' > 'abc' && 'a' <= 'a'", true},
      {"false < true", true},
      {"int('42') == 42 && uint(42) == 42u && double(1) == 1.0", true},
      {"string(42) == '42' && string(1.5) == '1.5' && string(true) == 'true'", true},
      {"int(2.9) == 2 && int(-2.9) == -2 && bool('true')", true},
      {"[1, 2] + [3] == [1, 2, 3]", true},
      {"1 // a comment\n == 1", true},
  });
}

TEST(CelTest, StringFunctions) {
  expect_all({
      {"size('héllo') == 5", true},
      {"'héllo'.size() == 5 && size([1, 2]) == 2 && size({'a': 1}) == 1", true},
      {"'nvidia-h100'.contains('h100')", true},
      {"'nvidia-h100'.startsWith('nvidia') && 'nvidia-h100'.endsWith('100')", true},
      {"!'abc'.startsWith('b')", true},
      {"'H100'.matches('^H[0-9]+$') && !'A100'.matches('^H')", true},
      {"matches('abc', 'b')", true},
      {"'a1'.matches('[0-9]' + '$')", true},
      {"'MiXeD'.lowerAscii() == 'mixed' && 'MiXeD'.upperAscii() == 'MIXED'", true},
  });
}

TEST(CelTest, InHasAndTernary) {
  expect_all({
      {"2 in [1, 2, 3] && !(4 in [1, 2, 3])", true},
      {"'a' in {'a': 1} && !('b' in {'a': 1})", true},
      {"'type' in device.attributes['gpu.nvidia.com']", true},
      {"!('model' in device.attributes['gpu.nvidia.com'])", true},
      {"!('x' in device.attributes['unknown.example.com'])", true},
      {"size(device.attributes['unknown.example.com']) == 0", true},
      {"'gpu.nvidia.com' in device.attributes", true},
      {"!('unknown.example.com' in device.attributes)", true},
      {"!has(device.capacity.unknown) && has(device.capacity['gpu.nvidia.com'].memory)", true},
      {"size(device.capacity.unknown) == 0", true},
      {"has(device.attributes['gpu.nvidia.com'].type)", true},
      {"!has(device.attributes['gpu.nvidia.com'].model)", true},
      {"!has(device.attributes['unknown.example.com'].model)", true},
      {"has(device.driver)", true},
      {"has({'a': 1}.a)", true},
      {"true ? true : false", true},
      {"1 > 2 ? false : true", true},
      {"(device.driver == 'x' ? 1 : 2) == 2", true},
  });
}

TEST(CelTest, ShortCircuitAbsorbsErrorsBothWays) {
  expect_all({
      {"false && device.attributes['gpu.nvidia.com'].model == 'x'", false},
      {"device.attributes['gpu.nvidia.com'].model == 'x' && false", false},
      {"true || device.attributes['gpu.nvidia.com'].model == 'x'", true},
      {"device.attributes['gpu.nvidia.com'].model == 'x' || true", true},
      {"1 / 0 == 1 || 2 > 1", true},
      {"[0, 1].exists(x, 1 / x == 1)", true},
      {"![0, 1].all(x, 1 / x == 2)", true},
      {"true ? true : 1 / 0 == 1", true},
  });
  expect_errors({
      {"true && device.attributes['gpu.nvidia.com'].model == 'x'", "no such key: model"},
      {"false || 1 / 0 == 1", "division by zero"},
      {"1 / 0 == 1 || 1 % 0 == 1", "division by zero"},
      {"[1, 0].all(x, 1 / x == 1)", "division by zero"},
  });
}

TEST(CelTest, DeviceSelectors) {
  expect_all({
      {"device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'",
       true},
      {"device.attributes['gpu.nvidia.com'].type == 'mig'", false},
      {"device.attributes['gpu.nvidia.com']['productName'].contains('H100')", true},
      {"device.attributes['gpu.nvidia.com'].index == 3 && !device.attributes['gpu.nvidia.com'].mig",
       true},
      {"device.attributes['resource.kubernetes.io'].pcieRoot == 'pci0000:00'", true},
      {"device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('40Gi')) > 0", true},
      {"device.capacity['gpu.nvidia.com'].memory.isGreaterThan(quantity('80Gi'))", false},
      {"device.capacity['gpu.nvidia.com'].memory == quantity('81920Mi')", true},
      {"device.attributes['gpu.nvidia.com'].driverVersion.isGreaterThan(semver('535.0.0'))", true},
      {"device.attributes['gpu.nvidia.com'].cudaComputeCapability.major() >= 9", true},
      {"!device.allowMultipleAllocations", true},
      {"device.attributes['gpu.nvidia.com'].type != 7", true},
      {"device.attributes['gpu.nvidia.com'].all(k, k.size() > 0)", true},
  });
}

TEST(CelTest, MissingKeysAndRuntimeErrors) {
  expect_errors({
      {"device.attributes['gpu.nvidia.com'].id == 'x'", "no such key: id"},
      {"device.attributes['gpu.nvidia.com']['id'] == 'x'", "no such key: id"},
      {"device.attributes['unknown.example.com'].id == 1", "no such key: id"},
      {"device.capacity['gpu.nvidia.com'].cores.sign() == 1", "no such key: cores"},
      {"{'a': 1}.b == 1", "no such key: b"},
      {"[1][1] == 1", "index out of bounds: 1"},
      {"9223372036854775807 + 1 > 0", "integer overflow"},
      {"-9223372036854775808 - 1 < 0", "integer overflow"},
      {"0u - 1u > 0u", "unsigned integer overflow"},
      {"1 % 0 == 0", "modulus by zero"},
      {"int('x') == 1", "cannot convert string 'x' to int"},
      {"uint(-1) == 1u", "range error"},
      {"device.attributes['gpu.nvidia.com'].type < 1", "no such overload"},
      {"device.attributes['gpu.nvidia.com'].index + 'x' == 'x'", "no such overload"},
      {"device.attributes['gpu.nvidia.com'].type", "expression must evaluate to bool, got string"},
      {"device.attributes['gpu.nvidia.com'].index", "expression must evaluate to bool, got int"},
      {"{'a': 1, 'a': 2}.a == 1", "repeated key"},
      {"quantity('1GB').sign() == 1", "quantities must match"},
      {"semver('v1').major() == 1", "invalid semantic version"},
      {"'a'.matches('(') ", "invalid pattern"},
      {"'a'.matches('\\\\bword')", "escape \\b is not supported"},
  });
}

TEST(CelTest, QuantityAndSemverFunctions) {
  expect_all({
      {"quantity('1Gi').compareTo(quantity('1024Mi')) == 0", true},
      {"quantity('1').compareTo(quantity('2')) == -1", true},
      {"quantity('500m').isLessThan(quantity('1'))", true},
      {"quantity('-5').sign() == -1 && quantity('0').sign() == 0", true},
      {"quantity('1.5').add(quantity('500m')) == quantity('2')", true},
      {"quantity('1k').add(24).asInteger() == 1024", true},
      {"quantity('1k').sub(1).asInteger() == 999", true},
      {"quantity('1k').sub(quantity('1')).isInteger()", true},
      {"!quantity('1.5').isInteger()", true},
      {"quantity('1.5').asApproximateFloat() == 1.5", true},
      {"isQuantity('80Gi') && !isQuantity('80GB')", true},
      {"semver('1.2.3').compareTo(semver('1.2.4')) == -1", true},
      {"semver('1.0.0-rc.1').isLessThan(semver('1.0.0'))", true},
      {"semver('2.0.0').isGreaterThan(semver('1.99.99'))", true},
      {"semver('1.2.3').major() == 1 && semver('1.2.3').minor() == 2 && semver('1.2.3').patch() == "
       "3",
       true},
      {"isSemver('1.2.3') && !isSemver('1.2') && !isSemver('v1.2.3')", true},
      {"semver('1.2.3+a') == semver('1.2.3+b')", true},
  });
  expect_errors({
      {"quantity('1.5').asInteger() == 1", "cannot convert value to integer"},
      {"quantity('1').compareTo(1) == 0", "no such overload"},
      {"semver('1.0.0').compareTo(quantity('1')) == 0", "no such overload"},
  });
}

TEST(CelTest, Macros) {
  expect_all({
      {"[1, 2, 3].all(x, x > 0)", true},
      {"[1, 2, 3].exists(x, x == 2)", true},
      {"[1, 2, 3].exists_one(x, x > 1)", false},
      {"[1, 2, 3].exists_one(x, x > 2)", true},
      {"[1, 2, 3].map(x, x * 2) == [2, 4, 6]", true},
      {"[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]", true},
      {"[1, 2, 3].filter(x, x % 2 == 1) == [1, 3]", true},
      {"{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])", true},
      {"[[1, 2], [3]].all(l, l.all(x, x > 0))", true},
      {"[1].all(device, device == 1)", true},
  });
}

TEST(CelTest, CompileErrorsCarryLineAndColumn) {
  expect_errors({
      {"", "1:1: Syntax error: the expression is empty"},
      {"   ", "the expression is empty"},
      {"device.driver == 'gpu", "1:18: Syntax error: unterminated string literal"},
      {"(1 == 1", "1:8: Syntax error: expected ')' but the expression ended"},
      {"1 == 1)", "1:7: Syntax error: unexpected ')' after the expression"},
      {"true true", "1:6: Syntax error: unexpected 'true'"},
      {"true &&\n  @", "2:3: Syntax error: unexpected character '@'"},
      {"[1, 2", "1:6: Syntax error: expected ',' or ']' but the expression ended"},
      {"{'a' 1}", "expected ':'"},
      {"foo == 1", "1:1: undeclared reference to 'foo'"},
      {"device.driver.size() == 1 && bar(1)", "1:30: undeclared reference to 'bar'"},
      {"device.model == 'x'", "1:7: undefined field 'model'"},
      {"device.driver", "expression must evaluate to bool, got string"},
      {"1 + 2", "expression must evaluate to bool, got int"},
      {"device.driver == 1", "found no matching overload for '_==_' applied to (string, int)"},
      {"1 + 1u == 2", "found no matching overload for '_+_' applied to (int, uint)"},
      {"'a'.contains()", "found no matching overload for 'contains'"},
      {"has(device)", "invalid argument to has() macro"},
      {"[1].all(1, true)", "needs a simple variable name"},
      {"99999999999999999999 > 0", "integer literal is out of range"},
      {"9223372036854775808 > 0", "integer literal is out of range"},
      {"'\\q' == ''", "invalid escape sequence"},
      {"'\\ud800' == ''", "not a valid Unicode code point"},
      {"if == 1", "reserved identifier 'if'"},
      {"'a'.matches('(')", "invalid pattern"},
      {"!1", "found no matching overload for '!_'"},
  });
}

TEST(CelTest, LimitsOnLengthDepthAndCost) {
  std::string long_expression = "true";
  while (long_expression.size() <= 10 * 1024) long_expression += " && true";
  expect_errors({{long_expression, "expression is too long"}});

  std::string deep = std::string(200, '(') + "true" + std::string(200, ')');
  expect_errors({{deep, "nested too deeply (limit 100)"}});
  std::string deep_not = std::string(5000, '!') + "true";
  expect_errors({{deep_not, "nested too deeply"}});
  std::string deep_list = std::string(150, '[') + std::string(150, ']') + " == []";
  expect_errors({{deep_list, "nested too deeply"}});
  std::string long_sum = "0";
  for (int i = 0; i < 150; ++i) long_sum += " + 1";
  expect_errors({{long_sum + " == 150", "nested too deeply"}});
  // A long conjunction stays shallow (it is balanced), so it is fine.
  std::string conjunction = "true";
  for (int i = 0; i < 500; ++i) conjunction += " && 1 == 1";
  expect_all({{conjunction, true}});

  std::string hundred = "[";
  for (int i = 0; i < 100; ++i) hundred += (i ? ", " : "") + std::to_string(i);
  hundred += "]";
  std::string cubic = hundred + ".all(a, " + hundred + ".all(b, " + hundred + ".all(c, true)))";
  expect_errors({{cubic, "operation cancelled: actual cost limit exceeded"}});
  // The cancellation is not absorbed by || or exists().
  expect_errors({{cubic + " || true", "actual cost limit exceeded"},
                 {"[1].exists(x, " + cubic + ")", "actual cost limit exceeded"}});
  // Long string concatenations are charged by size.
  std::string strings = "'" + std::string(1000, 'x') + "'";
  std::string doubled =
      hundred + ".map(i, " + strings + " + " + strings + " + " + strings + ").all(s, size(s) > 0)";
  expect_errors({{doubled, "actual cost limit exceeded"}}, Limits{.max_cost = 100'000});
  expect_all({{doubled, true}});
}

TEST(CelTest, ProgramKeepsSourceAndIsReusable) {
  TestDevice gpu;
  TestDevice other;
  other.view.driver = "other.example.com";
  auto program = compile("device.driver == 'gpu.nvidia.com'");
  ASSERT_TRUE(program.has_value());
  EXPECT_EQ(program->source(), "device.driver == 'gpu.nvidia.com'");
  EXPECT_TRUE(program->evaluate(gpu.view).value());
  EXPECT_FALSE(program->evaluate(other.view).value());
  DeviceView bare;  // no attribute or capacity maps at all
  bare.driver = "gpu.nvidia.com";
  auto empty = compile("!('x' in device.attributes['d']) && size(device.capacity) == 0");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->evaluate(bare).value());
}

TEST(CelTest, OneProgramEvaluatesFromManyThreads) {
  TestDevice gpu;
  auto program = compile(
      "device.attributes['gpu.nvidia.com'].productName.matches('H[0-9]+') && "
      "[1, 2, 3].map(x, x * 2).exists(y, y == 6)");
  ASSERT_TRUE(program.has_value()) << program.error().message;
  std::vector<std::thread> threads;
  std::vector<int> trues(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) trues[t] += program->evaluate(gpu.view).value_or(false);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int count : trues) EXPECT_EQ(count, 500);
}

}  // namespace
}  // namespace kgai::dra::cel
