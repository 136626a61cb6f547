#include "dra/cel_regex.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace kgai::dra::cel {
namespace {

constexpr int kMaxGroupNesting = 100;
constexpr int kMaxRepeatCount = 1000;

// One code point and its length; a byte that does not start valid UTF-8 stands for itself,
// the same way in patterns and subjects.
std::pair<uint32_t, size_t> decode(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len <= 1 || i + len > s.size()) return {c, 1};
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return {c, 1};
    cp = (cp << 6) | (cc & 0x3F);
  }
  return {cp, len};
}

// The parsed pattern, before it becomes a program.
struct RegexNode {
  enum class Kind : uint8_t { kEmpty, kClass, kAny, kBegin, kEnd, kConcat, kAlternate, kRepeat };
  Kind kind = Kind::kEmpty;
  bool negate = false;
  std::vector<Regex::Range> ranges;
  std::vector<RegexNode> children;
  int min = 0, max = -1;  // kRepeat; max -1 is unbounded
};

using Ranges = std::vector<Regex::Range>;

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpace = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};

class RegexParser {
 public:
  explicit RegexParser(std::string_view pattern) : p_(pattern) {}

  Result<RegexNode> run() {
    auto node = alternation(0);
    if (!node) return node;
    if (pos_ < p_.size()) return error("unmatched ')'");
    return node;
  }

 private:
  std::unexpected<Error> error(std::string_view why) const {
    return fail("matches: invalid pattern '{}': {}", p_, why);
  }
  bool at(char c) const { return pos_ < p_.size() && p_[pos_] == c; }

  Result<RegexNode> alternation(int depth) {
    if (depth > kMaxGroupNesting) return error("groups nested too deeply");
    RegexNode alt{.kind = RegexNode::Kind::kAlternate};
    while (true) {
      auto branch = concatenation(depth);
      if (!branch) return branch;
      alt.children.push_back(std::move(*branch));
      if (!at('|')) break;
      ++pos_;
    }
    if (alt.children.size() == 1) return std::move(alt.children[0]);
    return alt;
  }

  Result<RegexNode> concatenation(int depth) {
    RegexNode concat{.kind = RegexNode::Kind::kConcat};
    while (pos_ < p_.size() && !at('|') && !at(')')) {
      char c = p_[pos_];
      if (c == '*' || c == '+' || c == '?') {
        if (concat.children.empty()) return error("missing argument to repetition operator");
        ++pos_;
        RegexNode& last = concat.children.back();
        auto repeated = repeat(std::move(last), c == '+' ? 1 : 0, c == '?' ? 1 : -1);
        if (!repeated) return repeated;
        last = std::move(*repeated);
        continue;
      }
      if (c == '{') {
        if (auto bounds = counted_repeat()) {
          if (concat.children.empty()) return error("missing argument to repetition operator");
          if (bounds->first > kMaxRepeatCount || bounds->second > kMaxRepeatCount) {
            return error("repetition counts are limited to 1000");
          }
          if (bounds->second != -1 && bounds->second < bounds->first) {
            return error("bad repetition operator");
          }
          RegexNode& last = concat.children.back();
          auto repeated = repeat(std::move(last), bounds->first, bounds->second);
          if (!repeated) return repeated;
          last = std::move(*repeated);
          continue;
        }
      }
      auto atom_node = atom(depth);
      if (!atom_node) return atom_node;
      concat.children.push_back(std::move(*atom_node));
    }
    return concat;
  }

  Result<RegexNode> repeat(RegexNode operand, int min, int max) {
    if (operand.kind == RegexNode::Kind::kRepeat) return error("bad repetition operator");
    if (at('?')) ++pos_;  // lazy: the same set of matches
    RegexNode node{.kind = RegexNode::Kind::kRepeat, .min = min, .max = max};
    node.children.push_back(std::move(operand));
    return node;
  }

  // "{n}", "{n,}" or "{n,m}" at pos_; otherwise nullopt and '{' is a literal, as in RE2.
  std::optional<std::pair<int, int>> counted_repeat() {
    size_t i = pos_ + 1;
    auto number = [&](int& out) {
      size_t start = i;
      long value = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9' && i - start < 6) {
        value = value * 10 + (p_[i++] - '0');
      }
      out = static_cast<int>(value);
      return i > start;
    };
    int min = 0, max = 0;
    if (!number(min)) return std::nullopt;
    if (i < p_.size() && p_[i] == '}') {
      max = min;
    } else if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (i < p_.size() && p_[i] == '}') {
        max = -1;
      } else if (!number(max) || i >= p_.size() || p_[i] != '}') {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
    pos_ = i + 1;
    return std::pair{min, max};
  }

  Result<RegexNode> atom(int depth) {
    char c = p_[pos_];
    if (c == '(') {
      ++pos_;
      if (at('?')) {
        if (pos_ + 1 < p_.size() && p_[pos_ + 1] == ':') {
          pos_ += 2;
        } else {
          return error("flags and named groups ((?...)) are not supported");
        }
      }
      auto inner = alternation(depth + 1);
      if (!inner) return inner;
      if (!at(')')) return error("missing ')'");
      ++pos_;
      // Wrapped, so that "(a*)*" is a repeated group rather than a doubled operator.
      RegexNode group{.kind = RegexNode::Kind::kConcat};
      group.children.push_back(std::move(*inner));
      return group;
    }
    if (c == '.') {
      ++pos_;
      return RegexNode{.kind = RegexNode::Kind::kAny};
    }
    if (c == '^' || c == '$') {
      ++pos_;
      return RegexNode{.kind = c == '^' ? RegexNode::Kind::kBegin : RegexNode::Kind::kEnd};
    }
    if (c == '[') return char_class();
    RegexNode node{.kind = RegexNode::Kind::kClass};
    if (c == '\\') {
      auto escaped = escape(node.ranges, node.negate, false);
      if (!escaped) return fail(escaped.error());
      return node;
    }
    auto [cp, len] = decode(p_, pos_);
    pos_ += len;
    node.ranges.push_back({cp, cp});
    return node;
  }

  // An escape at pos_ (the backslash): adds its code points to `ranges`.
  Result<void> escape(Ranges& ranges, bool& negate, bool in_class) {
    ++pos_;
    if (pos_ >= p_.size()) return error("trailing backslash");
    char c = p_[pos_++];
    auto add = [&](const Ranges& r) { ranges.insert(ranges.end(), r.begin(), r.end()); };
    switch (c) {
      case 'd':
        add(kDigit);
        return {};
      case 'w':
        add(kWord);
        return {};
      case 's':
        add(kSpace);
        return {};
      case 'D':
      case 'W':
      case 'S':
        if (in_class) return error("negated classes (\\D \\W \\S) inside [...] are not supported");
        add(c == 'D' ? kDigit : c == 'W' ? kWord : kSpace);
        negate = true;
        return {};
      case 'n':
        ranges.push_back({'\n', '\n'});
        return {};
      case 't':
        ranges.push_back({'\t', '\t'});
        return {};
      case 'r':
        ranges.push_back({'\r', '\r'});
        return {};
      case 'f':
        ranges.push_back({'\f', '\f'});
        return {};
      case 'v':
        ranges.push_back({'\v', '\v'});
        return {};
      case 'a':
        ranges.push_back({'\a', '\a'});
        return {};
      case 'x': {
        uint32_t value = 0;
        for (int k = 0; k < 2; ++k) {
          if (pos_ >= p_.size() || !std::isxdigit(static_cast<unsigned char>(p_[pos_]))) {
            return error("\\x needs two hexadecimal digits");
          }
          char h = p_[pos_++];
          value = value * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        ranges.push_back({value, value});
        return {};
      }
      default:
        break;
    }
    if (std::isalnum(static_cast<unsigned char>(c))) {
      return error(fmt::format("escape \\{} is not supported", c));
    }
    auto cp = static_cast<uint32_t>(static_cast<unsigned char>(c));
    ranges.push_back({cp, cp});
    return {};
  }

  Result<RegexNode> char_class() {
    ++pos_;
    RegexNode node{.kind = RegexNode::Kind::kClass};
    if (at('^')) {
      node.negate = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (pos_ >= p_.size()) return error("missing ']'");
      if (at(']') && !first) {
        ++pos_;
        break;
      }
      first = false;
      uint32_t lo = 0;
      if (at('\\')) {
        Ranges escaped;
        bool negate = false;
        if (auto ok = escape(escaped, negate, true); !ok) return fail(ok.error());
        if (escaped.size() != 1 || escaped[0].lo != escaped[0].hi) {
          node.ranges.insert(node.ranges.end(), escaped.begin(), escaped.end());
          continue;
        }
        lo = escaped[0].lo;
      } else {
        auto [cp, len] = decode(p_, pos_);
        pos_ += len;
        lo = cp;
      }
      uint32_t hi = lo;
      if (at('-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        if (at('\\')) {
          Ranges escaped;
          bool negate = false;
          if (auto ok = escape(escaped, negate, true); !ok) return fail(ok.error());
          if (escaped.size() != 1 || escaped[0].lo != escaped[0].hi)
            return error("bad class range");
          hi = escaped[0].lo;
        } else {
          auto [cp, len] = decode(p_, pos_);
          pos_ += len;
          hi = cp;
        }
        if (hi < lo) return error("bad class range");
      }
      node.ranges.push_back({lo, hi});
    }
    return node;
  }

  std::string_view p_;
  size_t pos_ = 0;
};

class RegexCompiler {
 public:
  Result<std::vector<Regex::Instruction>> run(const RegexNode& root) {
    if (auto ok = emit(root); !ok) return fail(ok.error());
    add({.op = Regex::OpCode::kMatch});
    if (program_.size() > kMaxRegexProgramSize) return too_big();
    return std::move(program_);
  }

 private:
  static std::unexpected<Error> too_big() {
    return fail("matches: pattern is too large once compiled (limit {} instructions)",
                kMaxRegexProgramSize);
  }

  uint32_t add(Regex::Instruction instruction) {
    program_.push_back(std::move(instruction));
    return static_cast<uint32_t>(program_.size() - 1);
  }
  uint32_t next() const { return static_cast<uint32_t>(program_.size()); }

  Result<void> emit(const RegexNode& node) {
    if (program_.size() > kMaxRegexProgramSize) return too_big();
    using K = RegexNode::Kind;
    switch (node.kind) {
      case K::kEmpty:
        return {};
      case K::kClass:
        add({.op = Regex::OpCode::kClass, .negate = node.negate, .ranges = node.ranges});
        return {};
      case K::kAny:
        add({.op = Regex::OpCode::kAny});
        return {};
      case K::kBegin:
        add({.op = Regex::OpCode::kBegin});
        return {};
      case K::kEnd:
        add({.op = Regex::OpCode::kEnd});
        return {};
      case K::kConcat:
        for (const auto& child : node.children) {
          if (auto ok = emit(child); !ok) return ok;
        }
        return {};
      case K::kAlternate: {
        std::vector<uint32_t> jumps_to_end;
        for (size_t i = 0; i < node.children.size(); ++i) {
          uint32_t split = 0;
          bool last = i + 1 == node.children.size();
          if (!last) split = add({.op = Regex::OpCode::kSplit});
          if (!last) program_[split].x = next();
          if (auto ok = emit(node.children[i]); !ok) return ok;
          if (!last) {
            jumps_to_end.push_back(add({.op = Regex::OpCode::kJump}));
            program_[split].y = next();
          }
        }
        for (uint32_t j : jumps_to_end) program_[j].x = next();
        return {};
      }
      case K::kRepeat: {
        const RegexNode& child = node.children[0];
        for (int i = 0; i < node.min; ++i) {
          if (auto ok = emit(child); !ok) return ok;
        }
        if (node.max == -1) {
          uint32_t split = add({.op = Regex::OpCode::kSplit});
          program_[split].x = next();
          if (auto ok = emit(child); !ok) return ok;
          add({.op = Regex::OpCode::kJump, .x = split});
          program_[split].y = next();
          return {};
        }
        std::vector<uint32_t> splits;
        for (int i = node.min; i < node.max; ++i) {
          uint32_t split = add({.op = Regex::OpCode::kSplit});
          program_[split].x = next();
          splits.push_back(split);
          if (auto ok = emit(child); !ok) return ok;
        }
        for (uint32_t s : splits) program_[s].y = next();
        return {};
      }
    }
    return {};
  }

  std::vector<Regex::Instruction> program_;
};

bool class_matches(const Regex::Instruction& inst, uint32_t cp) {
  bool in = std::ranges::any_of(inst.ranges,
                                [&](const Regex::Range& r) { return cp >= r.lo && cp <= r.hi; });
  return in != inst.negate;
}

}  // namespace

bool Regex::search(std::string_view subject) const {
  // Pike VM: the set of live program counters advances one code point at a time, so the
  // work is O(subject length x program size) whatever the pattern.
  std::vector<uint32_t> mark(program_.size(), 0);
  uint32_t generation = 1;
  std::vector<uint32_t> current, following, stack;
  auto add_thread = [&](std::vector<uint32_t>& list, uint32_t pc, bool at_begin, bool at_end) {
    stack.push_back(pc);
    while (!stack.empty()) {
      uint32_t p = stack.back();
      stack.pop_back();
      if (mark[p] == generation) continue;
      mark[p] = generation;
      const Instruction& inst = program_[p];
      switch (inst.op) {
        case OpCode::kJump:
          stack.push_back(inst.x);
          break;
        case OpCode::kSplit:
          stack.push_back(inst.y);
          stack.push_back(inst.x);
          break;
        case OpCode::kBegin:
          if (at_begin) stack.push_back(p + 1);
          break;
        case OpCode::kEnd:
          if (at_end) stack.push_back(p + 1);
          break;
        default:
          list.push_back(p);
      }
    }
  };
  size_t pos = 0;
  while (true) {
    bool at_end = pos >= subject.size();
    add_thread(current, 0, pos == 0, at_end);  // unanchored: a new start at every position
    uint32_t cp = 0;
    size_t len = 0;
    if (!at_end) std::tie(cp, len) = decode(subject, pos);
    ++generation;
    for (uint32_t p : current) {
      const Instruction& inst = program_[p];
      if (inst.op == OpCode::kMatch) return true;
      if (at_end) continue;
      bool ok = inst.op == OpCode::kAny ? cp != '\n' : class_matches(inst, cp);
      if (ok) add_thread(following, p + 1, false, pos + len >= subject.size());
    }
    if (at_end) return false;
    pos += len;
    current.swap(following);
    following.clear();
  }
}

Result<std::shared_ptr<const Regex>> compile_regex(std::string_view pattern) {
  if (pattern.size() > kMaxRegexPatternBytes) {
    return fail("matches: pattern is {} bytes, the limit is {}", pattern.size(),
                kMaxRegexPatternBytes);
  }
  auto tree = RegexParser(pattern).run();
  if (!tree) return fail(std::move(tree.error()));
  auto program = RegexCompiler().run(*tree);
  if (!program) return fail(std::move(program.error()));
  return std::make_shared<const Regex>(std::move(*program));
}

}  // namespace kgai::dra::cel
