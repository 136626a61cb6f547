// A model server whose timing is known exactly, for checking what `kgai perf` measures
// (bench/perf_timing_accuracy.sh). Every streamed /v1/completions answers TOKENS tokens: the
// first FIRST_MS after the request arrived, each next one STEP_MS after the previous. Each
// token's time is computed from the arrival time (arrival + FIRST_MS + i * STEP_MS), never
// from the previous send, so a late wake-up delays one token and does not shift the rest.
// The last token is followed at once by a usage chunk and [DONE].
//
// The server measures its own lateness: the time of each write minus the token's intended
// time. GET /metrics serves a static vLLM page (so kgai gateway can sit in front). GET /stats
// returns its percentiles, first tokens and next tokens apart (and GET /stats?reset=1 clears them
// after answering), so an error in perf's figures can be told apart from a late server.
//
//   kgai_fixed_timing_server [--port P] [--first-ms 50] [--step-ms 10] [--tokens 20]
//                            [--model fixed-timing]
//
// It prints "listening on http://127.0.0.1:PORT" once ready. Non-streamed completions are
// answered at once (they carry no token timing). Single-threaded: one event loop.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "common/event_loop.h"
#include "common/http.h"
#include "common/http_server.h"
#include "common/sse.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  uint16_t port = 0;
  double first_ms = 50.0;
  double step_ms = 10.0;
  int tokens = 20;
  std::string model = "fixed-timing";
};

// Lateness samples in microseconds, kept whole so percentiles are exact.
class LatenessLog {
 public:
  void add(Clock::duration late) {
    samples_.push_back(std::chrono::duration<double, std::micro>(late).count());
  }
  std::string json() {
    std::vector<double> s = samples_;
    std::sort(s.begin(), s.end());
    auto pct = [&](double p) {
      if (s.empty()) return 0.0;
      auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(s.size() - 1) + 0.5);
      return s[std::min(idx, s.size() - 1)];
    };
    double sum = 0;
    for (double v : s) sum += v;
    return fmt::format(
        R"({{"sends":{},"late_us":{{"mean":{:.1f},"p50":{:.1f},"p90":{:.1f},"p99":{:.1f},)"
        R"("p99.9":{:.1f},"max":{:.1f}}}}})",
        s.size(), s.empty() ? 0.0 : sum / static_cast<double>(s.size()), pct(50), pct(90), pct(99),
        pct(99.9), s.empty() ? 0.0 : s.back());
  }
  void clear() { samples_.clear(); }

 private:
  std::vector<double> samples_;
};

// One streamed response in progress. Owned by the server's map; the timer callback finds it
// by id, so a closed connection (which erases it) never leaves a callback with a dangling
// pointer.
struct Stream {
  Stream(kgai::EventLoop& loop, std::shared_ptr<kgai::http::ResponseStream> out)
      : timer(loop), out(std::move(out)) {}
  kgai::Timer timer;
  std::shared_ptr<kgai::http::ResponseStream> out;
  Clock::time_point arrival;
  int sent = 0;
};

class FixedTimingServer {
 public:
  FixedTimingServer(kgai::EventLoop& loop, Options options)
      : loop_(loop), options_(std::move(options)) {
    chunk_ = kgai::sse::format(fmt::format(
        R"({{"id":"cmpl-fixed","object":"text_completion","created":0,"model":"{}",)"
        R"("choices":[{{"index":0,"text":" tok","logprobs":null,"finish_reason":null}}]}})",
        options_.model));
    last_ = kgai::sse::format(fmt::format(
        R"({{"id":"cmpl-fixed","object":"text_completion","created":0,"model":"{}",)"
        R"("choices":[{{"index":0,"text":" tok","logprobs":null,"finish_reason":"length"}}]}})",
        options_.model));
    last_ += kgai::sse::format(fmt::format(
        R"({{"id":"cmpl-fixed","object":"text_completion","created":0,"model":"{}",)"
        R"("choices":[],"usage":{{"prompt_tokens":1,"total_tokens":{},"completion_tokens":{}}}}})",
        options_.model, options_.tokens + 1, options_.tokens));
    last_ += kgai::sse::format("[DONE]");
  }

  void handle(kgai::http::Request&& request, std::shared_ptr<kgai::http::ResponseStream> out) {
    const Clock::time_point arrival = Clock::now();
    const std::string_view path = request.path();
    if (request.method == "GET" && path == "/v1/models") {
      out->respond(json(200, fmt::format(R"({{"object":"list","data":[{{"id":"{}",)"
                                         R"("object":"model","owned_by":"kgai"}}]}})",
                                         options_.model)));
      return;
    }
    if (request.method == "GET" && path == "/metrics") {
      // A static vLLM page, so kgai gateway can route to this server (it scrapes /metrics).
      kgai::http::Response r;
      r.headers.push_back({"Content-Type", "text/plain; version=0.0.4"});
      r.body = fmt::format(
          "vllm:num_requests_waiting{{model_name=\"{0}\",engine=\"0\"}} 0\n"
          "vllm:num_requests_running{{model_name=\"{0}\",engine=\"0\"}} 0\n"
          "vllm:kv_cache_usage_perc{{model_name=\"{0}\",engine=\"0\"}} 0\n",
          options_.model);
      out->respond(std::move(r));
      return;
    }
    if (request.method == "GET" && path == "/stats") {
      out->respond(json(200, fmt::format(R"({{"first_token":{},"next_tokens":{}}})",
                                         first_lateness_.json(), next_lateness_.json())));
      if (request.target.find("reset=1") != std::string::npos) {
        first_lateness_.clear();
        next_lateness_.clear();
      }
      return;
    }
    if (request.method != "POST" || path != "/v1/completions") {
      out->respond(json(404, R"({"error":{"message":"not found"}})"));
      return;
    }
    if (!is_stream(request.body)) {
      out->respond(json(
          200,
          fmt::format(R"({{"id":"cmpl-fixed","object":"text_completion","created":0,"model":"{}",)"
                      R"("choices":[{{"index":0,"text":" tok","logprobs":null,)"
                      R"("finish_reason":"length"}}],"usage":{{"prompt_tokens":1,)"
                      R"("total_tokens":{},"completion_tokens":{}}}}})",
                      options_.model, options_.tokens + 1, options_.tokens)));
      return;
    }
    out->start(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}});
    const uint64_t id = next_id_++;
    auto stream = std::make_unique<Stream>(loop_, out);
    stream->arrival = arrival;
    Stream& s = *stream;
    streams_.emplace(id, std::move(stream));
    out->on_close([this, id] { streams_.erase(id); });
    arm(id, s);
  }

 private:
  static kgai::http::Response json(int status, std::string body) {
    kgai::http::Response r;
    r.status = status;
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = std::move(body);
    return r;
  }

  // The perf client always writes "stream": true or false; tolerate a space after the colon.
  static bool is_stream(std::string_view body) {
    return body.find(R"("stream":true)") != std::string_view::npos ||
           body.find(R"("stream": true)") != std::string_view::npos;
  }

  Clock::time_point due(const Stream& s) const {
    const double ms = options_.first_ms + options_.step_ms * s.sent;
    return s.arrival + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double, std::milli>(ms));
  }

  void arm(uint64_t id, Stream& s) {
    s.timer.arm(due(s), [this, id] { send(id); });
  }

  void send(uint64_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    const Clock::time_point intended = due(s);
    (s.sent == 0 ? first_lateness_ : next_lateness_).add(Clock::now() - intended);
    ++s.sent;
    if (s.sent < options_.tokens) {
      if (!s.out->write(chunk_)) {
        streams_.erase(it);
        return;
      }
      arm(id, s);
      return;
    }
    auto out = s.out;  // keep it alive past the erase
    streams_.erase(it);
    if (out->write(last_)) out->finish();
  }

  kgai::EventLoop& loop_;
  Options options_;
  std::string chunk_;
  std::string last_;
  LatenessLog first_lateness_;  // the first token of each stream (what TTFT sees)
  LatenessLog next_lateness_;   // the others (what ITL sees)
  std::unordered_map<uint64_t, std::unique_ptr<Stream>> streams_;
  uint64_t next_id_ = 0;
};

int usage() {
  std::fprintf(stderr,
               "usage: kgai_fixed_timing_server [--port P] [--first-ms MS] [--step-ms MS] "
               "[--tokens N] [--model NAME]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (arg == "--port") {
      options.port = static_cast<uint16_t>(std::atoi(value));
    } else if (arg == "--first-ms") {
      options.first_ms = std::atof(value);
    } else if (arg == "--step-ms") {
      options.step_ms = std::atof(value);
    } else if (arg == "--tokens") {
      options.tokens = std::atoi(value);
    } else if (arg == "--model") {
      options.model = value;
    } else {
      return usage();
    }
  }
  if (options.tokens < 1 || options.first_ms < 0 || options.step_ms < 0) return usage();

  kgai::EventLoop loop;
  FixedTimingServer app(loop, options);
  kgai::http::ServerOptions server_options;
  server_options.port = options.port;
  kgai::http::Server server(
      loop, server_options,
      [&app](kgai::http::Request&& request, std::shared_ptr<kgai::http::ResponseStream> out) {
        app.handle(std::move(request), std::move(out));
      });
  auto port = server.listen();
  if (!port) {
    std::fprintf(stderr, "kgai_fixed_timing_server: %s\n", port.error().message.c_str());
    return 2;
  }
  std::printf("listening on http://127.0.0.1:%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  loop.run();
  return 0;
}
