#include "gateway/endpoint.h"

#include "common/ascii.h"

#include <charconv>
#include <limits>

namespace kgai::gateway {

std::string_view engine_name(EngineType type) {
  switch (type) {
    case EngineType::kVllm:
      return "vllm";
    case EngineType::kSglang:
      return "sglang";
    case EngineType::kTrtllm:
      return "trtllm";
    case EngineType::kTriton:
      return "triton";
  }
  return "unknown";
}

std::optional<EngineType> parse_engine(std::string_view name) {
  for (EngineType t :
       {EngineType::kVllm, EngineType::kSglang, EngineType::kTrtllm, EngineType::kTriton}) {
    if (ascii_iequals(name, engine_name(t))) return t;
  }
  return std::nullopt;
}

Result<Endpoint> parse_endpoint_address(std::string_view text) {
  Endpoint e;
  size_t colon;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("endpoint '{}': expected [IPv6]:PORT", text);
    }
    e.host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("endpoint '{}': expected HOST:PORT", text);
    e.host = std::string(text.substr(0, colon));
    if (e.host.find(':') != std::string::npos) {
      return fail("endpoint '{}': write an IPv6 address as [ADDRESS]:PORT", text);
    }
  }
  if (e.host.empty()) return fail("endpoint '{}': empty host", text);
  const std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return fail("endpoint '{}': port must be 1-65535", text);
  }
  e.port = static_cast<uint16_t>(value);
  e.address = std::string(text);
  return e;
}

double EndpointState::metrics_age(SteadyTime now) const {
  if (scraped_at == SteadyTime{}) return std::numeric_limits<double>::infinity();
  return std::chrono::duration<double>(now - scraped_at).count();
}

}  // namespace kgai::gateway
