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
