#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace kgai::log {

bool init(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for anything it does not know; only accept "off" when asked.
  if (parsed == spdlog::level::off && level != "off") return false;
  static bool created = false;
  if (!created) {
    auto logger = spdlog::stderr_color_mt("kgai");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    created = true;
  }
  spdlog::set_level(parsed);
  return true;
}

}  // namespace kgai::log
