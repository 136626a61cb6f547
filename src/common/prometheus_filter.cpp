// FamilyFilter from common/prometheus.h. The filtered parser asks it about every line of a
// page, so the checks compare string_views against a handful of kept names and never
// build a string.
#include <string>
#include <string_view>

#include "common/prometheus.h"

namespace kgai::prom {
namespace {

// `name` less `suffix` if it ends with it (and is longer than it), else empty.
std::string_view without_suffix(std::string_view name, std::string_view suffix) {
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return {};
  return name.substr(0, name.size() - suffix.size());
}

// A family name less one trailing "_total": counters are declared either way.
std::string_view base_of(std::string_view family) {
  std::string_view stem = without_suffix(family, "_total");
  return stem.empty() ? family : stem;
}

}  // namespace

FamilyFilter::FamilyFilter(std::initializer_list<std::string_view> names)
    : FamilyFilter(std::span<const std::string_view>(names.begin(), names.size())) {}

FamilyFilter::FamilyFilter(std::span<const std::string_view> names) {
  bases_.reserve(names.size());
  for (std::string_view name : names) {
    if (!name.empty()) bases_.emplace_back(base_of(name));  // "" would keep nameless garbage
  }
}

bool FamilyFilter::keeps_base(std::string_view base) const {
  for (const std::string& kept : bases_) {
    if (kept.size() == base.size() && kept == base) return true;
  }
  return false;
}

bool FamilyFilter::keeps_family(std::string_view name) const { return keeps_base(base_of(name)); }

// A sample joins the family named like it less one type suffix (or "stem_total" for
// "stem_created"), and a family is kept when its name less "_total" is a kept base. So a
// sample is kept exactly when it is a kept base followed by one of these. Put that way it
// is a prefix test, which rejects most lines of a page in a byte or two.
bool FamilyFilter::keeps_sample(std::string_view name) const {
  for (const std::string& base : bases_) {
    const std::size_t n = base.size();
    // Kept names share prefixes ("vllm:"), so the last byte of the base tells them apart
    // before a full compare does.
    if (name.size() < n || name[n - 1] != base[n - 1]) continue;
    if (name.compare(0, n, base) != 0) continue;
    std::string_view rest = name.substr(n);
    if (rest.starts_with("_total")) rest.remove_prefix(6);  // declared as "base_total"
    if (rest.empty() || rest == "_bucket" || rest == "_sum" || rest == "_count" ||
        rest == "_total" || rest == "_created") {
      return true;
    }
  }
  return false;
}

}  // namespace kgai::prom
