#include "dra/cel_checker.h"

#include <vector>

#include "dra/cel_functions.h"
#include "dra/cel_lexer.h"
#include "dra/cel_regex.h"

namespace kgai::dra::cel {
namespace {

bool known(Type t) { return t != Type::kDyn; }

class Checker {
 public:
  explicit Checker(std::string_view source) : src_(source) {}

  Result<Type> type_of_node(Node& node) {
    switch (node.kind) {
      case NodeKind::kLiteral:
        return type_of(node.literal);
      case NodeKind::kIdent:
        return ident(node);
      case NodeKind::kSelect:
        return select(node);
      case NodeKind::kIndex:
        return index(node);
      case NodeKind::kCall:
        return call(node);
      case NodeKind::kList:
      case NodeKind::kMap: {
        for (auto& child : node.children) {
          if (auto t = type_of_node(*child); !t) return t;
        }
        return node.kind == NodeKind::kList ? Type::kList : Type::kMap;
      }
      case NodeKind::kUnary:
        return unary(node);
      case NodeKind::kBinary:
        return binary(node);
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        for (auto& child : node.children) {
          auto t = type_of_node(*child);
          if (!t) return t;
          if (known(*t) && *t != Type::kBool) {
            return no_overload(node, node.kind == NodeKind::kAnd ? "&&" : "||", *t);
          }
        }
        return Type::kBool;
      }
      case NodeKind::kTernary: {
        auto cond = type_of_node(*node.children[0]);
        if (!cond) return cond;
        if (known(*cond) && *cond != Type::kBool) {
          return error(node,
                       fmt::format("the condition of ?: must be bool, got {}", type_name(*cond)));
        }
        auto a = type_of_node(*node.children[1]);
        if (!a) return a;
        auto b = type_of_node(*node.children[2]);
        if (!b) return b;
        return *a == *b ? *a : Type::kDyn;
      }
      case NodeKind::kHas: {
        auto t = type_of_node(*node.children[0]);
        if (!t) return t;
        if (*t == Type::kDevice && !is_device_field(node.name)) {
          return error(node, fmt::format("undefined field '{}'", node.name));
        }
        if (known(*t) && *t != Type::kMap && *t != Type::kDevice) {
          return error(node, fmt::format("has() needs a map or the device, got {}", type_name(*t)));
        }
        return Type::kBool;
      }
      case NodeKind::kComprehension:
        return comprehension(node);
    }
    return Type::kDyn;
  }

  std::unexpected<Error> error(const Node& node, std::string_view message) const {
    return fail("{}: {}", source_position(src_, node.offset), message);
  }

 private:
  static bool is_device_field(std::string_view name) {
    return name == "driver" || name == "attributes" || name == "capacity" ||
           name == "allowMultipleAllocations";
  }

  std::unexpected<Error> no_overload(const Node& node, std::string_view op, Type a) const {
    return error(
        node, fmt::format("found no matching overload for '{}' applied to ({})", op, type_name(a)));
  }
  std::unexpected<Error> no_overload(const Node& node, std::string_view op, Type a, Type b) const {
    return error(node, fmt::format("found no matching overload for '{}' applied to ({}, {})", op,
                                   type_name(a), type_name(b)));
  }

  Result<Type> ident(const Node& node) {
    for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
      if (*it == node.name) return Type::kDyn;
    }
    if (node.name == "device") return Type::kDevice;
    return error(node, fmt::format("undeclared reference to '{}' (the only variable is 'device')",
                                   node.name));
  }

  Result<Type> select(Node& node) {
    auto t = type_of_node(*node.children[0]);
    if (!t) return t;
    if (*t == Type::kDevice) {
      if (node.name == "driver") return Type::kString;
      if (node.name == "attributes" || node.name == "capacity") return Type::kMap;
      if (node.name == "allowMultipleAllocations") return Type::kBool;
      return error(node, fmt::format("undefined field '{}' (device has driver, attributes, "
                                     "capacity, allowMultipleAllocations)",
                                     node.name));
    }
    if (known(*t) && *t != Type::kMap) {
      return error(node, fmt::format("type '{}' does not support field selection", type_name(*t)));
    }
    return Type::kDyn;
  }

  Result<Type> index(Node& node) {
    auto t = type_of_node(*node.children[0]);
    if (!t) return t;
    auto i = type_of_node(*node.children[1]);
    if (!i) return i;
    if (known(*t) && *t != Type::kMap && *t != Type::kList) {
      return no_overload(node, "_[_]", *t, *i);
    }
    if (*t == Type::kList && known(*i) && *i != Type::kInt && *i != Type::kUint) {
      return no_overload(node, "_[_]", *t, *i);
    }
    return Type::kDyn;
  }

  Result<Type> call(Node& node) {
    std::vector<Type> types;
    for (auto& child : node.children) {
      auto t = type_of_node(*child);
      if (!t) return t;
      types.push_back(*t);
    }
    const FunctionInfo* info = find_function(node.name);
    if (!info) return error(node, fmt::format("undeclared reference to '{}'", node.name));
    int args = static_cast<int>(node.children.size()) - (node.has_receiver ? 1 : 0);
    int wanted = node.has_receiver ? info->receiver_args : info->global_args;
    if (wanted != args) {
      return error(
          node, fmt::format("found no matching overload for '{}' with {} argument{}{}", node.name,
                            args, args == 1 ? "" : "s", node.has_receiver ? " on a receiver" : ""));
    }
    // A literal pattern is compiled (and checked) once, here.
    if (node.name == "matches") {
      const Node& pattern = *node.children.back();
      if (pattern.kind == NodeKind::kLiteral) {
        if (auto text = pattern.literal.as<std::string>()) {
          auto regex = compile_regex(*text);
          if (!regex) return error(pattern, regex.error().message);
          node.regex = std::move(*regex);
        }
      }
    }
    return info->result;
  }

  Result<Type> unary(Node& node) {
    auto t = type_of_node(*node.children[0]);
    if (!t) return t;
    if (node.op == Op::kNot) {
      if (known(*t) && *t != Type::kBool) return no_overload(node, "!_", *t);
      return Type::kBool;
    }
    if (known(*t) && *t != Type::kInt && *t != Type::kDouble) return no_overload(node, "-_", *t);
    return *t;
  }

  Result<Type> binary(Node& node) {
    auto a = type_of_node(*node.children[0]);
    if (!a) return a;
    auto b = type_of_node(*node.children[1]);
    if (!b) return b;
    std::string op = fmt::format("_{}_", op_symbol(node.op));
    bool both_known = known(*a) && known(*b);
    switch (node.op) {
      case Op::kEq:
      case Op::kNe:
        if (both_known && *a != *b && !(is_numeric(*a) && is_numeric(*b)) && *a != Type::kNull &&
            *b != Type::kNull) {
          return no_overload(node, op, *a, *b);
        }
        return Type::kBool;
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe:
        if (both_known && !(is_numeric(*a) && is_numeric(*b)) &&
            !(*a == *b && (*a == Type::kString || *a == Type::kBytes || *a == Type::kBool))) {
          return no_overload(node, op, *a, *b);
        }
        return Type::kBool;
      case Op::kIn:
        if (known(*b) && *b != Type::kList && *b != Type::kMap)
          return no_overload(node, op, *a, *b);
        return Type::kBool;
      default:
        break;
    }
    // Arithmetic: CEL has no implicit conversions between int, uint and double.
    if (both_known) {
      bool ok = *a == *b;
      if (ok && node.op == Op::kAdd) {
        ok = is_numeric(*a) || *a == Type::kString || *a == Type::kBytes || *a == Type::kList;
      } else if (ok && node.op == Op::kMod) {
        ok = *a == Type::kInt || *a == Type::kUint;
      } else if (ok) {
        ok = is_numeric(*a);
      }
      if (!ok) return no_overload(node, op, *a, *b);
      return *a;
    }
    return Type::kDyn;
  }

  Result<Type> comprehension(Node& node) {
    auto range = type_of_node(*node.children[0]);
    if (!range) return range;
    if (known(*range) && *range != Type::kList && *range != Type::kMap) {
      return error(node, fmt::format("cannot iterate over {}", type_name(*range)));
    }
    scope_.push_back(node.name);
    for (size_t i = 1; i < node.children.size(); ++i) {
      auto t = type_of_node(*node.children[i]);
      if (!t) return t;
      bool is_predicate = node.macro != Macro::kMap && (node.macro != Macro::kMapFilter || i == 1);
      if (is_predicate && known(*t) && *t != Type::kBool) {
        return error(*node.children[i],
                     fmt::format("the predicate must be bool, got {}", type_name(*t)));
      }
    }
    scope_.pop_back();
    switch (node.macro) {
      case Macro::kMap:
      case Macro::kMapFilter:
      case Macro::kFilter:
        return Type::kList;
      default:
        return Type::kBool;
    }
  }

  std::string_view src_;
  std::vector<std::string_view> scope_;  // comprehension variables, innermost last
};

}  // namespace

Result<void> check(std::string_view source, Node& root) {
  Checker checker(source);
  auto type = checker.type_of_node(root);
  if (!type) return fail(std::move(type.error()));
  if (*type != Type::kBool && *type != Type::kDyn) {
    return checker.error(root,
                         fmt::format("expression must evaluate to bool, got {}", type_name(*type)));
  }
  return {};
}

}  // namespace kgai::dra::cel
