// Error answers in the shape OpenAI clients parse: {"error": {"message", "type", "param",
// "code"}}, with the type vLLM uses for each status.
#pragma once

#include <string>
#include <string_view>

#include "common/http.h"

namespace kgai::gateway {

http::Response openai_error(int status, std::string_view message);

}  // namespace kgai::gateway
