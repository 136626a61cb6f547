#include "perf/record.h"

namespace kgai::perf {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "none";
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kHttpStatus:
      return "http_status";
    case ErrorKind::kBrokenStream:
      return "broken_stream";
  }
  return "unknown";
}

}  // namespace kgai::perf

namespace kgai::perf {

std::optional<ErrorKind> error_kind_from_name(std::string_view name) {
  for (ErrorKind k : {ErrorKind::kNone, ErrorKind::kConnect, ErrorKind::kTimeout,
                      ErrorKind::kHttpStatus, ErrorKind::kBrokenStream}) {
    if (error_kind_name(k) == name) return k;
  }
  return std::nullopt;
}

}  // namespace kgai::perf
