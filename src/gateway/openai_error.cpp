#include "gateway/openai_error.h"

#include <nlohmann/json.hpp>

namespace kgai::gateway {

http::Response openai_error(int status, std::string_view message) {
  std::string_view type = "InternalServerError";
  switch (status) {
    case 400:
      type = "BadRequestError";
      break;
    case 404:
      type = "NotFoundError";
      break;
    case 413:
      type = "RequestEntityTooLarge";
      break;
    case 429:
      type = "RateLimitError";
      break;
    case 502:
      type = "BadGateway";
      break;
    case 503:
      type = "ServiceUnavailableError";
      break;
    case 504:
      type = "GatewayTimeout";
      break;
  }
  nlohmann::json body = {
      {"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}}}};
  http::Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = body.dump();
  return r;
}

}  // namespace kgai::gateway
