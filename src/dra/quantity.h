// Kubernetes resource.Quantity ("80Gi", "500m", "1.5", "2e3", "1k"): the capacity and counter
// values of DRA devices, and CEL's quantity() values. Exact: compared and added without
// floating point.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kgai::dra {

class Quantity {
 public:
  Quantity() = default;
  // Kubernetes' grammar: sign, digits with an optional fraction, then a binary suffix
  // (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m "" k M G T P E) or an exponent (e3, E-2).
  // Errors say what is wrong ("quantities must match the regular expression ..." as
  // Kubernetes does, plus the offending text).
  static Result<Quantity> parse(std::string_view text);
  static Quantity from_int(int64_t value);

  // -1, 0, 1.
  int compare(const Quantity& other) const;
  bool operator==(const Quantity& other) const { return compare(other) == 0; }
  bool operator<(const Quantity& other) const { return compare(other) < 0; }

  // Errors on overflow of the representable range.
  Result<Quantity> add(const Quantity& other) const;
  Result<Quantity> sub(const Quantity& other) const;
  int sign() const;
  bool is_integer() const;
  // Errors when not an integer or out of int64's range.
  Result<int64_t> as_integer() const;
  double as_approximate_float() const;
  // Canonical text, as Kubernetes prints it (e.g. "80Gi", "1500m", "2k").
  std::string to_string() const;

 private:
  // The value in units of 10^-9 (nano), which covers every suffix exactly; 128 bits hold
  // up to about 1.7e38 nano = 1.7e29 units (far beyond "100Ei").
  __int128 nanos_ = 0;
  // How the value was written (binary or decimal suffix) for to_string().
  enum class Format : uint8_t {
    kDecimalSI,
    kBinarySI,
    kDecimalExponent
  } format_ = Format::kDecimalSI;
};

}  // namespace kgai::dra
