// The gateway's EndpointPickerConfig reader (src/gateway/config.h): the YAML file users hand
// `kgai gateway --config`, with plugins, profiles, flow control and model rewrites. Bad input
// must be an error naming the file, never a crash or an exception out of yaml-cpp.
#include "fuzz/fuzz_target.h"
#include "gateway/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = kgai::gateway::parse_gateway_config(kgai::fuzz::as_text(data, size), "fuzz.yaml");
  if (!config) FUZZ_CHECK(config.error().message.starts_with("fuzz.yaml"));
  return 0;
}
