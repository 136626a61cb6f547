// "Did you mean ...?" for names a user typed (config keys, catalog keys, subcommands).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace kgai {

// Levenshtein distance (insertions, deletions, substitutions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// "; did you mean 'stages'?" when one of `known` is within `max_distance` edits of `name`
// (the closest wins), else "". Made to be appended to an error or warning.
std::string did_you_mean(std::string_view name, std::span<const std::string_view> known,
                         std::size_t max_distance);

}  // namespace kgai
