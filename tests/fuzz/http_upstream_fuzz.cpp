// The gateway's upstream response parsing (src/common/http_upstream.cpp: UpstreamPool, the
// Boost.Beast parser the proxy reads model servers' responses with). The input is the response
// an upstream sends; the pool's callback contract (src/common/http_upstream.h) is checked:
// on_headers at most once and before any body, then exactly one of on_complete or on_error,
// nothing after it, and an answer within the pool's timeouts. A pool keeps no idle
// connections here, so every input gets a fresh one.
#include <future>
#include <memory>

#include "common/event_loop.h"
#include "common/http_upstream.h"
#include "fuzz/canned_listener.h"
#include "fuzz/fuzz_target.h"
#include "unit/common/http_test_util.h"

using namespace std::chrono_literals;
using kgai::http::UpstreamError;
using kgai::http::UpstreamErrorKind;

namespace {

class CheckingHandler : public kgai::http::UpstreamHandler {
 public:
  void on_headers(int status, std::vector<kgai::http::Header>) override {
    FUZZ_CHECK(!ended_ && !headers_);
    FUZZ_CHECK(status >= 200 && status <= 999);  // 1xx are skipped
    headers_ = true;
  }
  void on_body(std::string_view chunk) override {
    FUZZ_CHECK(!ended_ && headers_);
    body_bytes_ += chunk.size();
  }
  void on_complete() override {
    FUZZ_CHECK(headers_);
    end();
  }
  void on_error(const UpstreamError& error) override {
    FUZZ_CHECK(!error.message.empty());
    FUZZ_CHECK(error.kind != UpstreamErrorKind::kInvalidRequest);  // the request is fine
    end();
  }

  std::future<void> ended() { return done_.get_future(); }

 private:
  void end() {
    FUZZ_CHECK(!ended_);
    ended_ = true;
    done_.set_value();
  }

  bool headers_ = false;
  bool ended_ = false;
  size_t body_bytes_ = 0;
  std::promise<void> done_;
};

struct Harness {
  kgai::fuzz::CannedListener listener;
  kgai::EventLoop loop;
  std::unique_ptr<kgai::http::UpstreamPool> pool;
  kgai::testing::LoopThread thread{loop};

  Harness() {
    kgai::http::UpstreamOptions options;
    options.connect_timeout = 1000ms;
    options.header_timeout = 300ms;
    options.idle_timeout = 300ms;
    options.max_idle_per_host = 0;
    options.max_header_bytes = 4 * 1024;
    pool = kgai::testing::on_loop(
        loop, [&] { return std::make_unique<kgai::http::UpstreamPool>(loop, options); });
  }
  ~Harness() {
    kgai::testing::on_loop(loop, [&] { pool.reset(); });
    thread.stop();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Started on the first input, in the process afl-fuzz forked (threads do not survive fork).
  static Harness harness;
  harness.listener.set_response(kgai::fuzz::as_text(data, size));

  auto handler = std::make_shared<CheckingHandler>();
  auto ended = handler->ended();
  kgai::testing::on_loop(harness.loop, [&] {
    kgai::http::UpstreamRequest request;
    request.method = "POST";
    request.target = "/v1/completions";
    request.headers = {{"Content-Type", "application/json"}};
    request.body = std::make_shared<const std::string>(R"({"model":"m","prompt":"hi"})");
    harness.pool->send("127.0.0.1", harness.listener.port(), std::move(request), handler);
  });
  // The pool's own timeouts end every exchange well within this; not hearing the end is a
  // finding (a request that would hang the proxy's client).
  FUZZ_CHECK(ended.wait_for(5s) == std::future_status::ready);
  return 0;
}
