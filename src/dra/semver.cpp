#include "dra/semver.h"

#include <algorithm>

namespace kgai::dra {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_identifier_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool is_numeric(std::string_view id) { return !id.empty() && std::ranges::all_of(id, is_digit); }

// A numeric identifier: "0" or digits without a leading zero, within uint64.
bool parse_number(std::string_view text, uint64_t& out) {
  if (!is_numeric(text) || (text.size() > 1 && text[0] == '0')) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(c - '0'), &value)) {
      return false;
    }
  }
  out = value;
  return true;
}

std::vector<std::string_view> split_dots(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    parts.push_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

int compare_identifiers(std::string_view a, std::string_view b) {
  bool a_numeric = is_numeric(a), b_numeric = is_numeric(b);
  if (a_numeric && b_numeric) {
    // No leading zeros, so the longer number is the larger; this also avoids overflow.
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  } else if (a_numeric != b_numeric) {
    return a_numeric ? -1 : 1;  // numeric identifiers have lower precedence
  }
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

Result<Semver> Semver::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail("invalid semantic version '{}': {}", text, why);
  };
  std::string_view rest = text;
  Semver version;
  size_t plus = rest.find('+');
  if (plus != std::string_view::npos) {
    std::string_view build = rest.substr(plus + 1);
    for (std::string_view id : split_dots(build)) {
      if (id.empty() || !std::ranges::all_of(id, is_identifier_char)) {
        return bad("build metadata must be dot-separated non-empty [0-9A-Za-z-] identifiers");
      }
    }
    version.build = std::string(build);
    rest = rest.substr(0, plus);
  }
  size_t dash = rest.find('-');
  if (dash != std::string_view::npos) {
    for (std::string_view id : split_dots(rest.substr(dash + 1))) {
      if (id.empty() || !std::ranges::all_of(id, is_identifier_char)) {
        return bad("pre-release must be dot-separated non-empty [0-9A-Za-z-] identifiers");
      }
      if (is_numeric(id) && id.size() > 1 && id[0] == '0') {
        return bad("numeric pre-release identifiers must not have leading zeros");
      }
      version.prerelease.emplace_back(id);
    }
    rest = rest.substr(0, dash);
  }
  std::vector<std::string_view> core = split_dots(rest);
  if (core.size() != 3) return bad("expected MAJOR.MINOR.PATCH");
  uint64_t* fields[] = {&version.major, &version.minor, &version.patch};
  for (size_t i = 0; i < 3; ++i) {
    if (!parse_number(core[i], *fields[i])) {
      return bad("MAJOR, MINOR and PATCH must be non-negative integers without leading zeros");
    }
  }
  return version;
}

int Semver::compare(const Semver& other) const {
  auto three_way = [](uint64_t a, uint64_t b) { return a < b ? -1 : a > b ? 1 : 0; };
  if (int c = three_way(major, other.major)) return c;
  if (int c = three_way(minor, other.minor)) return c;
  if (int c = three_way(patch, other.patch)) return c;
  // A pre-release version has lower precedence than the release itself.
  if (prerelease.empty() || other.prerelease.empty()) {
    return prerelease.empty() == other.prerelease.empty() ? 0 : prerelease.empty() ? 1 : -1;
  }
  size_t n = std::min(prerelease.size(), other.prerelease.size());
  for (size_t i = 0; i < n; ++i) {
    if (int c = compare_identifiers(prerelease[i], other.prerelease[i])) return c;
  }
  return three_way(prerelease.size(), other.prerelease.size());
}

std::string Semver::to_string() const {
  std::string text =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (size_t i = 0; i < prerelease.size(); ++i) text += (i == 0 ? "-" : ".") + prerelease[i];
  if (!build.empty()) text += "+" + build;
  return text;
}

}  // namespace kgai::dra
