// Reads catalog YAML into models and accelerators: the schema documented at the top of
// data/catalog/models.yaml and accelerators.yaml. Private to the catalog module.
#pragma once

#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"

namespace kgai::catalog::internal {

// Parses `yaml` and applies its entries to `models` and `accelerators`: a new name is added,
// a known name or alias updates that entry with the keys given. On error the vectors may be
// partly updated; callers apply to copies. `source` names the file in error messages.
Result<void> apply_catalog_yaml(std::string_view yaml, std::string_view source,
                                std::vector<ModelSpec>& models,
                                std::vector<AcceleratorSpec>& accelerators);

// Lower-case ASCII, for case-insensitive name matching.
std::string fold_case(std::string_view text);

// True when `name` equals the entry's name or one of its aliases, ignoring case.
template <typename Spec>
bool answers_to(const Spec& spec, std::string_view name) {
  std::string folded = fold_case(name);
  if (fold_case(spec.name) == folded) return true;
  for (const auto& alias : spec.aliases) {
    if (fold_case(alias) == folded) return true;
  }
  return false;
}

}  // namespace kgai::catalog::internal
