// The blocking HTTP client's response parsing (src/common/http_client.cpp, Boost.Beast's
// parser with kgai's limits), which perf's setup calls, the demo and the tools use to read
// model servers' answers. The input is the response a server sends; each input is read with
// send() and with send_streaming() on fresh connections, and the two must agree. Small limits
// and timeouts keep each run short and reach the limit paths.
#include <string>

#include "common/http_client.h"
#include "fuzz/canned_listener.h"
#include "fuzz/fuzz_target.h"

using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxBodyBytes = 16 * 1024;

kgai::http::ClientOptions client_options() {
  kgai::http::ClientOptions options;
  options.connect_timeout = 1000ms;
  options.request_timeout = 500ms;
  options.max_header_bytes = 4 * 1024;
  options.max_body_bytes = kMaxBodyBytes;
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Started on the first input, in the process afl-fuzz forked (threads do not survive fork).
  static kgai::fuzz::CannedListener listener;
  listener.set_response(kgai::fuzz::as_text(data, size));

  kgai::http::Request request;
  request.method = "GET";
  request.target = "/v1/models";

  kgai::http::Client whole_client("127.0.0.1", listener.port(), client_options());
  auto whole = whole_client.send(request);

  kgai::http::Client streaming_client("127.0.0.1", listener.port(), client_options());
  std::string streamed;
  auto streaming = streaming_client.send_streaming(request, [&](std::string_view piece) {
    streamed.append(piece);
    return true;
  });

  if (whole) {
    FUZZ_CHECK(whole->status >= 100 && whole->status <= 999);
    FUZZ_CHECK(whole->body.size() <= kMaxBodyBytes);
  }
  if (whole && streaming) {
    FUZZ_CHECK(whole->status == streaming->status);
    FUZZ_CHECK(whole->body == streamed);
    FUZZ_CHECK(streaming->body.empty());
  }
  return 0;
}
