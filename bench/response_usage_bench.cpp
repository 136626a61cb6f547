// Reading the usage of a response as a proxy forwards it (src/common/response_usage.h): what
// feeding costs per chunk of a 200-token stream and what the one parse at the end costs (the
// gateway's Director reads every response this way, the proxy's and Envoy's alike).
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/response_usage.h"

namespace {

using kgai::ResponseUsageReader;

constexpr int kTokens = 200;

// A vLLM chat stream with "include_usage" as the engine writes it, one event per write: a role
// chunk, kTokens content chunks (with OpenAI's "usage": null), the usage chunk, [DONE].
std::vector<std::string> stream_events() {
  const std::string head =
      R"(data: {"id":"chatcmpl-5f1c2a","object":"chat.completion.chunk","created":1718000000,)"
      R"("model":"meta-llama/Llama-3.1-8B-Instruct","choices":)";
  std::vector<std::string> events;
  events.push_back(head + R"([{"index":0,"delta":{"role":"assistant","content":""},)"
                          R"("logprobs":null,"finish_reason":null}],"usage":null})"
                          "\n\n");
  for (int i = 0; i < kTokens; ++i) {
    events.push_back(head + R"([{"index":0,"delta":{"content":" token"},"logprobs":null,)" +
                     R"("finish_reason":)" + (i + 1 == kTokens ? "\"length\"" : "null") +
                     R"(}],"usage":null})"
                     "\n\n");
  }
  events.push_back(head +
                   R"([],"usage":{"prompt_tokens":512,"total_tokens":712,)"
                   R"("completion_tokens":200,"prompt_tokens_details":{"cached_tokens":256}}})"
                   "\n\n");
  events.push_back("data: [DONE]\n\n");
  return events;
}

// The chunks a proxy sees: one per event (Arg 0), or the stream re-cut into reads of Arg bytes.
std::vector<std::string> stream_chunks(int64_t bytes) {
  std::vector<std::string> events = stream_events();
  if (bytes == 0) return events;
  std::string all;
  for (const auto& e : events) all += e;
  std::vector<std::string> chunks;
  for (size_t at = 0; at < all.size(); at += static_cast<size_t>(bytes)) {
    chunks.push_back(all.substr(at, static_cast<size_t>(bytes)));
  }
  return chunks;
}

void set_per_chunk(benchmark::State& state, size_t chunks) {
  state.counters["chunks"] = static_cast<double>(chunks);
  state.counters["ns_per_chunk"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(chunks),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// feed() of every chunk, a new reader per response as a proxy call has: the hot path.
void BM_UsageFeedStream(benchmark::State& state) {
  const std::vector<std::string> chunks = stream_chunks(state.range(0));
  for (auto _ : state) {
    ResponseUsageReader reader(ResponseUsageReader::Body::kEventStream);
    for (const auto& c : chunks) reader.feed(c);
    benchmark::DoNotOptimize(reader.buffered_bytes());
  }
  set_per_chunk(state, chunks.size());
}
BENCHMARK(BM_UsageFeedStream)->Arg(0)->Arg(64)->Arg(16384);

// The whole response: feed every chunk, then finish() with a parser kept across responses.
void BM_UsageReadStream(benchmark::State& state) {
  const std::vector<std::string> chunks = stream_chunks(0);
  kgai::OpenAiJson json;
  for (auto _ : state) {
    ResponseUsageReader reader(ResponseUsageReader::Body::kEventStream);
    for (const auto& c : chunks) reader.feed(c);
    benchmark::DoNotOptimize(reader.finish(json));
  }
  set_per_chunk(state, chunks.size());
}
BENCHMARK(BM_UsageReadStream);

// finish() alone: with a parser kept (Arg 1) or made for the call (Arg 0, the allocations of a
// fresh simdjson parser included).
void BM_UsageFinishStream(benchmark::State& state) {
  ResponseUsageReader reader(ResponseUsageReader::Body::kEventStream);
  for (const auto& c : stream_chunks(0)) reader.feed(c);
  kgai::OpenAiJson json;
  for (auto _ : state) {
    benchmark::DoNotOptimize(state.range(0) ? reader.finish(json) : reader.finish());
  }
}
BENCHMARK(BM_UsageFinishStream)->Arg(1)->Arg(0);

// A non-streamed completion of 200 tokens in one chunk, fed and finished.
void BM_UsageReadBody(benchmark::State& state) {
  std::string text;
  for (int i = 0; i < kTokens; ++i) text += " token";
  const std::string body =
      R"({"id":"cmpl-5f1c2a","object":"text_completion","created":1718000000,)"
      R"("model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"text":")" +
      text +
      R"(","logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":512,)"
      R"("total_tokens":712,"completion_tokens":200}})";
  kgai::OpenAiJson json;
  for (auto _ : state) {
    ResponseUsageReader reader(ResponseUsageReader::Body::kJson);
    reader.feed(body);
    benchmark::DoNotOptimize(reader.finish(json));
  }
}
BENCHMARK(BM_UsageReadBody);

}  // namespace
