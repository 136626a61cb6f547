// Evaluates a checked syntax tree against one device. Errors are values that flow up the
// tree, except where CEL absorbs them: `false && error` is false, `true || error` is true,
// both ways round. Running past the cost limit cancels the whole evaluation.
#pragma once

#include "common/result.h"
#include "dra/cel_ast.h"

namespace kgai::dra::cel {

Result<Value> evaluate(const Node& root, const DeviceView& device, uint64_t max_cost);

}  // namespace kgai::dra::cel
