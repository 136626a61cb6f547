// The YAML files of the built-in catalog, embedded at build time (see embed_catalog.cmake).
#pragma once

#include <span>
#include <string_view>

namespace kgai::catalog::internal {

struct EmbeddedFile {
  std::string_view name;  // "builtin:data/catalog/models.yaml", used in error messages
  std::string_view text;
};

std::span<const EmbeddedFile> builtin_files();

}  // namespace kgai::catalog::internal
