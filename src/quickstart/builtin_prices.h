// The built-in price table (data/quickstart/*.yaml), embedded at build time by
// src/catalog/embed_catalog.cmake. Private to the quickstart module.
#pragma once

#include <span>

#include "catalog/builtin_data.h"

namespace kgai::quickstart::internal {

using catalog::internal::EmbeddedFile;

std::span<const EmbeddedFile> builtin_files();

}  // namespace kgai::quickstart::internal
