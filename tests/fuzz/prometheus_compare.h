// Equality of parsed Prometheus expositions for the fuzz targets (the GoogleTest version is
// tests/unit/common/prometheus_compare.h): names, types, help, and samples with labels in
// order, values with NaN equal to NaN, and timestamps unless told to skip them.
#pragma once

#include <cmath>

#include "common/prometheus.h"

namespace kgai::fuzz {

inline bool same_exposition(const prom::Exposition& a, const prom::Exposition& b,
                            bool compare_timestamps = true) {
  if (a.families.size() != b.families.size()) return false;
  for (size_t f = 0; f < a.families.size(); ++f) {
    const prom::MetricFamily& x = a.families[f];
    const prom::MetricFamily& y = b.families[f];
    if (x.name != y.name || x.type != y.type || x.help != y.help) return false;
    if (x.samples.size() != y.samples.size()) return false;
    for (size_t s = 0; s < x.samples.size(); ++s) {
      const prom::Sample& p = x.samples[s];
      const prom::Sample& q = y.samples[s];
      if (p.name != q.name || p.labels.size() != q.labels.size()) return false;
      if (compare_timestamps && p.timestamp_ms != q.timestamp_ms) return false;
      if (!(p.value == q.value || (std::isnan(p.value) && std::isnan(q.value)))) return false;
      for (size_t l = 0; l < p.labels.size(); ++l) {
        if (p.labels[l].name != q.labels[l].name || p.labels[l].value != q.labels[l].value) {
          return false;
        }
      }
    }
  }
  return true;
}

}  // namespace kgai::fuzz
