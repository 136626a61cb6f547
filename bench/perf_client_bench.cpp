// What `kgai perf` spends per request on its own side: rendering the JSON body (the nlohmann
// DOM it used to build vs the fmt renderer) and reading a response (HTTP framing plus the
// fields it keeps: text length or content chunks, and usage), for a fixed non-streamed
// completion (what bench/perf_vs_wrk.sh's nginx answers) and a streamed one.
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/openai_json.h"
#include "perf/config.h"
#include "perf/dataset.h"
#include "perf/request_body.h"
#include "perf/response_parser.h"

namespace {

using namespace kgai::perf;
using kgai::BodyFields;
using kgai::ChunkFields;
using kgai::OpenAiJson;
using kgai::UsageFields;

// The body as runner.cpp built it before RequestBodyRenderer.
std::string nlohmann_body(const PerfConfig& config, const std::string& model, const Prompt& p) {
  nlohmann::json body = {{"model", model}, {"max_tokens", p.output_tokens}};
  if (config.api.type == "chat") {
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : p.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(messages);
  } else {
    body["prompt"] = p.text;
  }
  if (config.server.ignore_eos) body["ignore_eos"] = true;
  if (config.api.streaming) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body.dump();
}

// Arg: prompt tokens (16 is the mock dataset's prompt).
Prompt bench_prompt(int tokens, bool chat) {
  Prompt p;
  p.output_tokens = 128;
  if (chat) {
    p.messages = {{"system", "You are a helpful assistant."}, {"user", make_text(tokens, 1)}};
  } else {
    p.text = make_text(tokens, 1);
  }
  return p;
}

PerfConfig bench_config(bool chat) {
  PerfConfig config;
  config.api.type = chat ? "chat" : "completion";
  config.api.streaming = true;
  return config;
}

void BM_BodyNlohmann(benchmark::State& state) {
  const PerfConfig config = bench_config(false);
  const Prompt p = bench_prompt(static_cast<int>(state.range(0)), false);
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann_body(config, model, p));
}
BENCHMARK(BM_BodyNlohmann)->Arg(16)->Arg(1024);

void BM_BodyRenderer(benchmark::State& state) {
  const PerfConfig config = bench_config(false);
  const Prompt p = bench_prompt(static_cast<int>(state.range(0)), false);
  const RequestBodyRenderer renderer(config, "meta-llama/Llama-3.1-8B-Instruct");
  for (auto _ : state) benchmark::DoNotOptimize(renderer.render(p));
}
BENCHMARK(BM_BodyRenderer)->Arg(16)->Arg(1024);

void BM_ChatBodyNlohmann(benchmark::State& state) {
  const PerfConfig config = bench_config(true);
  const Prompt p = bench_prompt(static_cast<int>(state.range(0)), true);
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann_body(config, model, p));
}
BENCHMARK(BM_ChatBodyNlohmann)->Arg(16)->Arg(1024);

void BM_ChatBodyRenderer(benchmark::State& state) {
  const PerfConfig config = bench_config(true);
  const Prompt p = bench_prompt(static_cast<int>(state.range(0)), true);
  const RequestBodyRenderer renderer(config, "meta-llama/Llama-3.1-8B-Instruct");
  for (auto _ : state) benchmark::DoNotOptimize(renderer.render(p));
}
BENCHMARK(BM_ChatBodyRenderer)->Arg(16)->Arg(1024);

// bench/perf_vs_wrk.sh's nginx answer.
std::string fixed_response() {
  const std::string body =
      R"({"id":"cmpl-fixed","object":"text_completion","created":0,"model":"m","choices":)"
      R"([{"index":0,"text":" tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok tok",)"
      R"("logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":16,)"
      R"("total_tokens":32,"completion_tokens":16}})";
  return fmt::format(
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{}",
      body.size(), body);
}

// kgai sim's stream of `tokens` chunks, a usage chunk and [DONE], chunked as servers send it.
std::string streamed_response(int tokens) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  auto chunk = [&](std::string_view json) {
    const std::string event = fmt::format("data: {}\n\n", json);
    fmt::format_to(std::back_inserter(out), "{:x}\r\n{}\r\n", event.size(), event);
  };
  for (int i = 0; i < tokens; ++i) {
    chunk(fmt::format(
        R"({{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":)"
        R"([{{"index":0,"text":" tok{}","logprobs":null,"finish_reason":null}}]}})",
        i));
  }
  chunk(R"({"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[],)"
        R"("usage":{"prompt_tokens":16,"total_tokens":36,"completion_tokens":20}})");
  chunk("[DONE]");
  out += "0\r\n\r\n";
  return out;
}

// Reads one whole response as client_worker.cpp does, without the sockets.
struct ResponseReader {
  ResponseParser parser;
  SseEventReader sse;
  OpenAiJson json;
  std::string body;
  std::string error;

  int read(const std::string& wire) {
    parser.reset();
    sse.reset();
    body.clear();
    int chunks = 0;
    UsageFields usage;
    size_t consumed = 0;
    parser.feed(wire.data(), wire.size(), &consumed, [&](const char* data, size_t size) {
      if (!parser.event_stream()) {
        body.append(data, size);
        return;
      }
      sse.feed(data, size, [&](std::string_view event) {
        if (event == "[DONE]") return true;
        ChunkFields chunk;
        if (!json.parse_chunk(event, &chunk, &error)) return false;
        chunks += chunk.has_text;
        if (chunk.usage.reported) usage = chunk.usage;
        return true;
      });
    });
    if (!parser.event_stream()) {
      BodyFields fields;
      json.parse_body(body, &fields, &error);
      usage = fields.usage;
    }
    return usage.completion_tokens + chunks;
  }
};

void BM_ReadFixedCompletion(benchmark::State& state) {
  const std::string wire = fixed_response();
  ResponseReader reader;
  for (auto _ : state) benchmark::DoNotOptimize(reader.read(wire));
}
BENCHMARK(BM_ReadFixedCompletion);

void BM_ReadStreamedCompletion(benchmark::State& state) {
  const std::string wire = streamed_response(static_cast<int>(state.range(0)));
  ResponseReader reader;
  for (auto _ : state) benchmark::DoNotOptimize(reader.read(wire));
  state.counters["chunks_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * (state.range(0) + 2)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadStreamedCompletion)->Arg(20);

}  // namespace
