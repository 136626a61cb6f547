#include "gateway/openai_error.h"

#include <fmt/format.h>

#include "common/json_string.h"

namespace kgai::gateway {

namespace {

std::string_view error_type(int status) {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 404:
      return "NotFoundError";
    case 405:
      return "MethodNotAllowed";
    case 413:
      return "RequestEntityTooLarge";
    case 429:
      return "RateLimitError";
    case 431:
      return "RequestHeaderFieldsTooLarge";
    case 502:
      return "BadGateway";
    case 503:
      return "ServiceUnavailableError";
    case 504:
      return "GatewayTimeout";
    default:
      return "InternalServerError";
  }
}

}  // namespace

http::Response openai_error(int status, std::string_view message) {
  // Written by hand, not through a JSON library: the message may quote client bytes (a model
  // name, a path) that are not valid UTF-8, and this must answer, never throw.
  http::Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body.reserve(message.size() + 96);
  r.body += R"({"error":{"message":)";
  append_json_string(r.body, message);
  fmt::format_to(std::back_inserter(r.body), R"(,"type":"{}","param":null,"code":{}}}}})",
                 error_type(status), status);
  return r;
}

}  // namespace kgai::gateway
