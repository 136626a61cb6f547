// Writing a whole text file (reports, generated configs) with an error that names the file
// and says why, instead of the silent failure of an unchecked std::ofstream.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace kgai {

// Creates or truncates `path` and writes `text`. Errors: "cannot write PATH: REASON".
Result<void> write_text_file(const std::string& path, std::string_view text);

}  // namespace kgai
