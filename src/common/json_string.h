// JSON string literals from arbitrary bytes: request bodies the load generator renders
// (prompts of hundreds of KB, so the common case is a fast scan), tokens the simulator streams,
// and answers that quote what a client sent (a model name in a 404, a path in an error). Never
// throws, never emits invalid JSON.
#pragma once

#include <string>
#include <string_view>

namespace kgai {

// Appends `text` as the contents of a JSON string (no quotes): '"', '\\' and control
// characters escaped (\n, \r, \t, \b, \f, else \u00XX), every other byte copied, invalid UTF-8
// replaced by U+FFFD (a strict JSON parser rejects it otherwise). Plain text is skipped eight
// bytes at a time.
void append_json_escaped(std::string& out, std::string_view text);

// The same with the quotes: a whole JSON string literal.
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

}  // namespace kgai
