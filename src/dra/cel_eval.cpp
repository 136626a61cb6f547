#include "dra/cel_eval.h"

#include <limits>
#include <type_traits>

#include "dra/cel_functions.h"

namespace kgai::dra::cel {
namespace {

using List = std::shared_ptr<const ValueList>;

class Evaluator {
 public:
  Evaluator(const DeviceView& device, uint64_t max_cost) : device_(device), cost_(max_cost) {}

  Result<Value> eval(const Node& node) {
    if (auto charged = cost_.charge(1); !charged) return fail(charged.error());
    switch (node.kind) {
      case NodeKind::kLiteral:
        return node.literal;
      case NodeKind::kIdent:
        return ident(node);
      case NodeKind::kSelect: {
        auto operand = eval(*node.children[0]);
        if (!operand) return operand;
        return select(*operand, node.name);
      }
      case NodeKind::kIndex:
        return index(node);
      case NodeKind::kCall:
        return call(node);
      case NodeKind::kList: {
        ValueList items;
        items.reserve(node.children.size());
        for (const auto& child : node.children) {
          auto item = eval(*child);
          if (!item) return item;
          items.push_back(std::move(*item));
        }
        return make_list(std::move(items));
      }
      case NodeKind::kMap:
        return map_literal(node);
      case NodeKind::kUnary:
        return unary(node);
      case NodeKind::kBinary:
        return binary(node);
      case NodeKind::kAnd:
      case NodeKind::kOr:
        return logical(node);
      case NodeKind::kTernary: {
        auto cond = eval(*node.children[0]);
        if (!cond) return cond;
        const bool* b = cond->as<bool>();
        if (!b)
          return fail("no such overload: {} ? _ : _ (the condition must be bool)",
                      type_name(*cond));
        return eval(*node.children[*b ? 1 : 2]);
      }
      case NodeKind::kHas:
        return has(node);
      case NodeKind::kComprehension:
        return comprehension(node);
    }
    return fail("internal error: unknown node");
  }

 private:
  Result<Value> ident(const Node& node) {
    for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
      if (it->first == node.name) return it->second;
    }
    if (node.name == "device") return Value{DeviceRef{&device_}};
    return fail("undeclared reference to '{}'", node.name);
  }

  Result<Value> select(const Value& operand, const std::string& field) {
    if (auto device = operand.as<DeviceRef>()) {
      const DeviceView& d = *device->device;
      if (field == "driver") return Value{std::string(d.driver)};
      if (field == "attributes") return Value{AttributeDomainsRef{d.attributes}};
      if (field == "capacity") return Value{CapacityDomainsRef{d.capacity}};
      if (field == "allowMultipleAllocations") return Value{d.allow_multiple_allocations};
      return fail("no such key: {}", field);
    }
    if (!is_map_like(operand)) {
      return fail("type '{}' does not support field selection", type_name(operand));
    }
    return lookup(operand, Value{field});
  }

  Result<Value> lookup(const Value& map, const Value& key) {
    auto found = map_lookup(map, key);
    if (!found) return fail(found.error());
    if (!*found) {
      // Indexing the device's attributes or capacity by an unknown domain gives an empty
      // map, not an error (DRA's rule); `in` and has() still see that it is absent.
      if (map.as<AttributeDomainsRef>()) return Value{AttributeMapRef{nullptr}};
      if (map.as<CapacityDomainsRef>()) return Value{CapacityMapRef{nullptr}};
      return fail("no such key: {}", display(key));
    }
    return std::move(**found);
  }

  Result<Value> index(const Node& node) {
    auto operand = eval(*node.children[0]);
    if (!operand) return operand;
    auto key = eval(*node.children[1]);
    if (!key) return key;
    if (auto list = operand->as<List>()) {
      int64_t i = 0;
      if (auto k = key->as<int64_t>()) {
        i = *k;
      } else if (auto u = key->as<uint64_t>()) {
        i = *u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                ? -1
                : static_cast<int64_t>(*u);
      } else {
        return fail("no such overload: list[{}]", type_name(*key));
      }
      if (i < 0 || static_cast<uint64_t>(i) >= (*list)->size()) {
        return fail("index out of bounds: {}", display(*key));
      }
      return (**list)[static_cast<size_t>(i)];
    }
    if (operand->as<DeviceRef>()) {
      if (auto field = key->as<std::string>()) return select(*operand, *field);
    }
    if (!is_map_like(*operand)) {
      return fail("no such overload: {}[{}]", type_name(*operand), type_name(*key));
    }
    return lookup(*operand, *key);
  }

  Result<Value> call(const Node& node) {
    size_t first_arg = node.has_receiver ? 1 : 0;
    Value receiver;
    if (node.has_receiver) {
      auto r = eval(*node.children[0]);
      if (!r) return r;
      receiver = std::move(*r);
    }
    ValueList args;
    args.reserve(node.children.size() - first_arg);
    for (size_t i = first_arg; i < node.children.size(); ++i) {
      auto arg = eval(*node.children[i]);
      if (!arg) return arg;
      args.push_back(std::move(*arg));
    }
    return call_function(node, node.has_receiver ? &receiver : nullptr, args, cost_);
  }

  Result<Value> map_literal(const Node& node) {
    ValueMap entries;
    for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
      auto key = eval(*node.children[i]);
      if (!key) return key;
      Type t = type_of(*key);
      if (t != Type::kString && t != Type::kInt && t != Type::kUint && t != Type::kBool) {
        return fail("unsupported key type: {}", type_name(t));
      }
      auto value = eval(*node.children[i + 1]);
      if (!value) return value;
      for (const auto& entry : entries) {
        if (values_equal(entry.first, *key))
          return fail("Failed with repeated key: {}", display(*key));
      }
      entries.emplace_back(std::move(*key), std::move(*value));
    }
    return make_map(std::move(entries));
  }

  Result<Value> unary(const Node& node) {
    auto operand = eval(*node.children[0]);
    if (!operand) return operand;
    if (node.op == Op::kNot) {
      if (auto b = operand->as<bool>()) return Value{!*b};
    } else if (auto i = operand->as<int64_t>()) {
      if (*i == std::numeric_limits<int64_t>::min()) return fail("integer overflow in -({})", *i);
      return Value{-*i};
    } else if (auto d = operand->as<double>()) {
      return Value{-*d};
    }
    return fail("no such overload: {}{}", op_symbol(node.op), type_name(*operand));
  }

  // CEL's commutative && and ||: a deciding value on either side wins over an error on the
  // other. Cancellation (cost limit) is never absorbed.
  Result<Value> logical(const Node& node) {
    bool is_and = node.kind == NodeKind::kAnd;
    bool decisive = !is_and;  // false decides &&, true decides ||
    std::optional<Error> first_error;
    for (const auto& child : node.children) {
      auto value = eval(*child);
      if (cost_.exceeded()) return value;
      if (value) {
        const bool* b = value->as<bool>();
        if (b && *b == decisive) return Value{decisive};
        if (b) continue;
        value = fail("no such overload: {} {} ...", type_name(*value), is_and ? "&&" : "||");
      }
      if (!first_error) first_error = std::move(value.error());
    }
    if (first_error) return fail(std::move(*first_error));
    return Value{!decisive};
  }

  Result<Value> has(const Node& node) {
    auto operand = eval(*node.children[0]);
    if (!operand) return operand;
    if (operand->as<DeviceRef>()) {
      return Value{node.name == "driver" || node.name == "attributes" || node.name == "capacity" ||
                   node.name == "allowMultipleAllocations"};
    }
    if (!is_map_like(*operand)) {
      return fail("invalid type for field selection in has(): {}", type_name(*operand));
    }
    auto found = map_lookup(*operand, Value{node.name});
    if (!found) return fail(found.error());
    return Value{found->has_value()};
  }

  Result<Value> binary(const Node& node) {
    auto a = eval(*node.children[0]);
    if (!a) return a;
    auto b = eval(*node.children[1]);
    if (!b) return b;
    switch (node.op) {
      case Op::kEq:
        return Value{values_equal(*a, *b)};
      case Op::kNe:
        return Value{!values_equal(*a, *b)};
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe: {
        auto order = values_compare(*a, *b);
        if (!order) return fail(order.error());
        auto o = *order;
        bool result = node.op == Op::kLt   ? o < 0
                      : node.op == Op::kLe ? o <= 0
                      : node.op == Op::kGt ? o > 0
                                           : o >= 0;
        return Value{result};
      }
      case Op::kIn:
        return in(*a, *b);
      default:
        return arithmetic(node.op, *a, *b);
    }
  }

  Result<Value> in(const Value& element, const Value& container) {
    if (auto list = container.as<List>()) {
      if (auto charged = cost_.charge((*list)->size()); !charged) return fail(charged.error());
      for (const Value& item : **list) {
        if (values_equal(item, element)) return Value{true};
      }
      return Value{false};
    }
    if (is_map_like(container)) {
      auto found = map_lookup(container, element);
      if (!found) return fail(found.error());
      return Value{found->has_value()};
    }
    return fail("no such overload: {} in {}", type_name(element), type_name(container));
  }

  Result<Value> arithmetic(Op op, const Value& a, const Value& b) {
    if (auto x = a.as<int64_t>()) {
      if (auto y = b.as<int64_t>()) return integer_arithmetic<int64_t>(op, *x, *y);
    } else if (auto x = a.as<uint64_t>()) {
      if (auto y = b.as<uint64_t>()) return integer_arithmetic<uint64_t>(op, *x, *y);
    } else if (auto x = a.as<double>()) {
      if (auto y = b.as<double>()) {
        switch (op) {
          case Op::kAdd:
            return Value{*x + *y};
          case Op::kSub:
            return Value{*x - *y};
          case Op::kMul:
            return Value{*x * *y};
          case Op::kDiv:
            return Value{*x / *y};
          default:
            break;
        }
      }
    } else if (op == Op::kAdd) {
      if (auto x = a.as<std::string>()) {
        if (auto y = b.as<std::string>()) {
          if (auto charged = cost_.charge(x->size() + y->size()); !charged)
            return fail(charged.error());
          return Value{*x + *y};
        }
      } else if (auto x = a.as<Bytes>()) {
        if (auto y = b.as<Bytes>()) {
          if (auto charged = cost_.charge(x->data.size() + y->data.size()); !charged) {
            return fail(charged.error());
          }
          return Value{Bytes{x->data + y->data}};
        }
      } else if (auto x = a.as<List>()) {
        if (auto y = b.as<List>()) {
          if (auto charged = cost_.charge((*x)->size() + (*y)->size()); !charged) {
            return fail(charged.error());
          }
          ValueList joined = **x;
          joined.insert(joined.end(), (*y)->begin(), (*y)->end());
          return make_list(std::move(joined));
        }
      }
    }
    return fail("no such overload: {} {} {}", type_name(a), op_symbol(op), type_name(b));
  }

  // int and uint arithmetic alike: overflow and division by zero are errors, as in CEL.
  template <typename T>
  static Result<Value> integer_arithmetic(Op op, T x, T y) {
    constexpr bool kSigned = std::is_signed_v<T>;
    constexpr std::string_view kType = kSigned ? "int" : "uint";
    T r = 0;
    bool overflow = false;
    switch (op) {
      case Op::kAdd:
        overflow = __builtin_add_overflow(x, y, &r);
        break;
      case Op::kSub:
        overflow = __builtin_sub_overflow(x, y, &r);
        break;
      case Op::kMul:
        overflow = __builtin_mul_overflow(x, y, &r);
        break;
      case Op::kDiv:
      case Op::kMod:
        if (y == 0) return fail("{}", op == Op::kDiv ? "division by zero" : "modulus by zero");
        if (kSigned && x == std::numeric_limits<T>::min() && y == T(-1)) {
          overflow = true;
        } else {
          r = op == Op::kDiv ? x / y : x % y;
        }
        break;
      default:
        return fail("no such overload: {} {} {}", kType, op_symbol(op), kType);
    }
    if (overflow) {
      if (kSigned) return fail("integer overflow in {} {} {}", x, op_symbol(op), y);
      return fail("unsigned integer overflow in {}u {} {}u", x, op_symbol(op), y);
    }
    return Value{r};
  }

  Result<Value> comprehension(const Node& node) {
    auto range = eval(*node.children[0]);
    if (!range) return range;
    ValueList keys_storage;
    const ValueList* items = nullptr;
    if (auto list = range->as<List>()) {
      items = list->get();
    } else if (is_map_like(*range)) {
      keys_storage = map_keys(*range);
      items = &keys_storage;
    } else {
      return fail("cannot iterate over {}", type_name(*range));
    }
    scope_.emplace_back(node.name, Value{});
    auto result = iterate(node, *items);
    scope_.pop_back();
    return result;
  }

  Result<bool> predicate(const Node& body) {
    auto value = eval(body);
    if (!value) return fail(value.error());
    if (auto b = value->as<bool>()) return *b;
    return fail("the predicate must be bool, got {}", type_name(*value));
  }

  Result<Value> iterate(const Node& node, const ValueList& items) {
    const Node& body = *node.children[1];
    std::optional<Error> first_error;
    int64_t matches = 0;
    ValueList out;
    for (const Value& item : items) {
      scope_.back().second = item;
      switch (node.macro) {
        case Macro::kAll:
        case Macro::kExists: {
          // Like && / ||: a deciding element wins over errors from other elements.
          auto p = predicate(body);
          if (cost_.exceeded()) return fail(p.error());
          bool decisive = node.macro == Macro::kExists;
          if (p && *p == decisive) return Value{decisive};
          if (!p && !first_error) first_error = std::move(p.error());
          break;
        }
        case Macro::kExistsOne: {
          auto p = predicate(body);
          if (!p) return fail(p.error());
          matches += *p;
          break;
        }
        case Macro::kFilter: {
          auto p = predicate(body);
          if (!p) return fail(p.error());
          if (*p) out.push_back(item);
          break;
        }
        case Macro::kMapFilter: {
          auto p = predicate(body);
          if (!p) return fail(p.error());
          if (!*p) break;
          auto mapped = eval(*node.children[2]);
          if (!mapped) return mapped;
          out.push_back(std::move(*mapped));
          break;
        }
        case Macro::kMap: {
          auto mapped = eval(body);
          if (!mapped) return mapped;
          out.push_back(std::move(*mapped));
          break;
        }
      }
    }
    switch (node.macro) {
      case Macro::kAll:
      case Macro::kExists:
        if (first_error) return fail(std::move(*first_error));
        return Value{node.macro == Macro::kAll};
      case Macro::kExistsOne:
        return Value{matches == 1};
      default:
        return make_list(std::move(out));
    }
  }

  const DeviceView& device_;
  CostMeter cost_;
  std::vector<std::pair<std::string_view, Value>> scope_;
};

}  // namespace

Result<Value> evaluate(const Node& root, const DeviceView& device, uint64_t max_cost) {
  return Evaluator(device, max_cost).eval(root);
}

}  // namespace kgai::dra::cel
