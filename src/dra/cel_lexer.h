// Splits a CEL expression into tokens, decoding literals (numbers, quoted and raw strings,
// bytes) on the way.
#pragma once

#include <string_view>
#include <vector>

#include "common/result.h"
#include "dra/cel_value.h"

namespace kgai::dra::cel {

enum class TokenKind : uint8_t {
  kEnd,
  kInt,  // magnitude in `magnitude`; may be 2^63 when the parser negates it
  kUint,
  kDouble,
  kString,
  kBytes,
  kIdent,
  kPunct,  // operators and brackets, spelled in `text` ("&&", "(", "in", ...)
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  size_t offset = 0;
  std::string_view text;
  uint64_t magnitude = 0;
  Value value;  // decoded literal
};

// "LINE:COLUMN" (1-based, columns in code points) of a byte offset.
std::string source_position(std::string_view source, size_t offset);

// Errors are "LINE:COLUMN: Syntax error: ...".
Result<std::vector<Token>> tokenize(std::string_view source);

}  // namespace kgai::dra::cel
