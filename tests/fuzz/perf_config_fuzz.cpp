// perf's config reader (src/perf/config.h): the Inference Perf style YAML that
// `kgai perf --config` reads. A config that parses is written back with to_yaml, which
// promises parse_config(to_yaml(c)) == c, and validated (which must not crash either).
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "perf/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> warnings;
  auto config = kgai::perf::parse_config(kgai::fuzz::as_text(data, size), "fuzz.yaml", warnings);
  if (!config) return 0;
  (void)kgai::perf::validate(*config);
  const std::string yaml = kgai::perf::to_yaml(*config);
  std::vector<std::string> again_warnings;
  auto again = kgai::perf::parse_config(yaml, "written.yaml", again_warnings);
  if (!again) std::fprintf(stderr, "%s\n%s\n", again.error().message.c_str(), yaml.c_str());
  FUZZ_CHECK(again.has_value());
  if (*again != *config) {
    std::fprintf(stderr, "read back differs:\n--- written\n%s\n--- read back, written again\n%s\n",
                 yaml.c_str(), kgai::perf::to_yaml(*again).c_str());
  }
  FUZZ_CHECK(*again == *config);
  return 0;
}
