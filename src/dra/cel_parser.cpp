#include "dra/cel_parser.h"

#include <array>
#include <limits>

#include "dra/cel_lexer.h"

namespace kgai::dra::cel {

std::string_view op_symbol(Op op) {
  static constexpr std::array<std::string_view, 14> kSymbols = {
      "!", "-", "*", "/", "%", "+", "-", "<", "<=", ">", ">=", "==", "!=", "in"};
  return kSymbols[static_cast<size_t>(op)];
}

namespace {

// Words CEL reserves; they cannot name a variable or function.
bool is_reserved(std::string_view word) {
  static constexpr std::array<std::string_view, 18> kReserved = {
      "as",  "break", "const",   "continue",  "else",   "for", "function", "if",    "import",
      "let", "loop",  "package", "namespace", "return", "var", "void",     "while", "in"};
  for (auto r : kReserved) {
    if (word == r) return true;
  }
  return false;
}

class Parser {
 public:
  Parser(std::string_view source, std::vector<Token> tokens, int max_depth)
      : src_(source), tokens_(std::move(tokens)), max_depth_(max_depth) {}

  Result<NodePtr> run() {
    auto root = expr();
    if (!root) return root;
    if (peek().kind != TokenKind::kEnd) {
      return error_at(peek().offset,
                      fmt::format("unexpected '{}' after the expression", peek().text));
    }
    return root;
  }

 private:
  // Counts nested parser calls; the guard fails the parse instead of overflowing the stack.
  struct DepthGuard {
    Parser& parser;
    explicit DepthGuard(Parser& p) : parser(p) { ++parser.depth_; }
    ~DepthGuard() { --parser.depth_; }
  };

  std::unexpected<Error> error_at(size_t offset, std::string_view message) const {
    return fail("{}: Syntax error: {}", source_position(src_, offset), message);
  }
  std::unexpected<Error> too_deep(size_t offset) const {
    return error_at(offset, fmt::format("expression nested too deeply (limit {})", max_depth_));
  }

  const Token& peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  bool is_punct(std::string_view text, size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::kPunct && peek(ahead).text == text;
  }
  bool accept(std::string_view text) {
    if (!is_punct(text)) return false;
    ++pos_;
    return true;
  }
  Result<void> expect(std::string_view text) {
    if (accept(text)) return {};
    const Token& t = peek();
    if (t.kind == TokenKind::kEnd) {
      return error_at(t.offset, fmt::format("expected '{}' but the expression ended", text));
    }
    return error_at(t.offset, fmt::format("expected '{}', got '{}'", text, t.text));
  }

  // Between the items of a list, map or argument list.
  Result<void> expect_separator(std::string_view close) {
    if (accept(",")) return {};
    const Token& t = peek();
    if (t.kind == TokenKind::kEnd) {
      return error_at(t.offset,
                      fmt::format("expected ',' or '{}' but the expression ended", close));
    }
    return error_at(t.offset, fmt::format("expected ',' or '{}', got '{}'", close, t.text));
  }

  // Builds a node and checks the height of the tree.
  Result<NodePtr> make(NodeKind kind, size_t offset, std::vector<NodePtr> children) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->offset = offset;
    for (const auto& child : children) node->depth = std::max(node->depth, child->depth + 1);
    node->children = std::move(children);
    if (node->depth > max_depth_) return too_deep(offset);
    return node;
  }

  template <typename... N>
  static std::vector<NodePtr> list(N&&... nodes) {
    std::vector<NodePtr> v;
    (v.push_back(std::move(nodes)), ...);
    return v;
  }

  Result<NodePtr> expr() {
    DepthGuard guard(*this);
    if (depth_ > max_depth_) return too_deep(peek().offset);
    auto cond = logical(NodeKind::kOr);
    if (!cond) return cond;
    if (!is_punct("?")) return cond;
    size_t offset = peek().offset;
    ++pos_;
    auto then = logical(NodeKind::kOr);
    if (!then) return then;
    if (auto ok = expect(":"); !ok) return fail(ok.error());
    auto otherwise = expr();
    if (!otherwise) return otherwise;
    return make(NodeKind::kTernary, offset, list(*cond, *then, *otherwise));
  }

  // A chain of && (or ||) becomes a balanced tree: long conjunctions of selectors stay
  // shallow, and the operators are associative, error semantics included.
  Result<NodePtr> logical(NodeKind kind) {
    std::string_view symbol = kind == NodeKind::kOr ? "||" : "&&";
    std::vector<NodePtr> operands;
    std::vector<size_t> offsets;
    while (true) {
      auto operand = kind == NodeKind::kOr ? logical(NodeKind::kAnd) : relation();
      if (!operand) return operand;
      operands.push_back(std::move(*operand));
      if (!is_punct(symbol)) break;
      offsets.push_back(peek().offset);
      ++pos_;
    }
    return balance(kind, operands, offsets, 0, operands.size());
  }

  Result<NodePtr> balance(NodeKind kind, std::vector<NodePtr>& operands,
                          const std::vector<size_t>& offsets, size_t begin, size_t end) {
    if (end - begin == 1) return std::move(operands[begin]);
    size_t mid = begin + (end - begin) / 2;
    auto left = balance(kind, operands, offsets, begin, mid);
    if (!left) return left;
    auto right = balance(kind, operands, offsets, mid, end);
    if (!right) return right;
    return make(kind, offsets[mid - 1], list(*left, *right));
  }

  Result<NodePtr> relation() {
    static constexpr std::array<std::pair<std::string_view, Op>, 7> kOps = {{{"<", Op::kLt},
                                                                             {"<=", Op::kLe},
                                                                             {">", Op::kGt},
                                                                             {">=", Op::kGe},
                                                                             {"==", Op::kEq},
                                                                             {"!=", Op::kNe},
                                                                             {"in", Op::kIn}}};
    return binary_level(kOps, [this] { return additive(); });
  }

  Result<NodePtr> additive() {
    static constexpr std::array<std::pair<std::string_view, Op>, 2> kOps = {
        {{"+", Op::kAdd}, {"-", Op::kSub}}};
    return binary_level(kOps, [this] { return multiplicative(); });
  }

  Result<NodePtr> multiplicative() {
    static constexpr std::array<std::pair<std::string_view, Op>, 3> kOps = {
        {{"*", Op::kMul}, {"/", Op::kDiv}, {"%", Op::kMod}}};
    return binary_level(kOps, [this] { return unary(); });
  }

  template <size_t N, typename Next>
  Result<NodePtr> binary_level(const std::array<std::pair<std::string_view, Op>, N>& ops,
                               Next next) {
    auto left = next();
    if (!left) return left;
    while (true) {
      const Op* op = nullptr;
      for (const auto& [symbol, candidate] : ops) {
        if (is_punct(symbol)) op = &candidate;
      }
      if (!op) return left;
      size_t offset = peek().offset;
      ++pos_;
      auto right = next();
      if (!right) return right;
      auto node = make(NodeKind::kBinary, offset, list(*left, *right));
      if (!node) return node;
      (*node)->op = *op;
      left = std::move(node);
    }
  }

  Result<NodePtr> unary() {
    DepthGuard guard(*this);
    if (depth_ > max_depth_) return too_deep(peek().offset);
    size_t offset = peek().offset;
    if (is_punct("-") && peek(1).kind == TokenKind::kInt) {
      // A negative integer literal is one literal, so that -9223372036854775808 fits.
      const Token& t = peek(1);
      pos_ += 2;
      auto literal = make(NodeKind::kLiteral, offset, {});
      (*literal)->literal = Value{static_cast<int64_t>(0 - t.magnitude)};
      return member(std::move(*literal));
    }
    if (is_punct("!") || is_punct("-")) {
      Op op = is_punct("!") ? Op::kNot : Op::kNeg;
      ++pos_;
      auto operand = unary();
      if (!operand) return operand;
      auto node = make(NodeKind::kUnary, offset, list(*operand));
      if (node) (*node)->op = op;
      return node;
    }
    auto operand = primary();
    if (!operand) return operand;
    return member(std::move(*operand));
  }

  // Postfix selections, indexes and method calls.
  Result<NodePtr> member(NodePtr operand) {
    while (true) {
      size_t offset = peek().offset;
      if (accept(".")) {
        const Token& name = peek();
        if (name.kind != TokenKind::kIdent) {
          return error_at(name.offset, "expected a field or method name after '.'");
        }
        ++pos_;
        if (is_punct("(")) {
          auto args = arguments();
          if (!args) return fail(args.error());
          auto call =
              method_call(std::move(operand), std::string(name.text), offset, std::move(*args));
          if (!call) return call;
          operand = std::move(*call);
        } else {
          auto node = make(NodeKind::kSelect, offset, list(operand));
          if (!node) return node;
          (*node)->name = std::string(name.text);
          operand = std::move(*node);
        }
      } else if (accept("[")) {
        auto index = expr();
        if (!index) return index;
        if (auto ok = expect("]"); !ok) return fail(ok.error());
        auto node = make(NodeKind::kIndex, offset, list(operand, *index));
        if (!node) return node;
        operand = std::move(*node);
      } else {
        return operand;
      }
    }
  }

  // "(" args ")" with the "(" at the current token.
  Result<std::vector<NodePtr>> arguments() {
    ++pos_;
    std::vector<NodePtr> args;
    if (accept(")")) return args;
    while (true) {
      auto arg = expr();
      if (!arg) return fail(arg.error());
      args.push_back(std::move(*arg));
      if (accept(")")) return args;
      if (auto ok = expect_separator(")"); !ok) return fail(ok.error());
    }
  }

  Result<NodePtr> method_call(NodePtr receiver, std::string name, size_t offset,
                              std::vector<NodePtr> args) {
    static constexpr std::array<std::pair<std::string_view, Macro>, 5> kMacros = {
        {{"all", Macro::kAll},
         {"exists", Macro::kExists},
         {"exists_one", Macro::kExistsOne},
         {"map", Macro::kMap},
         {"filter", Macro::kFilter}}};
    for (auto [macro_name, macro] : kMacros) {
      if (name != macro_name) continue;
      size_t want = macro == Macro::kMap ? (args.size() == 3 ? 3 : 2) : 2;
      if (args.size() != want) {
        return error_at(offset, fmt::format("{}() takes a variable and {}", name,
                                            macro == Macro::kMap ? "one or two expressions"
                                                                 : "one expression"));
      }
      if (args[0]->kind != NodeKind::kIdent) {
        return error_at(args[0]->offset, fmt::format("{}() needs a simple variable name", name));
      }
      std::string variable = args[0]->name;
      std::vector<NodePtr> children;
      children.push_back(std::move(receiver));
      for (size_t i = 1; i < args.size(); ++i) children.push_back(std::move(args[i]));
      auto node = make(NodeKind::kComprehension, offset, std::move(children));
      if (!node) return node;
      (*node)->name = std::move(variable);
      (*node)->macro = macro == Macro::kMap && want == 3 ? Macro::kMapFilter : macro;
      return node;
    }
    std::vector<NodePtr> children;
    children.push_back(std::move(receiver));
    for (auto& arg : args) children.push_back(std::move(arg));
    auto node = make(NodeKind::kCall, offset, std::move(children));
    if (!node) return node;
    (*node)->name = std::move(name);
    (*node)->has_receiver = true;
    return node;
  }

  Result<NodePtr> primary() {
    const Token& t = peek();
    size_t offset = t.offset;
    switch (t.kind) {
      case TokenKind::kEnd:
        return error_at(offset, "expected an expression but the expression ended");
      case TokenKind::kInt: {
        if (t.magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return error_at(offset, "integer literal is out of range");
        }
        ++pos_;
        auto node = make(NodeKind::kLiteral, offset, {});
        (*node)->literal = Value{static_cast<int64_t>(t.magnitude)};
        return node;
      }
      case TokenKind::kUint:
      case TokenKind::kDouble:
      case TokenKind::kString:
      case TokenKind::kBytes: {
        ++pos_;
        auto node = make(NodeKind::kLiteral, offset, {});
        (*node)->literal = t.value;
        return node;
      }
      case TokenKind::kIdent:
        return identifier();
      case TokenKind::kPunct:
        break;
    }
    if (accept("(")) {
      auto inner = expr();
      if (!inner) return inner;
      if (auto ok = expect(")"); !ok) return fail(ok.error());
      return inner;
    }
    if (accept("[")) {
      std::vector<NodePtr> items;
      while (!accept("]")) {
        auto item = expr();
        if (!item) return item;
        items.push_back(std::move(*item));
        if (accept("]")) break;
        if (auto ok = expect_separator("]"); !ok) return fail(ok.error());
      }
      return make(NodeKind::kList, offset, std::move(items));
    }
    if (accept("{")) {
      std::vector<NodePtr> entries;
      while (!accept("}")) {
        auto key = expr();
        if (!key) return key;
        if (auto ok = expect(":"); !ok) return fail(ok.error());
        auto value = expr();
        if (!value) return value;
        entries.push_back(std::move(*key));
        entries.push_back(std::move(*value));
        if (accept("}")) break;
        if (auto ok = expect_separator("}"); !ok) return fail(ok.error());
      }
      return make(NodeKind::kMap, offset, std::move(entries));
    }
    return error_at(offset, fmt::format("unexpected '{}'", t.text));
  }

  Result<NodePtr> identifier() {
    const Token& t = peek();
    size_t offset = t.offset;
    std::string name(t.text);
    ++pos_;
    if (name == "true" || name == "false" || name == "null") {
      auto node = make(NodeKind::kLiteral, offset, {});
      if (name == "null") {
        (*node)->literal = Value{Null{}};
      } else {
        (*node)->literal = Value{name == "true"};
      }
      return node;
    }
    if (is_reserved(name)) return error_at(offset, fmt::format("reserved identifier '{}'", name));
    if (!is_punct("(")) {
      auto node = make(NodeKind::kIdent, offset, {});
      (*node)->name = std::move(name);
      return node;
    }
    auto args = arguments();
    if (!args) return fail(args.error());
    if (name == "has") {
      if (args->size() != 1 || (*args)[0]->kind != NodeKind::kSelect) {
        return error_at(offset,
                        "invalid argument to has() macro: it takes one field selection, "
                        "e.g. has(device.attributes[\"d\"].id)");
      }
      NodePtr select = std::move((*args)[0]);
      auto node = make(NodeKind::kHas, offset, list(select->children[0]));
      if (!node) return node;
      (*node)->name = std::move(select->name);
      return node;
    }
    auto node = make(NodeKind::kCall, offset, std::move(*args));
    if (!node) return node;
    (*node)->name = std::move(name);
    return node;
  }

  std::string_view src_;
  std::vector<Token> tokens_;
  int max_depth_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<NodePtr> parse(std::string_view source, int max_depth) {
  auto tokens = tokenize(source);
  if (!tokens) return fail(std::move(tokens.error()));
  return Parser(source, std::move(*tokens), max_depth).run();
}

}  // namespace kgai::dra::cel
