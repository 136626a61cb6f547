// The gateway's per-request hot path before scheduling: parsing the body (2 KB and 200 KB),
// hashing the prefix text, matching it against the approximate prefix index of 64 and 1,024
// endpoints, and recording the pick.
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "gateway/prefix_index.h"
#include "gateway/request_info.h"

namespace {

using kgai::gateway::ApiKind;
using kgai::gateway::PrefixIndex;

// Prose-like text with the escapes a real prompt carries (newlines, quotes).
std::string prose(size_t bytes, uint32_t seed) {
  static const char* kWords[] = {"the",   "model", "server", "cache", "token",  "prefix",
                                 "route", "queue", "batch",  "GPU",   "\\n",    "\\\"quoted\\\"",
                                 "kv",    "and",   "of",     "léger", "日本語", "request"};
  std::mt19937 rng(seed);
  std::string text;
  while (text.size() < bytes) {
    text += kWords[rng() % std::size(kWords)];
    text += ' ';
  }
  text.resize(bytes);
  while (!text.empty() &&
         (text.back() == '\\' || (text.back() & 0xC0) == 0x80 || (text.back() & 0x80) != 0)) {
    text.pop_back();  // no dangling escape or cut UTF-8 sequence at the end
  }
  return text;
}

std::string chat_body(size_t bytes) {
  const std::string system = prose(std::min<size_t>(bytes / 4, 8000), 1);
  const std::string user = prose(bytes - system.size() - 200, 2);
  return fmt::format(
      R"({{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{{"role":"system","content":"{}"}},)"
      R"({{"role":"user","content":"{}"}}],"stream":true,"max_completion_tokens":256,"temperature":0.7}})",
      system, user);
}

std::string completion_body(size_t bytes) {
  return fmt::format(
      R"({{"model":"meta-llama/Llama-3.1-8B","prompt":"{}","stream":false,"max_tokens":128,"temperature":0}})",
      prose(bytes - 120, 3));
}

void parse_view(benchmark::State& state, const std::string& body, ApiKind api) {
  for (auto _ : state) {
    auto info = kgai::gateway::parse_request_body(std::string_view(body), api);
    if (!info) state.SkipWithError(info.error().message.c_str());
    benchmark::DoNotOptimize(info);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void parse_in_place(benchmark::State& state, std::string body, ApiKind api) {
  for (auto _ : state) {
    auto info = kgai::gateway::parse_request_body(body, api);
    if (!info) state.SkipWithError(info.error().message.c_str());
    benchmark::DoNotOptimize(info);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_ParseChat(benchmark::State& state) {
  parse_view(state, chat_body(state.range(0)), ApiKind::kChatCompletions);
}
void BM_ParseChatInPlace(benchmark::State& state) {
  parse_in_place(state, chat_body(state.range(0)), ApiKind::kChatCompletions);
}
void BM_ParseCompletion(benchmark::State& state) {
  parse_view(state, completion_body(state.range(0)), ApiKind::kCompletions);
}
void BM_ParseCompletionInPlace(benchmark::State& state) {
  parse_in_place(state, completion_body(state.range(0)), ApiKind::kCompletions);
}
BENCHMARK(BM_ParseChat)->Arg(2 << 10)->Arg(200 << 10);
BENCHMARK(BM_ParseChatInPlace)->Arg(2 << 10)->Arg(200 << 10);
BENCHMARK(BM_ParseCompletion)->Arg(2 << 10)->Arg(200 << 10);
BENCHMARK(BM_ParseCompletionInPlace)->Arg(2 << 10)->Arg(200 << 10);

// What the string_view overload adds: the copy into the padded buffer.
void BM_PaddingCopy(benchmark::State& state) {
  const std::string body = chat_body(state.range(0));
  std::string padded(body.size() + 64, '\0');
  for (auto _ : state) {
    std::memcpy(padded.data(), body.data(), body.size());
    benchmark::DoNotOptimize(padded.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_PaddingCopy)->Arg(2 << 10)->Arg(200 << 10);

void BM_HashBlocks(benchmark::State& state) {
  PrefixIndex index;
  const std::string text = prose(state.range(0), 4);
  std::vector<uint64_t> hashes;
  for (auto _ : state) {
    index.hash_blocks("meta-llama/Llama-3.1-8B-Instruct", text, &hashes);
    benchmark::DoNotOptimize(hashes.data());
  }
  state.counters["blocks"] = static_cast<double>(hashes.size());
}
BENCHMARK(BM_HashBlocks)->Arg(2 << 10)->Arg(200 << 10);

// A pool where every endpoint holds the shared system prompt (`system_chars`) and its own
// conversations behind it; the probe is the system prompt plus one endpoint's conversation,
// `text_chars` long in all. Built once per configuration (it is large for 1,024 endpoints).
struct Pool {
  PrefixIndex index;
  std::string probe;
  size_t entries = 0;

  Pool(uint32_t endpoints, size_t text_chars) {
    const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
    const std::string system = prose(4096, 9);  // 64 blocks shared by all
    std::vector<uint64_t> hashes;
    for (uint32_t e = 0; e < endpoints; ++e) {
      for (uint32_t c = 0; c < 8; ++c) {
        // Conversations of 2 to 130 blocks after the system prompt.
        const std::string text = system + prose(64 * (2 + (e * 8 + c) % 129), 1000 + e * 8 + c);
        index.hash_blocks(model, text, &hashes);
        index.record(e, hashes);
      }
    }
    // The probe continues endpoint 5's conversation 3 (held in part) to `text_chars`.
    const uint32_t e = 5, c = 3;
    probe = system + prose(64 * (2 + (e * 8 + c) % 129), 1000 + e * 8 + c);
    probe += prose(text_chars > probe.size() ? text_chars - probe.size() : 0, 77);
    probe.resize(std::min(probe.size(), text_chars));
    for (uint32_t i = 0; i < endpoints; ++i) entries += index.blocks(i);
  }
};

Pool& pool(uint32_t endpoints, size_t text_chars) {
  static std::map<std::pair<uint32_t, size_t>, std::unique_ptr<Pool>> pools;
  auto& slot = pools[{endpoints, text_chars}];
  if (!slot) slot = std::make_unique<Pool>(endpoints, text_chars);
  return *slot;
}

// hash_blocks + match: the prefix scorer's whole cost per request.
void BM_HashAndMatch(benchmark::State& state) {
  Pool& p = pool(static_cast<uint32_t>(state.range(0)), state.range(1));
  std::vector<uint64_t> hashes;
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto _ : state) {
    p.index.hash_blocks("meta-llama/Llama-3.1-8B-Instruct", p.probe, &hashes);
    out.clear();
    p.index.match(hashes, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["blocks"] = static_cast<double>(hashes.size());
  state.counters["matched"] = static_cast<double>(out.size());
  state.counters["best"] = out.empty() ? 0 : out.front().second;
  state.counters["entries"] = static_cast<double>(p.entries);
  state.counters["MiB"] = static_cast<double>(p.index.memory_bytes()) / (1 << 20);
}
BENCHMARK(BM_HashAndMatch)
    ->Args({64, 2 << 10})
    ->Args({64, 200 << 10})
    ->Args({1024, 2 << 10})
    ->Args({1024, 200 << 10});

// The worst case for match(): every endpoint holds a different length of the same chain
// (endpoint i its first i % 256 + 1 blocks), so there are 256 distinct steps to answer.
void BM_MatchStaggered(benchmark::State& state) {
  const auto endpoints = static_cast<uint32_t>(state.range(0));
  PrefixIndex index;
  const auto hashes = index.hash_blocks("m", prose(256 * 64, 5));
  for (uint32_t e = 0; e < endpoints; ++e) {
    index.record(e, std::span(hashes).first(e % 256 + 1));
  }
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto _ : state) {
    out.clear();
    index.match(hashes, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matched"] = static_cast<double>(out.size());
}
BENCHMARK(BM_MatchStaggered)->Arg(64)->Arg(1024);

// record() of a new chain into a full endpoint: each block inserted evicts one.
void BM_RecordNew(benchmark::State& state) {
  const auto blocks = static_cast<size_t>(state.range(0));
  constexpr uint32_t kEndpoints = 64;
  PrefixIndex index({.default_capacity = 4096});
  std::vector<std::vector<uint64_t>> chains;
  for (int i = 0; i < 512; ++i) {
    chains.push_back(index.hash_blocks(fmt::format("m{}", i), prose(blocks * 64, i)));
  }
  // Fill every endpoint to capacity first.
  for (uint32_t e = 0; e < kEndpoints; ++e) {
    for (int i = 0; index.blocks(e) < 4096; ++i) {
      index.record(e, index.hash_blocks(fmt::format("fill{}-{}", e, i), prose(256 * 64, i)));
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto& chain = chains[i % chains.size()];
    index.record(static_cast<uint32_t>(i % kEndpoints), chain);
    ++i;
  }
  state.counters["ns_per_block"] =
      benchmark::Counter(static_cast<double>(state.iterations() * blocks),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_RecordNew)->Arg(32)->Arg(256);

// record() of a chain the endpoint already holds (the common case: a shared system prompt or
// the next turn of a conversation): moves to the LRU front only.
void BM_RecordHeld(benchmark::State& state) {
  const auto blocks = static_cast<size_t>(state.range(0));
  PrefixIndex index;
  const auto chain = index.hash_blocks("m", prose(blocks * 64, 6));
  for (uint32_t e = 0; e < 1024; ++e) index.record(e, chain);
  uint32_t e = 0;
  for (auto _ : state) {
    index.record(e, chain);
    e = (e + 1) % 1024;
  }
}
BENCHMARK(BM_RecordHeld)->Arg(32)->Arg(256);

// match() from several threads at once on the same index: the one mutex's price.
void BM_MatchContended(benchmark::State& state) {
  Pool& p = pool(64, 2 << 10);
  std::vector<uint64_t> hashes;
  p.index.hash_blocks("meta-llama/Llama-3.1-8B-Instruct", p.probe, &hashes);
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto _ : state) {
    out.clear();
    p.index.match(hashes, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_MatchContended)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
