// Compile-time checks of a parsed expression: undeclared names, unknown functions and
// device fields, operators over types that are known to mismatch, and a result that cannot
// be bool. Attribute values are only known per device, so they are `dyn` here and checked
// at run time.
#pragma once

#include <string_view>

#include "common/result.h"
#include "dra/cel_ast.h"

namespace kgai::dra::cel {

// Also precompiles the patterns of matches() calls with literal patterns (stored in the
// nodes). Errors are "LINE:COLUMN: message".
Result<void> check(std::string_view source, Node& root);

}  // namespace kgai::dra::cel
