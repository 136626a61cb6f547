// The syntax tree of a parsed CEL expression. Nodes are immutable after compile() so that a
// Program can be evaluated from several threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dra/cel_regex.h"
#include "dra/cel_value.h"

namespace kgai::dra::cel {

enum class NodeKind : uint8_t {
  kLiteral,
  kIdent,
  kSelect,         // children[0].name
  kIndex,          // children[0][children[1]]
  kCall,           // name(children...) or, with has_receiver, children[0].name(children[1...])
  kList,           // [children...]
  kMap,            // {children[0]: children[1], ...}
  kUnary,          // op children[0]
  kBinary,         // children[0] op children[1]
  kAnd,            // children[0] && children[1]
  kOr,             // children[0] || children[1]
  kTernary,        // children[0] ? children[1] : children[2]
  kHas,            // has(children[0].name)
  kComprehension,  // children[0].macro(name, children[1...])
};

enum class Op : uint8_t {
  kNot,
  kNeg,
  kMul,
  kDiv,
  kMod,
  kAdd,
  kSub,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kIn
};

enum class Macro : uint8_t {
  kAll,
  kExists,
  kExistsOne,
  kMap,        // range.map(x, transform)
  kMapFilter,  // range.map(x, filter, transform)
  kFilter,
};

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  size_t offset = 0;  // byte offset in the source, for error positions
  int depth = 1;      // height of this subtree
  Op op = Op::kNot;
  Macro macro = Macro::kAll;
  bool has_receiver = false;
  std::string name;  // identifier, field, function or loop variable
  Value literal;
  std::vector<std::unique_ptr<Node>> children;
  // A `matches` call with a literal pattern keeps its compiled regex here.
  std::shared_ptr<const Regex> regex;
};

using NodePtr = std::unique_ptr<Node>;

std::string_view op_symbol(Op op);

}  // namespace kgai::dra::cel
