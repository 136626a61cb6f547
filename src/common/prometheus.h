// The Prometheus text exposition format (version 0.0.4): a writer for /metrics and a
// strict parser for scraping model servers. No Prometheus client library is packaged for
// Debian, and the format is small, so kgai owns both halves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/stats.h"

namespace kgai::prom {

enum class MetricType { kCounter, kGauge, kHistogram, kSummary, kUntyped };

std::string_view type_name(MetricType type);

struct LabelView {
  std::string_view name;
  std::string_view value;
};

// Formats a sample value the way Prometheus does: "+Inf", "-Inf", "NaN", integers without a
// fraction, otherwise the shortest text that reads back to the same double.
std::string format_value(double value);

// Reads a sample value as the format defines it (Go's ParseFloat): decimal and exponent
// forms with an optional sign, "Inf"/"Infinity" in any case with an optional sign, "NaN"
// in any case. Returns nullopt for anything else (hex floats included) and for values that
// overflow a double; underflow reads as 0 or a subnormal. The gateway also uses it to read
// "le" and "quantile" labels.
std::optional<double> parse_value(std::string_view text);

// Builds exposition text. Families must be declared before their samples; the writer
// escapes label values and HELP text. Counters are named by the caller as they appear
// on the wire (e.g. "vllm:prompt_tokens_total").
class TextWriter {
 public:
  // Writes "# HELP name help" and "# TYPE name type".
  void family(std::string_view name, MetricType type, std::string_view help);
  void sample(std::string_view name, std::span<const LabelView> labels, double value);
  void sample(std::string_view name, std::initializer_list<LabelView> labels, double value) {
    sample(name, std::span<const LabelView>(labels.begin(), labels.size()), value);
  }
  // Writes name_bucket{...,le="..."} (cumulative, ending with le="+Inf"), name_sum and
  // name_count for one labelled series of a histogram family.
  void histogram(std::string_view name, std::span<const LabelView> labels,
                 const stats::BucketHistogram& histogram);
  void histogram(std::string_view name, std::initializer_list<LabelView> labels,
                 const stats::BucketHistogram& h) {
    histogram(name, std::span<const LabelView>(labels.begin(), labels.size()), h);
  }

  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

struct Label {
  std::string name;
  std::string value;
};

struct Sample {
  std::string name;  // full sample name, e.g. "x_bucket", "x_sum"
  std::vector<Label> labels;
  double value = 0.0;
  std::optional<int64_t> timestamp_ms;

  // The value of label `name`, or nullptr.
  const std::string* label(std::string_view name) const;
};

struct MetricFamily {
  std::string name;
  MetricType type = MetricType::kUntyped;
  std::string help;
  std::vector<Sample> samples;
};

struct Exposition {
  std::vector<MetricFamily> families;

  // The family called `name` (histogram and summary samples live in their family), or
  // nullptr. A counter declared as "x" is also found as "x_total" and one declared as
  // "x_total" also as "x", since exporters differ in which name they declare.
  const MetricFamily* find(std::string_view name) const;
  // The first sample called exactly `sample_name` whose labels include all of `match`.
  const Sample* find_sample(std::string_view sample_name,
                            std::initializer_list<LabelView> match = {}) const;
};

struct ParseOptions {
  std::size_t max_bytes = 16 * 1024 * 1024;
  std::size_t max_line_bytes = 64 * 1024;
  std::size_t max_labels_per_sample = 64;
};

// Parses exposition text strictly. Errors name the line and column (1-based), e.g.
// "line 12, column 31: expected ',' or '}' in label set". Samples without a # TYPE line
// form untyped families; a sample whose name does not belong to the current family, a
// duplicate # TYPE, or an invalid metric/label name is an error.
//
// A sample belongs to the current family when its name is the family's name or, by type:
// histogram name_bucket/_sum/_count/_created; summary name, name_sum/_count/_created;
// counter name, name_total, name_created (and stem_created for a family "stem_total").
// A name that would belong to an earlier, non-current family is an error (each family's
// lines must be grouped). Histogram buckets need a numeric "le" label, summary quantiles a
// numeric "quantile". Label values take the escapes \\ \" \n only; HELP text keeps
// unknown escapes as written. A missing final newline and CRLF line ends are accepted;
// NUL bytes, input over max_bytes, a line over max_line_bytes and more than
// max_labels_per_sample labels are errors.
Result<Exposition> parse_text(std::string_view text, const ParseOptions& options = {});

}  // namespace kgai::prom
