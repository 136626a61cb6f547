#include "dra/cel.h"

#include "dra/cel_ast.h"
#include "dra/cel_checker.h"
#include "dra/cel_eval.h"
#include "dra/cel_parser.h"

namespace kgai::dra::cel {

struct Program::Impl {
  std::string source;
  Limits limits;
  NodePtr root;
};

Program::Program(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Program::~Program() = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;

const std::string& Program::source() const { return impl_->source; }

Result<bool> Program::evaluate(const DeviceView& device) const {
  auto value = cel::evaluate(*impl_->root, device, impl_->limits.max_cost);
  if (!value) return fail(std::move(value.error()));
  if (const bool* b = value->as<bool>()) return *b;
  return fail("expression must evaluate to bool, got {}", type_name(*value));
}

Result<Program> compile(std::string_view expression, const Limits& limits) {
  if (expression.size() > limits.max_expression_bytes) {
    return fail("1:1: expression is too long: {} bytes, the limit is {}", expression.size(),
                limits.max_expression_bytes);
  }
  if (expression.find_first_not_of(" \t\r\n\f") == std::string_view::npos) {
    return fail("1:1: Syntax error: the expression is empty");
  }
  auto root = parse(expression, limits.max_nesting_depth);
  if (!root) return fail(std::move(root.error()));
  if (auto checked = check(expression, **root); !checked) return fail(std::move(checked.error()));
  auto impl = std::make_unique<Program::Impl>();
  impl->source = std::string(expression);
  impl->limits = limits;
  impl->root = std::move(*root);
  return Program(std::move(impl));
}

}  // namespace kgai::dra::cel
