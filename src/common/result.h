// The one error convention inside kgai modules: functions that can fail return
// `Result<T>` (std::expected<T, Error>). The CLI turns an Error into a message and an
// exit code; modules never print or exit on their own.
#pragma once

#include <expected>
#include <string>
#include <utility>

#include <fmt/core.h>

namespace kgai {

struct Error {
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

// Builds the unexpected half of a Result with a formatted message:
//   return fail("{}: line {}: {}", path, line, what);
template <typename... Args>
std::unexpected<Error> fail(fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error{fmt::format(format, std::forward<Args>(args)...)});
}

inline std::unexpected<Error> fail(Error error) { return std::unexpected(std::move(error)); }

}  // namespace kgai
