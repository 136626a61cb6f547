#include "dra/cel_lexer.h"

#include <array>
#include <charconv>

namespace kgai::dra::cel {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
int hex_value(char c) {
  return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Punctuation, longest first so that "<=" wins over "<".
constexpr std::array<std::string_view, 23> kPunctuation = {
    "&&", "||", "<=", ">=", "==", "!=", "(", ")", "[", "]", "{", "}",
    ".",  ",",  ":",  "?",  "!",  "-",  "+", "*", "/", "%", "<"};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(source) {}

  Result<std::vector<Token>> run() {
    std::vector<Token> tokens;
    while (true) {
      skip_space_and_comments();
      Token token;
      token.offset = pos_;
      if (pos_ >= src_.size()) {
        tokens.push_back(token);
        return tokens;
      }
      auto lexed = next(token);
      if (!lexed) return fail(std::move(lexed.error()));
      token.text = src_.substr(token.offset, pos_ - token.offset);
      tokens.push_back(std::move(token));
    }
  }

 private:
  std::unexpected<Error> error_at(size_t offset, std::string_view message) const {
    return fail("{}: Syntax error: {}", source_position(src_, offset), message);
  }

  char peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }

  void skip_space_and_comments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '/' && peek(1) == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  Result<void> next(Token& token) {
    char c = src_[pos_];
    if (is_digit(c) || (c == '.' && is_digit(peek(1)))) return number(token);
    // String prefixes: r (raw), b (bytes), or both in either order.
    size_t prefix = 0;
    bool raw = false, bytes = false;
    while (prefix < 2) {
      char p = peek(prefix);
      if ((p == 'r' || p == 'R') && !raw) {
        raw = true;
      } else if ((p == 'b' || p == 'B') && !bytes) {
        bytes = true;
      } else {
        break;
      }
      ++prefix;
    }
    if (prefix > 0 && (peek(prefix) == '"' || peek(prefix) == '\'')) {
      pos_ += prefix;
      return string(token, raw, bytes);
    }
    if (c == '"' || c == '\'') return string(token, false, false);
    if (is_ident_start(c)) {
      while (pos_ < src_.size() && is_ident_char(src_[pos_])) ++pos_;
      std::string_view word = src_.substr(token.offset, pos_ - token.offset);
      token.kind = word == "in" ? TokenKind::kPunct : TokenKind::kIdent;
      return {};
    }
    for (std::string_view punct : kPunctuation) {
      if (src_.substr(pos_, punct.size()) == punct) {
        pos_ += punct.size();
        token.kind = TokenKind::kPunct;
        return {};
      }
    }
    if (c == '>') {
      ++pos_;
      token.kind = TokenKind::kPunct;
      return {};
    }
    if (static_cast<unsigned char>(c) >= 0x80) return error_at(pos_, "unexpected character");
    return error_at(pos_, fmt::format("unexpected character '{}'", c));
  }

  Result<void> number(Token& token) {
    size_t start = pos_;
    if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      pos_ += 2;
      size_t digits = pos_;
      uint64_t value = 0;
      bool overflow = false;
      while (pos_ < src_.size() && is_hex(src_[pos_])) {
        overflow |= value > (UINT64_MAX >> 4);
        value = (value << 4) | static_cast<uint64_t>(hex_value(src_[pos_]));
        ++pos_;
      }
      if (pos_ == digits) return error_at(start, "hexadecimal literal needs digits");
      if (overflow) return error_at(start, "integer literal is out of range");
      return integer_suffix(token, start, value);
    }
    while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
    bool is_double = false;
    if (peek() == '.' && is_digit(peek(1))) {
      is_double = true;
      ++pos_;
      while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      size_t mark = pos_;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) {
        pos_ = mark;  // not an exponent; leaves "e..." to the next token
      } else {
        is_double = true;
        while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
      }
    }
    std::string_view text = src_.substr(start, pos_ - start);
    if (is_double) {
      double value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc::result_out_of_range || end != text.data() + text.size()) {
        return error_at(start, "double literal is out of range");
      }
      token.kind = TokenKind::kDouble;
      token.value = Value{value};
      return {};
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) {
      return error_at(start, "integer literal is out of range");
    }
    return integer_suffix(token, start, value);
  }

  Result<void> integer_suffix(Token& token, size_t start, uint64_t value) {
    if (peek() == 'u' || peek() == 'U') {
      ++pos_;
      token.kind = TokenKind::kUint;
      token.value = Value{value};
      return {};
    }
    if (value > static_cast<uint64_t>(INT64_MAX) + 1) {
      return error_at(start, "integer literal is out of range");
    }
    token.kind = TokenKind::kInt;
    token.magnitude = value;
    return {};
  }

  Result<void> string(Token& token, bool raw, bool bytes) {
    char quote = src_[pos_];
    bool triple = peek(1) == quote && peek(2) == quote;
    size_t quote_len = triple ? 3 : 1;
    size_t open = pos_;
    pos_ += quote_len;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return error_at(open, "unterminated string literal");
      char c = src_[pos_];
      if (c == quote && (!triple || (peek(1) == quote && peek(2) == quote))) {
        pos_ += quote_len;
        break;
      }
      if (!triple && (c == '\n' || c == '\r')) {
        return error_at(open, "unterminated string literal (newline in a single-quoted string)");
      }
      if (c == '\\' && !raw) {
        auto escaped = escape(out, bytes);
        if (!escaped) return escaped;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    if (bytes) {
      token.kind = TokenKind::kBytes;
      token.value = Value{Bytes{std::move(out)}};
    } else {
      token.kind = TokenKind::kString;
      token.value = Value{std::move(out)};
    }
    return {};
  }

  // Decodes one escape sequence at pos_ (the backslash).
  Result<void> escape(std::string& out, bool bytes) {
    size_t start = pos_;
    ++pos_;
    if (pos_ >= src_.size()) return error_at(start, "unterminated string literal");
    char c = src_[pos_++];
    switch (c) {
      case 'a':
        out.push_back('\a');
        return {};
      case 'b':
        out.push_back('\b');
        return {};
      case 'f':
        out.push_back('\f');
        return {};
      case 'n':
        out.push_back('\n');
        return {};
      case 'r':
        out.push_back('\r');
        return {};
      case 't':
        out.push_back('\t');
        return {};
      case 'v':
        out.push_back('\v');
        return {};
      case '\\':
      case '\'':
      case '"':
      case '`':
      case '?':
        out.push_back(c);
        return {};
      default:
        break;
    }
    auto read_hex = [&](int count, uint32_t& value) {
      value = 0;
      for (int i = 0; i < count; ++i) {
        if (pos_ >= src_.size() || !is_hex(src_[pos_])) return false;
        value = value * 16 + static_cast<uint32_t>(hex_value(src_[pos_++]));
      }
      return true;
    };
    uint32_t value = 0;
    if (c == 'x' || c == 'X') {
      if (!read_hex(2, value)) return error_at(start, "\\x needs two hexadecimal digits");
    } else if (c == 'u' || c == 'U') {
      if (bytes) return error_at(start, "\\u escapes are not allowed in bytes literals");
      if (!read_hex(c == 'u' ? 4 : 8, value)) {
        return error_at(start, "\\u needs 4 and \\U 8 hexadecimal digits");
      }
      if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return error_at(start, "escape is not a valid Unicode code point");
      }
    } else if (c >= '0' && c <= '3') {
      value = static_cast<uint32_t>(c - '0');
      for (int i = 0; i < 2; ++i) {
        if (pos_ >= src_.size() || src_[pos_] < '0' || src_[pos_] > '7') {
          return error_at(start, "octal escapes need three digits");
        }
        value = value * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
      }
    } else {
      return error_at(start, "invalid escape sequence");
    }
    if (bytes) {
      out.push_back(static_cast<char>(value));
    } else {
      append_utf8(out, value);
    }
    return {};
  }

  std::string_view src_;
  size_t pos_ = 0;
};

}  // namespace

std::string source_position(std::string_view source, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(source[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;  // count code points, not bytes
    }
  }
  return fmt::format("{}:{}", line, column);
}

Result<std::vector<Token>> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace kgai::dra::cel
