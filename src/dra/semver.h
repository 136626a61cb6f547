// Semantic versions (semver 2.0.0) for DRA "version" attributes and CEL's semver() values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kgai::dra {

struct Semver {
  uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> prerelease;  // dot-separated identifiers
  std::string build;                    // ignored in comparisons

  // Strict semver 2.0.0 ("1.2.3", "1.2.3-rc.1+build.5"); no leading "v", no leading zeros.
  static Result<Semver> parse(std::string_view text);
  // -1, 0, 1 by semver precedence (build metadata ignored).
  int compare(const Semver& other) const;
  bool operator==(const Semver& other) const { return compare(other) == 0; }
  std::string to_string() const;
};

}  // namespace kgai::dra
