#include "common/text_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace kgai {

Result<void> write_text_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail("cannot write {}: {}", path, std::strerror(errno));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return fail("cannot write {}: {}", path, std::strerror(errno));
  return {};
}

}  // namespace kgai
