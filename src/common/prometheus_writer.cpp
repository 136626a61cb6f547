// The writer half of common/prometheus.h. It runs on every /metrics scrape of a server with
// many series, so it appends straight into one growing std::string: no temporary strings
// per sample, values formatted into a stack buffer.
#include <cmath>
#include <cstring>

#include <fmt/compile.h>
#include <fmt/core.h>

#include "common/prometheus.h"
#include "common/utf8.h"

namespace kgai::prom {
namespace {

// Integers up to 2^53 are exact in a double; beyond that "integral" says nothing about the
// text the producer meant, so they take the shortest round-trip form like other values.
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

// Longest outputs: "-9007199254740992" (17) and "-2.2250738585072014e-308" (24).
constexpr std::size_t kValueBufferSize = 32;

// An upper bound on a histogram line's length besides its name and labels:
// "_bucket{" + "le=\"" + value + "\"} " + count + "\n".
constexpr std::size_t kHistogramLineOverhead = 16 + 2 * kValueBufferSize;

// Writes the text of `value` into `buffer` and returns its length.
std::size_t format_value_to(double value, char* buffer) {
  if (std::isnan(value)) {
    std::memcpy(buffer, "NaN", 3);
    return 3;
  }
  if (std::isinf(value)) {
    std::memcpy(buffer, value > 0 ? "+Inf" : "-Inf", 4);
    return 4;
  }
  if (value == std::trunc(value) && std::fabs(value) <= kMaxExactInteger) {
    // Negative zero prints as "0": Prometheus treats the two as the same sample value.
    auto integer = static_cast<int64_t>(value);
    return fmt::format_to_n(buffer, kValueBufferSize, FMT_COMPILE("{}"), integer).size;
  }
  // fmt's "{}" for double is the shortest text that reads back to the same value.
  return fmt::format_to_n(buffer, kValueBufferSize, FMT_COMPILE("{}"), value).size;
}

void append_value(std::string& out, double value) {
  char buffer[kValueBufferSize];
  out.append(buffer, format_value_to(value, buffer));
}

// Bucket counts print as integers at any size (a double would lose digits past 2^53).
void append_count(std::string& out, uint64_t count) {
  char buffer[kValueBufferSize];
  out.append(buffer, fmt::format_to_n(buffer, kValueBufferSize, FMT_COMPILE("{}"), count).size);
}

// HELP text escapes only backslash and newline (a double quote is literal there).
void append_escaped_help(std::string& out, std::string_view help) {
  // Prometheus rejects a page with invalid UTF-8 anywhere: repair it rather than lose the page.
  std::string repaired;
  if (!is_valid_utf8(help)) help = repaired = repair_utf8(help);
  std::size_t start = 0;
  for (std::size_t i = 0; i < help.size(); ++i) {
    char c = help[i];
    if (c != '\\' && c != '\n') continue;
    out.append(help.data() + start, i - start);
    out.append(c == '\\' ? "\\\\" : "\\n");
    start = i + 1;
  }
  out.append(help.data() + start, help.size() - start);
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  // Label values often come from clients (a model name): one invalid byte would make
  // Prometheus reject the whole page until a restart, so it is repaired here, for every caller.
  std::string repaired;
  if (!is_valid_utf8(value)) value = repaired = repair_utf8(value);
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char* escaped;
    switch (value[i]) {
      case '\\':
        escaped = "\\\\";
        break;
      case '"':
        escaped = "\\\"";
        break;
      case '\n':
        escaped = "\\n";
        break;
      default:
        continue;
    }
    out.append(value.data() + start, i - start);
    out.append(escaped, 2);
    start = i + 1;
  }
  out.append(value.data() + start, value.size() - start);
}

// Appends `name="value",` for each label: the trailing comma lets the histogram writer
// add `le` after the caller's labels; sample() drops it.
std::size_t append_label_pairs(std::string& out, std::span<const LabelView> labels) {
  const std::size_t start = out.size();
  for (const LabelView& label : labels) {
    out.append(label.name);
    out.append("=\"");
    append_escaped_label_value(out, label.value);
    out.append("\",");
  }
  return out.size() - start;
}

}  // namespace

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kUntyped:
      return "untyped";
  }
  return "untyped";
}

std::string format_value(double value) {
  char buffer[kValueBufferSize];
  return std::string(buffer, format_value_to(value, buffer));
}

void TextWriter::family(std::string_view name, MetricType type, std::string_view help) {
  text_.append("# HELP ");
  text_.append(name);
  text_.push_back(' ');
  append_escaped_help(text_, help);
  text_.append("\n# TYPE ");
  text_.append(name);
  text_.push_back(' ');
  text_.append(type_name(type));
  text_.push_back('\n');
}

void TextWriter::sample(std::string_view name, std::span<const LabelView> labels, double value) {
  text_.append(name);
  if (!labels.empty()) {
    text_.push_back('{');
    append_label_pairs(text_, labels);
    text_.back() = '}';  // replaces the trailing comma
  }
  text_.push_back(' ');
  append_value(text_, value);
  text_.push_back('\n');
}

void TextWriter::histogram(std::string_view name, std::span<const LabelView> labels,
                           const stats::BucketHistogram& histogram) {
  const std::vector<double>& bounds = histogram.upper_bounds();
  const std::vector<uint64_t>& counts = histogram.counts();

  // Every line repeats the caller's labels. They are escaped once, into the first line, and
  // the later lines copy them from there. Reserving for the worst case first keeps that
  // source where it is (text_ does not reallocate below).
  std::size_t labels_bound = 0;
  for (const LabelView& label : labels)
    labels_bound += label.name.size() + 2 * label.value.size() + 4;
  const std::size_t line_bound = name.size() + labels_bound + kHistogramLineOverhead;
  text_.reserve(text_.size() + (bounds.size() + 3) * line_bound);

  text_.append(name);
  text_.append("_bucket{");
  const std::size_t labels_size = append_label_pairs(text_, labels);
  const std::size_t labels_at = text_.size() - labels_size;
  auto append_labels_copy = [&] { text_.append(text_.data() + labels_at, labels_size); };

  uint64_t cumulative = 0;
  bool first_line = true;  // its name and labels are already written
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += counts[i];
    const bool last = i == bounds.size();
    // A caller's own +Inf bound would duplicate the le="+Inf" line that always ends the list.
    if (!last && std::isinf(bounds[i]) && bounds[i] > 0) continue;
    if (!first_line) {
      text_.append(name);
      text_.append("_bucket{");
      append_labels_copy();
    }
    first_line = false;
    text_.append("le=\"");
    if (last) {
      text_.append("+Inf");
    } else {
      append_value(text_, bounds[i]);
    }
    text_.append("\"} ");
    append_count(text_, cumulative);
    text_.push_back('\n');
  }

  auto append_series_start = [&](std::string_view suffix) {
    text_.append(name);
    text_.append(suffix);
    if (labels_size > 0) {
      text_.push_back('{');
      append_labels_copy();
      text_.back() = '}';  // replaces the trailing comma
    }
    text_.push_back(' ');
  };
  append_series_start("_sum");
  append_value(text_, histogram.sum());
  text_.push_back('\n');
  append_series_start("_count");
  append_count(text_, histogram.count());
  text_.push_back('\n');
}

}  // namespace kgai::prom
