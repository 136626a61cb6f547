// Random draws for load plans and datasets, built on std::mt19937_64 alone. The standard's
// distributions (normal, gamma, uniform_int, shuffle) are implementation-defined, so a seed
// would give other send times and prompts under another standard library; these give the
// same numbers everywhere, which is what "a seed reproduces a run" has to mean.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <utility>
#include <vector>

namespace kgai::perf::rnd {

// Uniform in [0, 1), 53 random bits.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform integer in [lo, hi] (lo <= hi), without modulo bias.
inline int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
  if (range == 0) return static_cast<int64_t>(rng());  // the full 64-bit range
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + x % range);
}

// Standard normal (Box-Muller; 1 - u keeps the log finite).
inline double normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform01(rng);
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Exponential with mean 1.
inline double exponential(std::mt19937_64& rng) { return -std::log(1.0 - uniform01(rng)); }

// Gamma with `shape` > 0 and scale 1 (Marsaglia and Tsang; shapes below 1 through the
// boost gamma(shape + 1) * u^(1 / shape)).
inline double gamma(std::mt19937_64& rng, double shape) {
  if (shape < 1.0) {
    const double u = 1.0 - uniform01(rng);
    return gamma(rng, shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    const double x = normal(rng);
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1.0 - uniform01(rng);
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

// Fisher-Yates.
template <typename T>
void shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<size_t>(uniform_int(rng, 0, static_cast<int64_t>(i) - 1));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace kgai::perf::rnd
