#include "common/did_you_mean.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace kgai {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string did_you_mean(std::string_view name, std::span<const std::string_view> known,
                         std::size_t max_distance) {
  auto closest = std::min_element(known.begin(), known.end(), [&](auto x, auto y) {
    return edit_distance(name, x) < edit_distance(name, y);
  });
  if (closest != known.end() && edit_distance(name, *closest) <= max_distance) {
    return fmt::format("; did you mean '{}'?", *closest);
  }
  return "";
}

}  // namespace kgai
