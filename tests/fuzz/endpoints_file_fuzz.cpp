// The gateway's static endpoints (src/gateway/endpoints_file.h): the YAML file that
// `kgai gateway --endpoints-file` reads and re-reads when it changes, and the --endpoints
// list (the input's first line).
#include "fuzz/fuzz_target.h"
#include "gateway/endpoints_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = kgai::fuzz::as_text(data, size);
  const std::string_view list = kgai::fuzz::take_line(rest);
  (void)kgai::gateway::parse_endpoint_list(list);
  auto endpoints = kgai::gateway::parse_endpoints_yaml(rest, "fuzz.yaml");
  if (!endpoints) FUZZ_CHECK(endpoints.error().message.starts_with("fuzz.yaml"));
  return 0;
}
