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
// escapes label values and HELP text (invalid UTF-8 in them becomes U+FFFD). Counters are named by
// the caller as they appear on the wire (e.g. "vllm:prompt_tokens_total").
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

// The metric families a filtered parse keeps, by family name (as in "# TYPE name"). A
// reader such as the gateway's scraper wants five gauges out of a page of hundreds of
// histogram lines, and building samples it then throws away is most of a full parse's
// cost. Each name also covers its counter spelling with or without "_total", as
// Exposition::find does. Names are copied: a filter may outlive the strings it was built
// from, so one can be built once and shared by every scrape.
class FamilyFilter {
 public:
  explicit FamilyFilter(std::initializer_list<std::string_view> names);
  explicit FamilyFilter(std::span<const std::string_view> names);

  // Whether family `name` is kept: `name` less one trailing "_total" equals a kept name
  // less one trailing "_total".
  bool keeps_family(std::string_view name) const;
  // Whether a sample line called `name` could be a line of a kept family: the family it
  // joins is `name` itself, `name` less one of _bucket/_sum/_count/_total/_created, or for
  // "stem_created" the counter "stem_total" (the rules of parse_text above).
  bool keeps_sample(std::string_view name) const;

 private:
  bool keeps_base(std::string_view base) const;

  std::vector<std::string> bases_;  // the kept names less a trailing "_total"
};

// Parses only the lines of the families `keep` names; the result holds exactly those
// families (the ones whose name keeps_family accepts), each with the samples, type and
// help a full parse gives them.
//
// Every line's metric name is read and checked (for a sample: up to '{', a blank or the
// line end; for "# HELP"/"# TYPE": the token after the keyword), since that scan finds
// where the name ends anyway. Lines keep accepts get the full strict parse, with the same
// errors (line and column) as parse_text. Lines it rejects are skipped without label
// parsing, number conversion or allocation, but a skipped sample line must still have a
// sample's shape: an optional label set closed on the line (its last '}'), a value token
// that starts with a digit or '.' after an optional sign or is Inf/NaN, an optional integer
// timestamp, nothing after. That keeps an HTML error page or prose ("Not Found") an error
// rather than an empty page.
//
// Also checked on the whole input, as by parse_text: max_bytes, NUL bytes and
// max_line_bytes, so any garbage costs bounded time. Not checked on skipped lines: label
// names, quotes and escapes, the label limit, the value's digits ("1e" passes), the type
// after "# TYPE", HELP text, and the family rules (grouping, duplicate TYPE/HELP,
// histogram "le") among skipped families. So a page that parse_text rejects only for such
// a defect in a skipped line parses here. On a page parse_text accepts, the result equals
// parse_text's families filtered by keeps_family, except on a page whose skipped family
// collides with a kept family's sample names (a gauge "x_count" declared after a kept
// histogram "x"): that is an error here, as the "x_count" samples look like the
// histogram's, out of place.
Result<Exposition> parse_text(std::string_view text, const FamilyFilter& keep,
                              const ParseOptions& options = {});

}  // namespace kgai::prom
