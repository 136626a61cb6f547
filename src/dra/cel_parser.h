// Recursive-descent parser for the CEL grammar subset of DRA selectors, with CEL's macros
// (has, all, exists, exists_one, map, filter) expanded into their own nodes.
#pragma once

#include <string_view>

#include "common/result.h"
#include "dra/cel_ast.h"

namespace kgai::dra::cel {

// Errors are "LINE:COLUMN: Syntax error: ...". `max_depth` bounds both the parser's
// recursion and the height of the tree, so that no later recursive walk can overflow the
// stack.
Result<NodePtr> parse(std::string_view source, int max_depth);

}  // namespace kgai::dra::cel
