#include "perf/records_file.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>

#include <fmt/format.h>
#include <simdjson.h>
#include <nlohmann/json.hpp>

namespace kgai::perf {

namespace {

// Non-finite times cannot be written as JSON numbers: they become null (and come back NaN).
template <typename T>
void append_number(std::string& out, T value) {
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(out), "{}", value);
  } else {
    out += "null";
  }
}

void append_string(std::string& out, const std::string& s) { out += nlohmann::json(s).dump(); }

using simdjson::dom::element;
using simdjson::dom::object;

Result<element> field(const object& o, std::string_view key) {
  element e;
  if (o[key].get(e)) return fail("missing key '{}'", key);
  return e;
}

Result<double> time_field(const object& o, std::string_view key) {
  auto e = field(o, key);
  if (!e) return fail(e.error());
  if (e->is_null()) return std::numeric_limits<double>::quiet_NaN();
  double v;
  if (e->get(v)) return fail("'{}' must be a number", key);
  return v;
}

Result<int64_t> int_field(const object& o, std::string_view key) {
  auto e = field(o, key);
  if (!e) return fail(e.error());
  int64_t v;
  if (e->get(v)) return fail("'{}' must be an integer", key);
  return v;
}

Result<bool> bool_field(const object& o, std::string_view key) {
  auto e = field(o, key);
  if (!e) return fail(e.error());
  bool v;
  if (e->get(v)) return fail("'{}' must be true or false", key);
  return v;
}

}  // namespace

std::string record_line(const RequestRecord& r) {
  std::string out;
  out.reserve(200 + r.token_times.size() * 10);
  fmt::format_to(std::back_inserter(out), "{{\"stage\":{},\"index\":{},\"scheduled\":", r.stage,
                 r.index);
  append_number(out, r.scheduled);
  out += ",\"start_time\":";
  append_number(out, r.sent);
  out += ",\"end_time\":";
  append_number(out, r.end);
  out += ",\"first_token_time\":";
  if (r.first_token >= 0) {
    append_number(out, r.first_token);
  } else {
    out += "null";
  }
  fmt::format_to(std::back_inserter(out),
                 ",\"prompt_tokens\":{},\"output_tokens\":{},\"cached_tokens\":{},"
                 "\"usage_reported\":{},\"success\":{},\"http_status\":{}",
                 r.input_tokens, r.output_tokens, r.cached_tokens, r.usage_reported, r.ok(),
                 r.http_status);
  if (!r.token_times.empty()) {
    out += ",\"token_times\":[";
    for (size_t i = 0; i < r.token_times.size(); ++i) {
      if (i) out += ',';
      append_number(out, r.token_times[i]);
    }
    out += ']';
  }
  if (!r.lora.empty()) {
    out += ",\"lora\":";
    append_string(out, r.lora);
  }
  if (!r.ok()) {
    fmt::format_to(std::back_inserter(out),
                   ",\"error\":{{\"kind\":\"{}\",\"http_status\":{},\"message\":",
                   error_kind_name(r.error), r.http_status);
    append_string(out, r.error_message);
    out += '}';
  }
  out += '}';
  return out;
}

Result<RequestRecord> parse_record_line(std::string_view line) {
  // One parser per thread: a fresh one per line would allocate its buffers every time.
  thread_local simdjson::dom::parser parser;
  element doc;
  if (auto error = parser.parse(line.data(), line.size(), true).get(doc)) {
    return fail("not valid JSON: {}", simdjson::error_message(error));
  }
  object o;
  if (doc.get(o)) return fail("expected a JSON object");
  RequestRecord r;
  auto stage = int_field(o, "stage");
  if (!stage) return fail(stage.error());
  auto index = int_field(o, "index");
  if (!index) return fail(index.error());
  if (*stage < -1 || *stage > 1'000'000 || *index < 0) {
    return fail("'stage' or 'index' out of range");
  }
  r.stage = static_cast<int>(*stage);
  r.index = static_cast<uint64_t>(*index);
  struct TimeKey {
    std::string_view key;
    double* into;
  };
  for (TimeKey t : {TimeKey{"scheduled", &r.scheduled}, TimeKey{"start_time", &r.sent},
                    TimeKey{"end_time", &r.end}, TimeKey{"first_token_time", &r.first_token}}) {
    auto v = time_field(o, t.key);
    if (!v) return fail(v.error());
    *t.into = *v;
  }
  if (std::isnan(r.first_token)) r.first_token = -1;
  struct IntKey {
    std::string_view key;
    int* into;
  };
  for (IntKey k :
       {IntKey{"prompt_tokens", &r.input_tokens}, IntKey{"output_tokens", &r.output_tokens},
        IntKey{"cached_tokens", &r.cached_tokens}}) {
    auto v = int_field(o, k.key);
    if (!v) return fail(v.error());
    if (*v < 0 || *v > std::numeric_limits<int>::max()) return fail("'{}' out of range", k.key);
    *k.into = static_cast<int>(*v);
  }
  auto usage = bool_field(o, "usage_reported");
  if (!usage) return fail(usage.error());
  r.usage_reported = *usage;
  auto success = bool_field(o, "success");
  if (!success) return fail(success.error());
  auto status = int_field(o, "http_status");
  if (!status) return fail(status.error());
  if (*status < 0 || *status > 999) return fail("'http_status' must be 0-999");
  r.http_status = static_cast<int>(*status);

  element e;
  if (!o["token_times"].get(e)) {
    simdjson::dom::array times;
    if (e.get(times)) return fail("'token_times' must be a list of numbers");
    r.token_times.reserve(times.size());
    for (element t : times) {
      double v = std::numeric_limits<double>::quiet_NaN();
      if (!t.is_null() && t.get(v)) return fail("'token_times' must be a list of numbers");
      r.token_times.push_back(static_cast<float>(v));
    }
  }
  if (!o["lora"].get(e)) {
    std::string_view s;
    if (e.get(s)) return fail("'lora' must be a string");
    r.lora = std::string(s);
  }
  const bool has_error = !o["error"].get(e);
  if (*success == has_error) {
    if (*success) return fail("a successful request must not have 'error'");
    return fail("a failed request needs 'error'");
  }
  if (has_error) {
    object err;
    if (e.get(err)) return fail("'error' must be an object");
    std::string_view kind, message;
    if (err["kind"].get(kind)) return fail("'error.kind' must be a string");
    auto parsed = error_kind_from_name(kind);
    if (!parsed || *parsed == ErrorKind::kNone)
      return fail("'error.kind': unknown kind '{}'", kind);
    r.error = *parsed;
    if (err["message"].get(message)) return fail("'error.message' must be a string");
    r.error_message = std::string(message);
  }
  return r;
}

Result<void> write_records_file(const std::string& path,
                                const std::vector<const RequestRecord*>& records) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail("cannot write {}: {}", path, std::strerror(errno));
  std::string buffer;
  for (const RequestRecord* r : records) {
    buffer += record_line(*r);
    buffer += '\n';
    if (buffer.size() > (1 << 20)) {
      out << buffer;
      buffer.clear();
    }
  }
  out << buffer;
  out.close();
  if (!out) return fail("cannot write {}: {}", path, std::strerror(errno));
  return {};
}

Result<std::vector<RequestRecord>> read_records_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return fail("{}: cannot open: {}", path, std::strerror(errno));
  // Far above any real record (a 100k-token stream is ~1 MB): a longer line is a wrong file,
  // refused before it fills the memory.
  constexpr size_t kMaxLine = 64u << 20;
  std::vector<RequestRecord> records;
  std::string line;
  size_t number = 0;
  auto take_line = [&]() -> Result<void> {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) return {};
    auto r = parse_record_line(line);
    if (!r) return fail("{}:{}: {}", path, number, r.error().message);
    records.push_back(std::move(*r));
    return {};
  };
  std::vector<char> block(1 << 16);
  size_t got;
  while ((got = std::fread(block.data(), 1, block.size(), file.get())) > 0) {
    const char* p = block.data();
    const char* end = p + got;
    while (p < end) {
      const char* newline = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* stop = newline ? newline : end;
      line.append(p, stop);
      if (line.size() > kMaxLine) return fail("{}:{}: line longer than 64 MiB", path, number + 1);
      p = stop;
      if (newline) {
        if (auto ok = take_line(); !ok) return fail(ok.error());
        line.clear();
        ++p;
      }
    }
  }
  if (std::ferror(file.get())) return fail("{}: read error: {}", path, std::strerror(errno));
  if (!line.empty()) {
    if (auto ok = take_line(); !ok) return fail(ok.error());
  }
  return records;
}

}  // namespace kgai::perf
