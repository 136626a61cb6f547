// The strict Prometheus text parser (src/common/prometheus_parser.cpp), which reads every
// /metrics page the gateway and perf scrape from model servers, and the writer
// (prometheus_writer.cpp) that serves kgai's own pages. A page the parser accepts is written
// back with TextWriter and parsed again: the two parses must be equal (timestamps aside, which
// the writer does not write, and invalid UTF-8 in help and label values, which it repairs).
// Small limits let the fuzzer reach the limit checks.
#include <vector>

#include "common/prometheus.h"
#include "common/utf8.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/prometheus_compare.h"

using namespace kgai::prom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ParseOptions options;
  options.max_bytes = 64 * 1024;
  options.max_line_bytes = 4 * 1024;
  options.max_labels_per_sample = 8;
  auto parsed = parse_text(kgai::fuzz::as_text(data, size), options);
  if (!parsed) return 0;
  TextWriter writer;
  std::vector<LabelView> labels;
  for (const MetricFamily& family : parsed->families) {
    writer.family(family.name, family.type, family.help);
    for (const Sample& sample : family.samples) {
      labels.clear();
      for (const Label& label : sample.labels) labels.push_back({label.name, label.value});
      writer.sample(sample.name, labels, sample.value);
    }
  }
  ParseOptions unlimited;  // escaping may make lines longer than the input's
  auto reparsed = parse_text(writer.text(), unlimited);
  if (!reparsed) {
    std::fprintf(stderr, "written page does not parse: %s\n%s\n", reparsed.error().message.c_str(),
                 writer.text().c_str());
  }
  FUZZ_CHECK(reparsed.has_value());
  for (MetricFamily& family : parsed->families) {
    family.help = kgai::repair_utf8(family.help);
    for (Sample& sample : family.samples) {
      for (Label& label : sample.labels) label.value = kgai::repair_utf8(label.value);
    }
  }
  FUZZ_CHECK(kgai::fuzz::same_exposition(*parsed, *reparsed, /*compare_timestamps=*/false));
  return 0;
}
