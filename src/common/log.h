// Logging: a thin layer over spdlog so that modules log through one configured logger
// (stderr, with a level chosen on the command line).
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace kgai::log {

// Sets up the process-wide logger. `level` is one of trace, debug, info, warn, error, off.
// Returns false (and keeps the current level) when the name is unknown.
bool init(std::string_view level);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;

}  // namespace kgai::log
