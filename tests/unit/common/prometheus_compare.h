// Checks that a filtered parse (prom::parse_text with a FamilyFilter) gives exactly what a
// full parse gives once the families the filter rejects are dropped: the property the
// filtered parser promises, used by the common and gateway tests.
#pragma once

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "common/prometheus.h"

namespace kgai::prom::testing {

// The full parse's families that `keep` keeps, in order.
inline Exposition keep_families(const Exposition& full, const FamilyFilter& keep) {
  Exposition out;
  for (const MetricFamily& family : full.families) {
    if (keep.keeps_family(family.name)) out.families.push_back(family);
  }
  return out;
}

// Equal names, types, help, and samples (labels in order, values with NaN equal to NaN,
// timestamps).
inline ::testing::AssertionResult same_exposition(const Exposition& a, const Exposition& b) {
  if (a.families.size() != b.families.size()) {
    return ::testing::AssertionFailure()
           << a.families.size() << " families vs " << b.families.size();
  }
  for (std::size_t f = 0; f < a.families.size(); ++f) {
    const MetricFamily& x = a.families[f];
    const MetricFamily& y = b.families[f];
    if (x.name != y.name || x.type != y.type || x.help != y.help) {
      return ::testing::AssertionFailure()
             << "family " << f << ": '" << x.name << "' " << type_name(x.type) << " vs '" << y.name
             << "' " << type_name(y.type) << " (or help differs)";
    }
    if (x.samples.size() != y.samples.size()) {
      return ::testing::AssertionFailure()
             << x.name << ": " << x.samples.size() << " samples vs " << y.samples.size();
    }
    for (std::size_t s = 0; s < x.samples.size(); ++s) {
      const Sample& p = x.samples[s];
      const Sample& q = y.samples[s];
      bool same = p.name == q.name && p.timestamp_ms == q.timestamp_ms &&
                  (p.value == q.value || (std::isnan(p.value) && std::isnan(q.value))) &&
                  p.labels.size() == q.labels.size();
      for (std::size_t l = 0; same && l < p.labels.size(); ++l) {
        same = p.labels[l].name == q.labels[l].name && p.labels[l].value == q.labels[l].value;
      }
      if (!same) return ::testing::AssertionFailure() << x.name << ": sample " << s << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}

// parse_text(text, keep) succeeds and equals the filtered full parse, which must succeed.
inline ::testing::AssertionResult filtered_matches_full(std::string_view text,
                                                        const FamilyFilter& keep) {
  Result<Exposition> full = parse_text(text);
  if (!full) return ::testing::AssertionFailure() << "full parse: " << full.error().message;
  Result<Exposition> filtered = parse_text(text, keep);
  if (!filtered) {
    return ::testing::AssertionFailure() << "filtered parse: " << filtered.error().message;
  }
  return same_exposition(*filtered, keep_families(*full, keep));
}

}  // namespace kgai::prom::testing
