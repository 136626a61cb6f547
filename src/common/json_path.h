// Reading nested JSON reports that may lack whole blocks (Inference Perf leaves empty
// distributions null; older versions lack keys): the value at a path of object keys, or null.
#pragma once

#include <initializer_list>

#include <nlohmann/json.hpp>

namespace kgai {

// The value at `keys` (each an object key, in order), or nullptr when a step is missing or
// is not an object.
inline const nlohmann::json* find_path(const nlohmann::json& j,
                                       std::initializer_list<const char*> keys) {
  const nlohmann::json* at = &j;
  for (const char* k : keys) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(k);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

}  // namespace kgai
