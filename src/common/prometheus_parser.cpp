// The parser half of common/prometheus.h. The gateway scrapes every model server's
// /metrics every 50 ms, so this is one pass over the input with string_views, no regex and
// no copies besides the strings the result owns. It is strict because a quietly misread
// queue length routes traffic wrong: anything it cannot read exactly is an error that
// names the line and column.
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>

#include <fmt/core.h>

#include "common/prometheus.h"

#include "common/ascii.h"

namespace kgai::prom {
namespace {

enum CharClass : uint8_t {
  kMetricNameStart = 1 << 0,
  kMetricNameChar = 1 << 1,
  kLabelNameStart = 1 << 2,
  kLabelNameChar = 1 << 3,
};

constexpr std::array<uint8_t, 256> kCharClasses = [] {
  std::array<uint8_t, 256> classes{};
  auto set = [&](unsigned char c, uint8_t bits) { classes[c] |= bits; };
  for (int c = 'a'; c <= 'z'; ++c) set(c, 0xF);
  for (int c = 'A'; c <= 'Z'; ++c) set(c, 0xF);
  set('_', 0xF);
  set(':', kMetricNameStart | kMetricNameChar);
  for (int c = '0'; c <= '9'; ++c) set(c, kMetricNameChar | kLabelNameChar);
  return classes;
}();

bool has_class(char c, CharClass bits) {
  return (kCharClasses[static_cast<unsigned char>(c)] & bits) != 0;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Error messages quote input text; control bytes and long tokens must not garble them.
std::string printable(std::string_view text) {
  constexpr std::size_t kMaxShown = 40;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

std::optional<int64_t> parse_timestamp(std::string_view text) {
  // std::from_chars takes no '+'; Go's ParseInt (the reference parser's) does.
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty() || text[0] == '+') return std::nullopt;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// A cursor over one line. Columns are 1-based byte offsets.
struct Cursor {
  std::string_view line;
  std::size_t pos = 0;

  bool at_end() const { return pos >= line.size(); }
  char peek() const { return line[pos]; }
  std::size_t column() const { return pos + 1; }
  void skip_blanks() {
    while (pos < line.size() && is_blank(line[pos])) ++pos;
  }
  std::string_view take_token() {
    std::size_t start = pos;
    while (pos < line.size() && !is_blank(line[pos])) ++pos;
    return line.substr(start, pos - start);
  }
  // [start][char]* where start and char are character classes; empty if the first byte
  // does not qualify.
  std::string_view take_name(CharClass start, CharClass rest) {
    std::size_t begin = pos;
    if (at_end() || !has_class(line[pos], start)) return {};
    ++pos;
    while (pos < line.size() && has_class(line[pos], rest)) ++pos;
    return line.substr(begin, pos - begin);
  }
  std::string_view take_metric_name() { return take_name(kMetricNameStart, kMetricNameChar); }
  std::string_view take_label_name() { return take_name(kLabelNameStart, kLabelNameChar); }
};

// Undoes label value escaping; the caller has checked that every escape is valid.
std::string unescape_label_value(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      ++i;
      out.push_back(raw[i] == 'n' ? '\n' : raw[i]);
    } else {
      out.push_back(raw[i]);
    }
  }
  return out;
}

// HELP text escapes backslash and newline. Other escapes are kept as written, as the
// Prometheus server does: HELP is for people, and not worth failing a scrape over.
std::string unescape_help(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size() && (raw[i + 1] == '\\' || raw[i + 1] == 'n')) {
      ++i;
      out.push_back(raw[i] == 'n' ? '\n' : '\\');
    } else {
      out.push_back(raw[i]);
    }
  }
  return out;
}

std::optional<MetricType> parse_type_name(std::string_view text) {
  // The reference (Go) parser matches type names case-insensitively.
  if (ascii_iequals(text, "counter")) return MetricType::kCounter;
  if (ascii_iequals(text, "gauge")) return MetricType::kGauge;
  if (ascii_iequals(text, "histogram")) return MetricType::kHistogram;
  if (ascii_iequals(text, "summary")) return MetricType::kSummary;
  if (ascii_iequals(text, "untyped")) return MetricType::kUntyped;
  return std::nullopt;
}

// Splits `name` into the part before `suffix`, if it ends with it.
std::optional<std::string_view> strip_suffix(std::string_view name, std::string_view suffix) {
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  return name.substr(0, name.size() - suffix.size());
}

// Whether a sample called `sample` is one of the lines of family `family`. Counters are
// declared either as the sample name ("# TYPE x_total counter", the Python client) or as
// its stem ("# TYPE x counter" followed by x_total samples); both are accepted, with the
// client's "_created" series.
bool belongs_to(const MetricFamily& family, std::string_view sample) {
  std::string_view name = family.name;
  if (!sample.starts_with(name)) {
    if (family.type != MetricType::kCounter) return false;
    auto stem = strip_suffix(name, "_total");
    return stem && sample.size() == stem->size() + 8 && sample.starts_with(*stem) &&
           sample.ends_with("_created");
  }
  std::string_view suffix = sample.substr(name.size());
  switch (family.type) {
    case MetricType::kCounter:
      return suffix.empty() || suffix == "_total" || suffix == "_created";
    case MetricType::kHistogram:
      return suffix == "_bucket" || suffix == "_sum" || suffix == "_count" || suffix == "_created";
    case MetricType::kSummary:
      return suffix.empty() || suffix == "_sum" || suffix == "_count" || suffix == "_created";
    case MetricType::kGauge:
    case MetricType::kUntyped:
      return suffix.empty();
  }
  return false;
}

// A label as it appears on the line, before unescaping.
struct RawLabel {
  std::string_view name;
  std::string_view value;
  bool escaped = false;
};

class Parser {
 public:
  // With `keep`, lines of other families are skipped on their name alone.
  Parser(std::string_view text, const ParseOptions& options, const FamilyFilter* keep = nullptr)
      : text_(text), options_(options), keep_(keep) {}

  Result<Exposition> parse() {
    if (text_.size() > options_.max_bytes) {
      return fail("input is {} bytes, over the limit of {}", text_.size(), options_.max_bytes);
    }
    // One vectorised scan up front is cheaper than a check per byte in every token.
    if (const void* nul = std::memchr(text_.data(), '\0', text_.size())) {
      return nul_error(static_cast<std::size_t>(static_cast<const char*>(nul) - text_.data()));
    }
    std::size_t pos = 0;
    while (pos < text_.size()) {
      ++line_number_;
      const void* newline = std::memchr(text_.data() + pos, '\n', text_.size() - pos);
      std::size_t end =
          newline ? static_cast<std::size_t>(static_cast<const char*>(newline) - text_.data())
                  : text_.size();
      std::string_view line = text_.substr(pos, end - pos);
      if (line.size() > options_.max_line_bytes) {
        return line_error("line is {} bytes, over the limit of {}", line.size(),
                          options_.max_line_bytes);
      }
      // CRLF line ends are not in the format, but are harmless to accept.
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (auto ok = parse_line(line); !ok) return std::unexpected(std::move(ok.error()));
      pos = end + 1;
    }
    Exposition exposition;
    exposition.families = std::move(families_);
    if (keep_ != nullptr) {
      // A kept line may have started a family of another name ("x_sum" without a histogram
      // "x"); a full parse has that family too, and the filter drops it there as well.
      std::erase_if(exposition.families,
                    [&](const MetricFamily& family) { return !keep_->keeps_family(family.name); });
    }
    return exposition;
  }

 private:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  // What the text said about a family beyond MetricFamily's fields, to catch duplicates.
  struct FamilyState {
    bool typed = false;
    bool has_help = false;
  };

  template <typename... Args>
  std::unexpected<Error> error_at(std::size_t column, fmt::format_string<Args...> format,
                                  Args&&... args) const {
    return fail("line {}, column {}: {}", line_number_, column,
                fmt::format(format, std::forward<Args>(args)...));
  }

  template <typename... Args>
  std::unexpected<Error> line_error(fmt::format_string<Args...> format, Args&&... args) const {
    return fail("line {}: {}", line_number_, fmt::format(format, std::forward<Args>(args)...));
  }

  std::unexpected<Error> nul_error(std::size_t offset) const {
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    return fail("line {}, column {}: NUL byte", line, offset - line_start + 1);
  }

  Result<void> parse_line(std::string_view line) {
    Cursor cursor{line};
    cursor.skip_blanks();
    if (cursor.at_end()) return {};
    if (cursor.peek() == '#') return parse_comment(cursor);
    if (keep_ != nullptr && repeats_skipped_name(cursor)) return skip_sample(cursor);
    Result<std::string_view> name = take_sample_name(cursor);
    if (!name) return std::unexpected(std::move(name.error()));
    if (keep_ != nullptr && !keep_->keeps_sample(*name)) {
      skipped_name_ = *name;
      return skip_sample(cursor);
    }
    return parse_sample(*name, cursor);
  }

  // Whether the line starts with the name of the last skipped sample line, ended as a name
  // ends; if so the cursor moves past it. A histogram's bucket lines repeat one name, and
  // one compare is cheaper than checking each byte's class and asking the filter again.
  bool repeats_skipped_name(Cursor& cursor) const {
    std::string_view rest = cursor.line.substr(cursor.pos);
    const std::size_t n = skipped_name_.size();
    if (n == 0 || rest.size() < n || std::memcmp(rest.data(), skipped_name_.data(), n) != 0) {
      return false;
    }
    if (rest.size() > n && rest[n] != '{' && !is_blank(rest[n])) return false;
    cursor.pos += n;
    return true;
  }

  // The rest of a skipped sample line must have a sample's shape: an optional label set
  // closed on the line, a value that starts like a number (or is Inf/NaN), an optional
  // integer timestamp, nothing more. Prose such as "Not Found" gets past a name check but
  // not this; a label set is only delimited (its last '}'), not parsed, and the value is
  // not converted, which is what keeps skipping cheap.
  Result<void> skip_sample(Cursor& cursor) {
    cursor.skip_blanks();
    if (!cursor.at_end() && cursor.peek() == '{') {
      const std::size_t close = cursor.line.rfind('}');
      if (close == std::string_view::npos || close < cursor.pos) {
        return error_at(cursor.column(), "label set is not closed on this line");
      }
      cursor.pos = close + 1;
      cursor.skip_blanks();
    }
    std::size_t value_column = cursor.column();
    std::string_view value = cursor.take_token();
    if (value.empty()) return error_at(value_column, "missing value");
    if (!looks_like_value(value)) {
      return error_at(value_column, "invalid value '{}'", printable(value));
    }
    cursor.skip_blanks();
    if (!cursor.at_end()) {
      std::size_t timestamp_column = cursor.column();
      std::string_view timestamp = cursor.take_token();
      if (!parse_timestamp(timestamp)) {
        return error_at(timestamp_column, "invalid timestamp '{}'", printable(timestamp));
      }
      cursor.skip_blanks();
      if (!cursor.at_end()) return error_at(cursor.column(), "unexpected text after timestamp");
    }
    return skip_line();
  }

  // A digit or '.' after an optional sign, or one of the spelled-out values.
  static bool looks_like_value(std::string_view text) {
    std::string_view body = text;
    if (body[0] == '+' || body[0] == '-') body.remove_prefix(1);
    if (body.empty()) return false;
    if ((body[0] >= '0' && body[0] <= '9') || body[0] == '.') return true;
    return parse_value(text).has_value();  // letters: Inf, NaN; no number conversion
  }

  // The metric name that starts a sample line, which must end at '{', a blank or the line
  // end. Checked on skipped lines too: it costs no more than finding where the name ends,
  // and it is what tells an HTML error page or a binary body from metrics.
  Result<std::string_view> take_sample_name(Cursor& cursor) const {
    std::size_t name_column = cursor.column();
    std::string_view name = cursor.take_metric_name();
    if (name.empty()) return error_at(name_column, "invalid metric name");
    if (!cursor.at_end() && !is_blank(cursor.peek()) && cursor.peek() != '{') {
      return error_at(cursor.column(), "invalid character '{}' in metric name",
                      printable(cursor.line.substr(cursor.pos, 1)));
    }
    return name;
  }

  // A skipped line belongs to some other family, which a full parse would make current;
  // forgetting the current family keeps a kept family's later lines from joining it as if
  // they were still grouped.
  Result<void> skip_line() {
    current_ = kNone;
    return {};
  }

  // "# HELP name text", "# TYPE name type"; any other comment is ignored.
  Result<void> parse_comment(Cursor& cursor) {
    ++cursor.pos;  // '#'
    cursor.skip_blanks();
    std::string_view keyword = cursor.take_token();
    bool help = keyword == "HELP";
    if (!help && keyword != "TYPE") return {};
    cursor.skip_blanks();
    std::size_t name_column = cursor.column();
    std::string_view name = cursor.take_metric_name();
    if (name.empty() || (!cursor.at_end() && !is_blank(cursor.peek()))) {
      return error_at(name_column, "invalid metric name");
    }
    if (keep_ != nullptr && !keep_->keeps_family(name)) return skip_line();
    cursor.skip_blanks();
    return help ? apply_help(name, cursor.line.substr(cursor.pos)) : parse_type(name, cursor);
  }

  Result<void> parse_type(std::string_view name, Cursor& cursor) {
    std::size_t type_column = cursor.column();
    std::string_view type_text = cursor.take_token();
    if (type_text.empty()) return error_at(type_column, "missing metric type");
    std::optional<MetricType> type = parse_type_name(type_text);
    if (!type) return error_at(type_column, "unknown metric type '{}'", printable(type_text));
    cursor.skip_blanks();
    if (!cursor.at_end()) return error_at(cursor.column(), "unexpected text after metric type");
    return apply_type(name, *type);
  }

  Result<void> apply_help(std::string_view name, std::string_view raw_help) {
    std::size_t index = find_family(name);
    if (index == kNone) {
      index = add_family(name, MetricType::kUntyped);
    } else if (states_[index].has_help) {
      return line_error("second HELP for '{}'", name);
    } else if (index != current_ && !families_[index].samples.empty()) {
      return line_error("HELP for '{}' after its samples", name);
    }
    families_[index].help = unescape_help(raw_help);
    states_[index].has_help = true;
    current_ = index;
    return {};
  }

  Result<void> apply_type(std::string_view name, MetricType type) {
    std::size_t index = find_family(name);
    if (index == kNone) {
      index = add_family(name, type);
    } else if (states_[index].typed) {
      return line_error("second TYPE for '{}'", name);
    } else if (!families_[index].samples.empty()) {
      return line_error("TYPE for '{}' after its samples", name);
    }
    families_[index].type = type;
    states_[index].typed = true;
    current_ = index;
    return {};
  }

  // name{label="value",...} value [timestamp]
  // The cursor is just past `name` (take_sample_name).
  Result<void> parse_sample(std::string_view name, Cursor& cursor) {
    cursor.skip_blanks();
    labels_.clear();
    if (!cursor.at_end() && cursor.peek() == '{') {
      if (auto ok = parse_labels(cursor); !ok) return ok;
      cursor.skip_blanks();
    }

    std::size_t value_column = cursor.column();
    std::string_view value_text = cursor.take_token();
    if (value_text.empty()) return error_at(value_column, "missing value");
    std::optional<double> value = parse_value(value_text);
    if (!value) return error_at(value_column, "invalid value '{}'", printable(value_text));

    cursor.skip_blanks();
    std::optional<int64_t> timestamp;
    if (!cursor.at_end()) {
      std::size_t timestamp_column = cursor.column();
      std::string_view timestamp_text = cursor.take_token();
      timestamp = parse_timestamp(timestamp_text);
      if (!timestamp) {
        return error_at(timestamp_column, "invalid timestamp '{}'", printable(timestamp_text));
      }
      cursor.skip_blanks();
      if (!cursor.at_end()) return error_at(cursor.column(), "unexpected text after timestamp");
    }

    Result<std::size_t> family = family_for_sample(name);
    if (!family) return std::unexpected(std::move(family.error()));
    if (auto ok = check_special_labels(families_[*family], name); !ok) return ok;
    add_sample(families_[*family], name, *value, timestamp);
    return {};
  }

  // Reads {name="value",...} into labels_; the cursor is on '{'.
  Result<void> parse_labels(Cursor& cursor) {
    ++cursor.pos;  // '{'
    while (true) {
      cursor.skip_blanks();
      if (cursor.at_end()) return error_at(cursor.column(), "expected label name or '}}'");
      if (cursor.peek() == '}') break;  // also ends a set with a trailing comma
      std::size_t name_column = cursor.column();
      std::string_view name = cursor.take_label_name();
      if (name.empty()) return error_at(name_column, "invalid label name");
      cursor.skip_blanks();
      if (cursor.at_end() || cursor.peek() != '=') {
        return error_at(cursor.column(), "expected '=' after label name");
      }
      ++cursor.pos;
      cursor.skip_blanks();
      if (cursor.at_end() || cursor.peek() != '"') {
        return error_at(cursor.column(), "expected '\"' to start label value");
      }
      RawLabel label{name};
      if (auto ok = parse_label_value(cursor, label); !ok) return ok;
      for (const RawLabel& seen : labels_) {
        if (seen.name == name) return line_error("duplicate label '{}'", name);
      }
      if (labels_.size() >= options_.max_labels_per_sample) {
        return error_at(name_column, "too many labels (the limit is {})",
                        options_.max_labels_per_sample);
      }
      labels_.push_back(label);
      cursor.skip_blanks();
      if (!cursor.at_end() && cursor.peek() == ',') {
        ++cursor.pos;
        continue;
      }
      if (!cursor.at_end() && cursor.peek() == '}') break;
      return error_at(cursor.column(), "expected ',' or '}}' in label set");
    }
    ++cursor.pos;  // '}'
    return {};
  }

  // Reads "..." with escapes \\ \" \n; the cursor is on the opening quote. Values such as
  // model names are the longest tokens on a line, so this jumps between quotes and
  // backslashes with memchr instead of stepping byte by byte.
  Result<void> parse_label_value(Cursor& cursor, RawLabel& label) {
    const std::size_t open_column = cursor.column();
    const char* const begin = cursor.line.data() + cursor.pos + 1;
    const char* const end = cursor.line.data() + cursor.line.size();
    const char* from = begin;
    while (true) {
      auto* quote = static_cast<const char*>(std::memchr(from, '"', end - from));
      if (quote == nullptr) return error_at(open_column, "unterminated label value");
      auto* backslash = static_cast<const char*>(std::memchr(from, '\\', quote - from));
      if (backslash == nullptr) {
        label.value = std::string_view(begin, quote - begin);
        cursor.pos = quote + 1 - cursor.line.data();
        return {};
      }
      // An escape before the next quote; it may itself be the escaped quote.
      char escaped = backslash[1];  // in bounds: the quote is still ahead
      if (escaped != '\\' && escaped != '"' && escaped != 'n') {
        return error_at(backslash - cursor.line.data() + 1, "invalid escape '\\{}' in label value",
                        printable({&backslash[1], 1}));
      }
      label.escaped = true;
      from = backslash + 2;
    }
  }

  // The family a sample called `name` joins: the current one if the name fits it, else a
  // new untyped family. A name that fits an earlier family is an error: the format keeps
  // each family's lines together, and merging would hide a broken exporter.
  Result<std::size_t> family_for_sample(std::string_view name) {
    if (current_ != kNone && belongs_to(families_[current_], name)) return current_;
    if (std::size_t owner = find_owner(name); owner != kNone) {
      const MetricFamily& family = families_[owner];
      if (owner == current_) {
        return line_error("sample '{}' is not part of {} '{}'", name, type_name(family.type),
                          family.name);
      }
      return line_error("sample '{}' of family '{}' is separated from the family's other lines",
                        name, family.name);
    }
    current_ = add_family(name, MetricType::kUntyped);
    return current_;
  }

  // An existing family that `name` belongs to or collides with, or kNone.
  std::size_t find_owner(std::string_view name) {
    if (std::size_t index = find_family(name); index != kNone) return index;
    for (std::string_view suffix : {"_bucket", "_sum", "_count", "_total", "_created"}) {
      auto stem = strip_suffix(name, suffix);
      if (!stem) continue;
      if (std::size_t index = find_family(*stem); index != kNone) {
        if (belongs_to(families_[index], name)) return index;
      }
      if (suffix == "_created") {
        scratch_.assign(*stem);
        scratch_ += "_total";
        if (std::size_t index = find_family(scratch_); index != kNone) {
          if (belongs_to(families_[index], name)) return index;
        }
      }
    }
    return kNone;
  }

  // Histogram buckets need a numeric "le" and summary quantiles a numeric "quantile", or
  // the family cannot be read as one.
  Result<void> check_special_labels(const MetricFamily& family, std::string_view name) {
    std::string_view required;
    if (family.type == MetricType::kHistogram && name.ends_with("_bucket")) {
      required = "le";
    } else if (family.type == MetricType::kSummary && name == family.name) {
      required = "quantile";
    } else {
      return {};
    }
    for (const RawLabel& label : labels_) {
      if (label.name != required) continue;
      if (label.escaped || !parse_value(label.value)) {
        return line_error("invalid '{}' label value '{}'", required, printable(label.value));
      }
      return {};
    }
    return line_error("{} sample '{}' has no '{}' label", type_name(family.type), name, required);
  }

  void add_sample(MetricFamily& family, std::string_view name, double value,
                  std::optional<int64_t> timestamp) {
    Sample& sample = family.samples.emplace_back();
    sample.name.assign(name);
    sample.labels.reserve(labels_.size());
    for (const RawLabel& raw : labels_) {
      Label& label = sample.labels.emplace_back();
      label.name.assign(raw.name);
      if (raw.escaped) {
        label.value = unescape_label_value(raw.value);
      } else {
        label.value.assign(raw.value);
      }
    }
    sample.value = value;
    sample.timestamp_ms = timestamp;
  }

  std::size_t find_family(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? kNone : it->second;
  }

  // `name` views the input text, which outlives the parser, so it can key the index.
  std::size_t add_family(std::string_view name, MetricType type) {
    std::size_t index = families_.size();
    MetricFamily& family = families_.emplace_back();
    family.name.assign(name);
    family.type = type;
    states_.emplace_back();
    index_.emplace(name, index);
    return index;
  }

  std::string_view text_;
  const ParseOptions& options_;
  const FamilyFilter* keep_;  // null: keep every line
  std::size_t line_number_ = 0;
  std::vector<MetricFamily> families_;
  std::vector<FamilyState> states_;
  std::unordered_map<std::string_view, std::size_t> index_;
  std::size_t current_ = kNone;
  std::vector<RawLabel> labels_;   // the current sample's, reused across lines
  std::string_view skipped_name_;  // the last skipped sample name, viewing text_
  std::string scratch_;
};

}  // namespace

std::optional<double> parse_value(std::string_view text) {
  bool negative = false;
  std::string_view body = text;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body.empty()) return std::nullopt;
  char first = body[0];
  if ((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z')) {
    // Go's ParseFloat (which the format refers to) spells infinity "inf" or "infinity" in
    // any case and with a sign, NaN "nan" in any case and without one.
    if (ascii_iequals(body, "inf") || ascii_iequals(body, "infinity")) {
      return negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    }
    if (ascii_iequals(body, "nan") && body.size() == text.size()) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return std::nullopt;
  }
  if (!((first >= '0' && first <= '9') || first == '.')) return std::nullopt;
  double value = 0.0;
  const char* end = body.data() + body.size();
  auto [stop, error] = std::from_chars(body.data(), end, value, std::chars_format::general);
  if (stop != end || error == std::errc::invalid_argument) return std::nullopt;
  if (error == std::errc::result_out_of_range) {
    // from_chars reports overflow and underflow alike. Go's ParseFloat fails only on
    // overflow; underflow reads as zero or a subnormal, which strtod gives.
    std::string copy(body);
    value = std::strtod(copy.c_str(), nullptr);
    if (std::isinf(value)) return std::nullopt;
  }
  return negative ? -value : value;
}

const std::string* Sample::label(std::string_view name) const {
  for (const Label& label : labels) {
    if (label.name == name) return &label.value;
  }
  return nullptr;
}

const MetricFamily* Exposition::find(std::string_view name) const {
  for (const MetricFamily& family : families) {
    if (family.name == name) return &family;
  }
  // A counter declared as "x" is also found as "x_total", and one declared as "x_total"
  // as "x": exporters differ, and readers should not have to know which one they scrape.
  for (const MetricFamily& family : families) {
    if (family.type != MetricType::kCounter) continue;
    std::string_view declared = family.name;
    if (strip_suffix(name, "_total") == declared || strip_suffix(declared, "_total") == name) {
      return &family;
    }
  }
  return nullptr;
}

const Sample* Exposition::find_sample(std::string_view sample_name,
                                      std::initializer_list<LabelView> match) const {
  for (const MetricFamily& family : families) {
    if (!belongs_to(family, sample_name)) continue;
    for (const Sample& sample : family.samples) {
      if (sample.name != sample_name) continue;
      bool matches = true;
      for (const LabelView& wanted : match) {
        const std::string* value = sample.label(wanted.name);
        if (value == nullptr || *value != wanted.value) {
          matches = false;
          break;
        }
      }
      if (matches) return &sample;
    }
  }
  return nullptr;
}

Result<Exposition> parse_text(std::string_view text, const ParseOptions& options) {
  return Parser(text, options).parse();
}

Result<Exposition> parse_text(std::string_view text, const FamilyFilter& keep,
                              const ParseOptions& options) {
  return Parser(text, options, &keep).parse();
}

}  // namespace kgai::prom
