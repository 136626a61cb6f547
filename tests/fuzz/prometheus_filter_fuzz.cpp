// The filtered Prometheus parser (src/common/prometheus_filter.cpp), the gateway scraper's
// fast path. Input: the kept family names (first line, comma-separated), then the page. It
// promises the full parse's families that the filter keeps whenever both parses succeed (the
// header of common/prometheus.h names the one case where only the filtered parse fails), and
// bounded work on any garbage.
#include <string>
#include <vector>

#include "common/prometheus.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/prometheus_compare.h"

using namespace kgai::prom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = kgai::fuzz::as_text(data, size);
  const std::string_view names_line = kgai::fuzz::take_line(rest);
  std::vector<std::string_view> names;
  for (std::string_view names_rest = names_line; !names_rest.empty();) {
    const size_t comma = names_rest.find(',');
    names.push_back(names_rest.substr(0, comma));
    names_rest =
        comma == std::string_view::npos ? std::string_view() : names_rest.substr(comma + 1);
  }
  const FamilyFilter keep(names);

  ParseOptions options;
  options.max_bytes = 64 * 1024;
  options.max_line_bytes = 4 * 1024;
  options.max_labels_per_sample = 8;
  auto filtered = parse_text(rest, keep, options);
  auto full = parse_text(rest, options);
  if (filtered) {
    for (const MetricFamily& family : filtered->families)
      FUZZ_CHECK(keep.keeps_family(family.name));
  }
  if (full && filtered) {
    Exposition expected;
    for (const MetricFamily& family : full->families) {
      if (keep.keeps_family(family.name)) expected.families.push_back(family);
    }
    FUZZ_CHECK(kgai::fuzz::same_exposition(expected, *filtered));
  }
  return 0;
}
