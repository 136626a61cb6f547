#include "dra/quantity.h"

#include <array>
#include <cstdlib>
#include <limits>

namespace kgai::dra {
namespace {

constexpr std::string_view kGrammarError =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

constexpr __int128 kNanosPerUnit = 1'000'000'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 10^n for 0 <= n <= 38; anything larger does not fit and the callers treat it as overflow.
bool pow10(int n, __int128& out) {
  if (n < 0 || n > 38) return false;
  __int128 value = 1;
  for (int i = 0; i < n; ++i) value *= 10;
  out = value;
  return true;
}

bool checked_mul(__int128 a, __int128 b, __int128& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

// Parses a decimal digit string (no sign) into a 128-bit integer; false on overflow.
bool parse_digits(std::string_view digits, __int128& out) {
  __int128 value = 0;
  for (char c : digits) {
    if (!checked_mul(value, 10, value) || __builtin_add_overflow(value, c - '0', &value)) {
      return false;
    }
  }
  out = value;
  return true;
}

std::string int128_to_string(__int128 value) {
  if (value == 0) return "0";
  bool negative = value < 0;
  // Work on the negative side so that the minimum value does not overflow on negation.
  __int128 v = negative ? value : -value;
  std::string digits;
  while (v != 0) {
    digits.push_back(static_cast<char>('0' - static_cast<int>(v % 10)));
    v /= 10;
  }
  if (negative) digits.push_back('-');
  return {digits.rbegin(), digits.rend()};
}

struct Suffix {
  int base = 10;     // 10 or 2
  int exponent = 0;  // power of the base (for base 2, a multiple of 10)
  bool is_exponent_form = false;
};

// "" k M G T P E, the binary Ki..Ei, the small n u m, or an exponent "e3" / "E-2".
bool parse_suffix(std::string_view text, Suffix& out) {
  static constexpr std::array<std::pair<std::string_view, int>, 10> kDecimal = {{{"n", -9},
                                                                                 {"u", -6},
                                                                                 {"m", -3},
                                                                                 {"", 0},
                                                                                 {"k", 3},
                                                                                 {"M", 6},
                                                                                 {"G", 9},
                                                                                 {"T", 12},
                                                                                 {"P", 15},
                                                                                 {"E", 18}}};
  static constexpr std::array<std::pair<std::string_view, int>, 6> kBinary = {
      {{"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}}};
  for (auto [name, exponent] : kDecimal) {
    if (text == name) {
      out = {10, exponent, false};
      return true;
    }
  }
  for (auto [name, exponent] : kBinary) {
    if (text == name) {
      out = {2, exponent, false};
      return true;
    }
  }
  if (text.size() >= 2 && (text[0] == 'e' || text[0] == 'E')) {
    std::string_view rest = text.substr(1);
    bool negative = false;
    if (rest[0] == '+' || rest[0] == '-') {
      negative = rest[0] == '-';
      rest.remove_prefix(1);
    }
    if (rest.empty() || rest.size() > 4) return false;  // beyond 10^9999 nothing fits anyway
    int exponent = 0;
    for (char c : rest) {
      if (!is_digit(c)) return false;
      exponent = exponent * 10 + (c - '0');
    }
    out = {10, negative ? -exponent : exponent, true};
    return true;
  }
  return false;
}

}  // namespace

Result<Quantity> Quantity::parse(std::string_view text) {
  auto bad = [&]() { return fail("{}, got '{}'", kGrammarError, text); };
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  size_t pos = 0;
  while (pos < rest.size() && is_digit(rest[pos])) ++pos;
  std::string_view integer_part = rest.substr(0, pos);
  std::string_view fraction_part;
  if (pos < rest.size() && rest[pos] == '.') {
    size_t start = ++pos;
    while (pos < rest.size() && is_digit(rest[pos])) ++pos;
    fraction_part = rest.substr(start, pos - start);
  }
  if (integer_part.empty() && fraction_part.empty()) return bad();
  Suffix suffix;
  if (!parse_suffix(rest.substr(pos), suffix)) return bad();

  // Significant digits only: leading zeros of the integer, trailing zeros of the fraction.
  while (!integer_part.empty() && integer_part[0] == '0') integer_part.remove_prefix(1);
  while (!fraction_part.empty() && fraction_part.back() == '0') fraction_part.remove_suffix(1);

  // value = digits * 10^(decimal_shift) * 2^(binary_shift), in nanos.
  int decimal_shift = 9 - static_cast<int>(fraction_part.size());
  int binary_shift = 0;
  if (suffix.base == 10) {
    decimal_shift += suffix.exponent;
  } else {
    binary_shift = suffix.exponent;
  }
  std::string digits = std::string(integer_part) + std::string(fraction_part);
  // Digits below one nano only decide rounding (Kubernetes rounds such values up, away from
  // zero); dropping them keeps the integer small. With a binary suffix they still matter, so
  // they are kept and the exact product is divided below.
  bool round_up = false;
  if (binary_shift == 0 && decimal_shift < 0) {
    size_t drop = std::min(digits.size(), static_cast<size_t>(-decimal_shift));
    for (size_t i = digits.size() - drop; i < digits.size(); ++i) round_up |= digits[i] != '0';
    digits.resize(digits.size() - drop);
    decimal_shift = 0;
  }
  auto overflow = [&]() {
    return fail(
        "quantity '{}' is out of the representable range (about 1.7e29) or has too many digits",
        text);
  };
  __int128 magnitude = 0;
  if (!parse_digits(digits, magnitude)) return overflow();
  if (magnitude != 0) {
    if (binary_shift > 0) {
      if (binary_shift >= 127 || !checked_mul(magnitude, __int128{1} << binary_shift, magnitude)) {
        return overflow();
      }
    }
    __int128 scale = 0;
    if (decimal_shift >= 0) {
      if (!pow10(decimal_shift, scale) || !checked_mul(magnitude, scale, magnitude)) {
        return overflow();
      }
    } else {
      if (!pow10(-decimal_shift, scale)) return fail("quantity '{}' has too many digits", text);
      round_up |= magnitude % scale != 0;
      magnitude /= scale;
    }
  }
  if (round_up) ++magnitude;
  Quantity q;
  q.nanos_ = negative ? -magnitude : magnitude;
  q.format_ = suffix.base == 2          ? Format::kBinarySI
              : suffix.is_exponent_form ? Format::kDecimalExponent
                                        : Format::kDecimalSI;
  return q;
}

Quantity Quantity::from_int(int64_t value) {
  Quantity q;
  q.nanos_ = static_cast<__int128>(value) * kNanosPerUnit;
  return q;
}

int Quantity::compare(const Quantity& other) const {
  return nanos_ < other.nanos_ ? -1 : nanos_ > other.nanos_ ? 1 : 0;
}

Result<Quantity> Quantity::add(const Quantity& other) const {
  Quantity result = *this;
  if (nanos_ == 0) result.format_ = other.format_;
  if (__builtin_add_overflow(nanos_, other.nanos_, &result.nanos_)) {
    return fail("quantity overflow in {} + {}", to_string(), other.to_string());
  }
  return result;
}

Result<Quantity> Quantity::sub(const Quantity& other) const {
  Quantity result = *this;
  if (nanos_ == 0) result.format_ = other.format_;
  if (__builtin_sub_overflow(nanos_, other.nanos_, &result.nanos_)) {
    return fail("quantity overflow in {} - {}", to_string(), other.to_string());
  }
  return result;
}

int Quantity::sign() const { return nanos_ < 0 ? -1 : nanos_ > 0 ? 1 : 0; }

bool Quantity::is_integer() const { return nanos_ % kNanosPerUnit == 0; }

Result<int64_t> Quantity::as_integer() const {
  if (!is_integer()) return fail("cannot convert value to integer: {} is not whole", to_string());
  __int128 units = nanos_ / kNanosPerUnit;
  if (units < std::numeric_limits<int64_t>::min() || units > std::numeric_limits<int64_t>::max()) {
    return fail("cannot convert value to integer: {} is out of int64 range", to_string());
  }
  return static_cast<int64_t>(units);
}

double Quantity::as_approximate_float() const {
  // Split so that the integer part keeps its precision before the division.
  return static_cast<double>(nanos_ / kNanosPerUnit) +
         static_cast<double>(nanos_ % kNanosPerUnit) / 1e9;
}

std::string Quantity::to_string() const {
  if (nanos_ == 0) return "0";
  if (format_ == Format::kBinarySI && is_integer()) {
    __int128 units = nanos_ / kNanosPerUnit;
    if (units <= -1024 || units >= 1024) {
      static constexpr std::array<std::string_view, 7> kSuffixes = {"",   "Ki", "Mi", "Gi",
                                                                    "Ti", "Pi", "Ei"};
      size_t power = 0;
      while (power + 1 < kSuffixes.size() && units % 1024 == 0) {
        units /= 1024;
        ++power;
      }
      return int128_to_string(units) + std::string(kSuffixes[power]);
    }
  }
  // Decimal: the largest exponent (a multiple of 3, from nano to exa) that leaves a whole
  // mantissa, as Kubernetes prints "1500m" for 1.5 and "2k" for 2000.
  __int128 mantissa = nanos_;
  int exponent = -9;
  while (exponent < 18 && mantissa % 1000 == 0) {
    mantissa /= 1000;
    exponent += 3;
  }
  std::string text = int128_to_string(mantissa);
  if (format_ == Format::kDecimalExponent) {
    if (exponent != 0) text += "e" + std::to_string(exponent);
    return text;
  }
  switch (exponent) {
    case -9:
      return text + "n";
    case -6:
      return text + "u";
    case -3:
      return text + "m";
    case 3:
      return text + "k";
    case 6:
      return text + "M";
    case 9:
      return text + "G";
    case 12:
      return text + "T";
    case 15:
      return text + "P";
    case 18:
      return text + "E";
    default:
      return text;
  }
}

}  // namespace kgai::dra
