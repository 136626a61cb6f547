// The double's hop to the endpoint the processor picked: plain HTTP/1.1 over kgai's blocking
// client, one kept-alive connection per endpoint and thread. Internal to the double.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "common/http.h"
#include "common/result.h"

namespace kgai::envoy_double::internal {

// Sends `request` to `endpoint` ("ip:port" or "[ipv6]:port"), handing the response head and
// then each body piece over as they arrive. Either callback returning false stops the read.
Result<http::Response> forward(std::string_view endpoint, const http::Request& request,
                               std::chrono::milliseconds timeout,
                               const std::function<bool(const http::Response&)>& on_head,
                               const std::function<bool(std::string_view)>& on_body);

}  // namespace kgai::envoy_double::internal
