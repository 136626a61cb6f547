// Starts real `kgai sim` processes on free loopback ports and talks to them over HTTP.
#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/prometheus.h"
#include "common/sse.h"
#include "integration/process.h"

namespace kgai {
namespace {

using nlohmann::json;

constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";

std::vector<std::string> sim_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"sim",    "--host", "127.0.0.1",    "--port", "0",
                                   "--seed", "7",      "--time-scale", "20"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class SimServer {
 public:
  explicit SimServer(std::vector<std::string> extra = {}, size_t replicas = 1)
      : process_(sim_args(std::move(extra))) {
    ports_ = process_.wait_for_ports(replicas);
  }
  bool ok() const { return !ports_.empty(); }
  uint16_t port(size_t i = 0) const { return ports_.at(i); }
  const std::vector<uint16_t>& ports() const { return ports_; }
  http::Client client(size_t i = 0) const { return http::Client("127.0.0.1", port(i)); }
  std::string output() const { return process_.output(); }
  testing::KgaiProcess& process() { return process_; }

 private:
  testing::KgaiProcess process_;
  std::vector<uint16_t> ports_;
};

http::Request post(std::string target, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = std::move(target);
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

http::Request get(std::string target) {
  http::Request r;
  r.target = std::move(target);
  return r;
}

// The value of one vLLM series, read through the strict Prometheus parser.
double metric(http::Client& c, std::string_view name,
              std::initializer_list<prom::LabelView> labels = {}) {
  auto r = c.send(get("/metrics"));
  EXPECT_TRUE(r);
  if (!r) return -1;
  auto parsed = prom::parse_text(r->body);
  EXPECT_TRUE(parsed) << parsed.error().message;
  if (!parsed) return -1;
  const prom::Sample* s = parsed->find_sample(name, labels);
  EXPECT_NE(s, nullptr) << name;
  return s ? s->value : -1;
}

struct StreamResult {
  std::vector<json> chunks;
  bool done = false;
  int status = 0;
};

StreamResult stream(http::Client& c, const http::Request& request) {
  StreamResult out;
  sse::Parser parser;
  auto r = c.send_streaming(request, [&](std::string_view bytes) {
    auto fed = parser.feed(bytes, [&](sse::Event&& e) {
      if (e.data == "[DONE]") {
        out.done = true;
      } else {
        out.chunks.push_back(json::parse(e.data));
      }
    });
    EXPECT_TRUE(fed);
    return true;
  });
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  if (r) out.status = r->status;
  EXPECT_FALSE(parser.has_partial());
  return out;
}

TEST(SimServer, HealthModelsAndMetrics) {
  SimServer sim({"--lora-modules", "sql-adapter,chat-adapter"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto health = c.send(get("/health"));
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  auto models = c.send(get("/v1/models"));
  ASSERT_TRUE(models);
  auto j = json::parse(models->body);
  ASSERT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["data"][0]["id"], kModel);
  EXPECT_EQ(j["data"][0]["max_model_len"], 131072);
  EXPECT_EQ(j["data"][1]["parent"], kModel);

  auto m = c.send(get("/metrics"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->header("Content-Type").find("text/plain"), std::string_view::npos);
  auto parsed = prom::parse_text(m->body);
  ASSERT_TRUE(parsed) << parsed.error().message;
  for (const char* family : {"vllm:num_requests_running",
                             "vllm:num_requests_waiting",
                             "vllm:kv_cache_usage_perc",
                             "vllm:gpu_cache_usage_perc",
                             "vllm:prefix_cache_queries_total",
                             "vllm:prefix_cache_hits_total",
                             "vllm:num_preemptions_total",
                             "vllm:prompt_tokens_total",
                             "vllm:generation_tokens_total",
                             "vllm:request_success_total",
                             "vllm:time_to_first_token_seconds",
                             "vllm:inter_token_latency_seconds",
                             "vllm:time_per_output_token_seconds",
                             "vllm:request_time_per_output_token_seconds",
                             "vllm:e2e_request_latency_seconds",
                             "vllm:request_queue_time_seconds",
                             "vllm:request_inference_time_seconds",
                             "vllm:request_prefill_time_seconds",
                             "vllm:request_decode_time_seconds",
                             "vllm:request_prompt_tokens",
                             "vllm:request_generation_tokens",
                             "vllm:request_params_max_tokens",
                             "vllm:iteration_tokens_total",
                             "vllm:lora_requests_info",
                             "vllm:cache_config_info"}) {
    EXPECT_NE(parsed->find(family), nullptr) << family;
  }
  const prom::Sample* running =
      parsed->find_sample("vllm:num_requests_running", {{"model_name", kModel}, {"engine", "0"}});
  ASSERT_NE(running, nullptr);
  EXPECT_EQ(running->value, 0);
  const prom::Sample* cache = parsed->find_sample("vllm:cache_config_info");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(*cache->label("block_size"), "16");
  EXPECT_GT(std::stoll(*cache->label("num_gpu_blocks")), 10000);
  const prom::Sample* lora = parsed->find_sample("vllm:lora_requests_info");
  ASSERT_NE(lora, nullptr);
  EXPECT_EQ(*lora->label("max_lora"), "1");
  EXPECT_GT(lora->value, 1.7e9);  // wall-clock seconds
  const prom::Sample* ttft_inf =
      parsed->find_sample("vllm:time_to_first_token_seconds_bucket", {{"le", "+Inf"}});
  ASSERT_NE(ttft_inf, nullptr);
}

TEST(SimServer, UnstreamedCompletionReportsUsage) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  const std::string prompt(400, 'p');  // 100 tokens
  auto r = c.send(
      post("/v1/completions",
           json{{"model", kModel}, {"prompt", prompt}, {"max_tokens", 12}, {"ignore_eos", true}}
               .dump()));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], kModel);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().size(), 12u * 4u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 100);
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_EQ(j["usage"]["total_tokens"], 112);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);

  EXPECT_EQ(metric(c, "vllm:request_success_total", {{"finished_reason", "length"}}), 1);
  EXPECT_EQ(metric(c, "vllm:generation_tokens_total"), 12);
  EXPECT_EQ(metric(c, "vllm:prompt_tokens_total"), 100);
  EXPECT_EQ(metric(c, "vllm:e2e_request_latency_seconds_count"), 1);
}

TEST(SimServer, StreamedChatWithUsage) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto result =
      stream(c, post("/v1/chat/completions",
                     json{{"model", kModel},
                          {"messages", {{{"role", "user"}, {"content", "Tell me a story."}}}},
                          {"max_tokens", 20},
                          {"ignore_eos", true},
                          {"stream", true},
                          {"stream_options", {{"include_usage", true}}}}
                         .dump()));
  EXPECT_EQ(result.status, 200);
  EXPECT_TRUE(result.done);
  ASSERT_EQ(result.chunks.size(), 21u);  // 20 tokens + usage
  EXPECT_EQ(result.chunks[0]["choices"][0]["delta"]["role"], "assistant");
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(result.chunks[i]["object"], "chat.completion.chunk");
    EXPECT_EQ(result.chunks[i]["choices"][0]["delta"]["content"].get<std::string>().size(), 4u);
  }
  EXPECT_EQ(result.chunks[19]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(result.chunks[18]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(result.chunks[20]["choices"].empty());
  EXPECT_EQ(result.chunks[20]["usage"]["completion_tokens"], 20);
}

TEST(SimServer, StreamWithoutUsageAndNaturalStop) {
  SimServer sim({"--natural-output-len", "5"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto result = stream(
      c,
      post("/v1/completions", json{{"prompt", "Hi"}, {"max_tokens", 50}, {"stream", true}}.dump()));
  EXPECT_TRUE(result.done);
  ASSERT_EQ(result.chunks.size(), 5u);
  EXPECT_EQ(result.chunks[4]["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(result.chunks[4].contains("usage"));
}

TEST(SimServer, SharedPrefixIsServedFromTheCache) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  const std::string prompt(4000, 's');  // 1000 tokens, 62 full blocks
  auto body = json{{"prompt", prompt}, {"max_tokens", 2}}.dump();
  auto first = c.send(post("/v1/completions", body));
  ASSERT_TRUE(first);
  auto second = c.send(post("/v1/completions", body));
  ASSERT_TRUE(second);
  auto j = json::parse(second->body);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 62 * 16);
  EXPECT_EQ(metric(c, "vllm:prefix_cache_hits_total"), 62 * 16);
  EXPECT_EQ(metric(c, "vllm:prefix_cache_queries_total"), 2000);
}

// The next turn of a chat sends the answer back: its prompt (rendered through the sim's
// template) starts with the first prompt and the answer's text, so it hits the full blocks of
// both that the first request computed: every answer token but the last.
TEST(SimServer, AChatFollowUpHitsThePreviousAnswer) {
  for (bool caching : {true, false}) {
    SimServer sim(caching ? std::vector<std::string>{}
                          : std::vector<std::string>{"--no-prefix-caching"});
    ASSERT_TRUE(sim.ok()) << sim.output();
    auto c = sim.client();
    const std::string question = "Tell me a story about a dragon.";
    const json user = {{"role", "user"}, {"content", question}};
    auto first =
        c.send(post("/v1/chat/completions",
                    json{{"messages", {user}}, {"max_tokens", 100}, {"ignore_eos", true}}.dump()));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200) << first->body;
    const std::string answer =
        json::parse(first->body)["choices"][0]["message"]["content"].get<std::string>();
    ASSERT_EQ(answer.size(), 400u);
    auto second =
        c.send(post("/v1/chat/completions", json{{"messages",
                                                  {user,
                                                   {{"role", "assistant"}, {"content", answer}},
                                                   {{"role", "user"}, {"content", "More."}}}},
                                                 {"max_tokens", 2}}
                                                .dump()));
    ASSERT_TRUE(second);
    ASSERT_EQ(second->status, 200) << second->body;
    // "<|user|>\n" + question + "<|end|>\n<|assistant|>\n": 62 bytes, no full block; with 99
    // answer tokens computed, 62 + 396 = 458 bytes, 7 blocks of 64 bytes (16 tokens).
    const size_t prompt_bytes = 9 + question.size() + 8 + 14;
    ASSERT_EQ(prompt_bytes, 62u);
    const int blocks = static_cast<int>((prompt_bytes + 99 * 4) / 64);
    EXPECT_EQ(json::parse(second->body)["usage"]["prompt_tokens_details"]["cached_tokens"],
              caching ? blocks * 16 : 0);
  }
}

TEST(SimServer, BadRequestsGetOpenAIErrors) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  struct Case {
    std::string target;
    std::string body;
    int status;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, "invalid JSON"},
      {"/v1/completions", R"({"prompt": "abc")", 400, "invalid JSON"},
      {"/v1/completions", R"({"prompt": 5})", 400, "'prompt' must be"},
      {"/v1/completions", R"({"model": "m"})", 400, "'prompt' is required"},
      {"/v1/chat/completions", R"({"prompt": "x"})", 400, "'messages' is required"},
      {"/v1/completions", R"({"prompt": "x", "max_tokens": "ten"})", 400, "max_tokens"},
      {"/v1/completions", R"({"model": "gpt-9", "prompt": "x"})", 404, "does not exist"},
      {"/v1/completions", R"({"prompt": "x", "max_tokens": 200000})", 400,
       "maximum context length"},
  };
  for (const auto& k : cases) {
    auto r = c.send(post(k.target, k.body));
    ASSERT_TRUE(r) << k.body;
    EXPECT_EQ(r->status, k.status) << k.body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["error"]["code"], k.status);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(k.message_part), std::string::npos)
        << j.dump();
  }
  auto wrong_method = c.send(get("/v1/completions"));
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  auto unknown = c.send(get("/nope"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  // The server is still fine afterwards.
  auto ok = c.send(post("/v1/completions", R"({"prompt":"x","max_tokens":1})"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(SimServer, InjectedFailures) {
  SimServer sim({"--allow-failure-header"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto request = post("/v1/completions", R"({"prompt":"x","max_tokens":1})");
  request.headers.push_back({"x-kgai-fail", "503"});
  auto r = c.send(request);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 503);
  request.headers.back().value = "abc";
  r = c.send(request);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  // Without --allow-failure-header a client cannot make the replica fail: the header is
  // ignored, however it is spelled.
  SimServer strict;
  ASSERT_TRUE(strict.ok()) << strict.output();
  auto sc = strict.client();
  for (const char* value : {"503", "abc"}) {
    auto plain = post("/v1/completions", R"({"prompt":"x","max_tokens":1})");
    plain.headers.push_back({"X-Kgai-Fail", value});
    auto answer = sc.send(plain);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200) << value << ": " << answer->body;
  }
  EXPECT_EQ(metric(sc, "kgai:sim_injected_failures_total"), 0);

  SimServer flaky({"--failure-rate", "0.5"});
  ASSERT_TRUE(flaky.ok()) << flaky.output();
  auto fc = flaky.client();
  int failures = 0;
  for (int i = 0; i < 40; ++i) {
    auto x = fc.send(post("/v1/completions", R"({"prompt":"x","max_tokens":1})"));
    ASSERT_TRUE(x);
    if (x->status != 200) {
      ++failures;
      EXPECT_TRUE(x->status == 429 || x->status == 500 || x->status == 503) << x->status;
    }
  }
  EXPECT_GT(failures, 5);
  EXPECT_LT(failures, 35);
}

TEST(SimServer, LoraAdaptersLoadAndUnload) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto load = c.send(post("/v1/load_lora_adapter", R"({"lora_name":"sql","lora_path":"/a/sql"})"));
  ASSERT_TRUE(load);
  EXPECT_EQ(load->status, 200) << load->body;
  auto again = c.send(post("/v1/load_lora_adapter", R"({"lora_name":"sql","lora_path":"/a/sql"})"));
  EXPECT_EQ(again->status, 400);
  auto bad = c.send(post("/v1/load_lora_adapter", R"({"lora_path":"/x"})"));
  EXPECT_EQ(bad->status, 400);
  auto models = json::parse(c.send(get("/v1/models"))->body);
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][1]["id"], "sql");
  EXPECT_EQ(models["data"][1]["root"], "/a/sql");

  auto r = c.send(post("/v1/completions", R"({"model":"sql","prompt":"x","max_tokens":2})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["model"], "sql");

  auto unload = c.send(post("/v1/unload_lora_adapter", R"({"lora_name":"sql"})"));
  EXPECT_EQ(unload->status, 200);
  auto missing = c.send(post("/v1/unload_lora_adapter", R"({"lora_name":"sql"})"));
  EXPECT_EQ(missing->status, 404);
  auto gone = c.send(post("/v1/completions", R"({"model":"sql","prompt":"x"})"));
  EXPECT_EQ(gone->status, 404);
}

TEST(SimServer, LoraNamesBodiesAndCountAreBounded) {
  SimServer sim({"--max-lora-adapters", "2", "--lora-modules", "base-sql"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  struct Case {
    std::string target;
    std::string body;
    int status;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"/v1/load_lora_adapter", "{", 400, "invalid JSON"},
      {"/v1/load_lora_adapter", std::string(1 << 20, '['), 400, "invalid JSON"},
      {"/v1/load_lora_adapter", R"({"lora_name":"bad name"})", 400, "letters, digits"},
      {"/v1/load_lora_adapter", R"({"lora_name":")" + std::string(300, 'n') + R"("})", 400,
       "at most 256 bytes"},
      {"/v1/load_lora_adapter",
       R"({"lora_name":"ok","lora_path":)" + json(std::string(5000, 'p')).dump() + "}", 400,
       "'lora_path' must be at most 4096"},
      {"/v1/unload_lora_adapter", R"({"lora_name":"../x y"})", 400, "letters, digits"},
      {"/v1/unload_lora_adapter", R"({"lora_name":"never-loaded"})", 404, "cannot be found"},
      {"/v1/load_lora_adapter", R"({"lora_name":"org/sql-v2:latest","lora_path":"/a"})", 200, ""},
      // One from the command line and one loaded: the cap of 2 is reached.
      {"/v1/load_lora_adapter", R"({"lora_name":"third"})", 400, "--max-lora-adapters"},
  };
  for (const auto& k : cases) {
    auto r = c.send(post(k.target, k.body));
    ASSERT_TRUE(r) << k.body.substr(0, 60);
    EXPECT_EQ(r->status, k.status) << k.body.substr(0, 60) << " -> " << r->body;
    if (k.status == 200) continue;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["error"]["code"], k.status);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(k.message_part), std::string::npos)
        << j.dump();
  }
  // Unloading makes room again, and load/unload cycles reuse one adapter slot instead of
  // keeping every name ever sent.
  auto unload = c.send(post("/v1/unload_lora_adapter", R"({"lora_name":"org/sql-v2:latest"})"));
  ASSERT_TRUE(unload);
  ASSERT_EQ(unload->status, 200) << unload->body;
  for (int i = 0; i < 200; ++i) {
    const std::string name = fmt::format("cycle-{}", i);
    auto load = c.send(post("/v1/load_lora_adapter", json{{"lora_name", name}}.dump()));
    ASSERT_TRUE(load);
    ASSERT_EQ(load->status, 200) << load->body;
    auto drop = c.send(post("/v1/unload_lora_adapter", json{{"lora_name", name}}.dump()));
    ASSERT_TRUE(drop);
    ASSERT_EQ(drop->status, 200) << drop->body;
  }
  auto stats = json::parse(c.send(get("/kgai/stats"))->body);
  EXPECT_EQ(stats["lora_slots"], 3);  // the base model's, base-sql's and the one reused
  auto models = json::parse(c.send(get("/v1/models"))->body);
  EXPECT_EQ(models["data"].size(), 2u);

  // A model name that names no adapter gets vLLM's 404, without echoing megabytes back.
  auto unknown = c.send(
      post("/v1/completions", json{{"model", std::string(1 << 20, 'm')}, {"prompt", "x"}}.dump()));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_LT(unknown->body.size(), 1000u);
  auto j = json::parse(unknown->body);
  EXPECT_EQ(j["error"]["type"], "NotFoundError");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["message"].get<std::string>().rfind("The model `mmm", 0), 0u);
}

TEST(SimServer, AReusedAdapterSlotSharesNoCacheWithItsLastOwner) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  const std::string body_a =
      json{{"model", "a"}, {"prompt", std::string(4000, 's')}, {"max_tokens", 1}}.dump();
  const std::string body_b =
      json{{"model", "b"}, {"prompt", std::string(4000, 's')}, {"max_tokens", 1}}.dump();
  ASSERT_EQ(c.send(post("/v1/load_lora_adapter", R"({"lora_name":"a"})"))->status, 200);
  ASSERT_EQ(c.send(post("/v1/completions", body_a))->status, 200);
  auto again = c.send(post("/v1/completions", body_a));
  EXPECT_GT(json::parse(again->body)["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  ASSERT_EQ(c.send(post("/v1/unload_lora_adapter", R"({"lora_name":"a"})"))->status, 200);
  ASSERT_EQ(c.send(post("/v1/load_lora_adapter", R"({"lora_name":"b"})"))->status, 200);
  auto other = c.send(post("/v1/completions", body_b));
  ASSERT_EQ(other->status, 200) << other->body;
  EXPECT_EQ(json::parse(other->body)["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

// A chat body of tiny image parts: each costs ~45 bytes of JSON and stands for 576 tokens.
std::string image_parts_body(size_t body_bytes) {
  const std::string part = R"({"type":"image_url","image_url":{"url":"data:,"}},)";
  std::string body = R"({"messages":[{"role":"user","content":[)";
  while (body.size() + part.size() + 8 < body_bytes) body += part;
  body.back() = ']';
  body += "}]}";
  return body;
}

TEST(SimServer, HugeBodiesAreRefusedWithoutStallingTheReplica) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  // 8 MB of image parts once became ~400 MB of prompt text on the replica's event loop.
  const std::string images = image_parts_body(8 << 20);
  auto start = std::chrono::steady_clock::now();
  auto r = c.send(post("/v1/chat/completions", images));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 400);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["error"]["param"], "messages");
  EXPECT_NE(j["error"]["message"].get<std::string>().find(
                "This model's maximum context length is 131072 tokens. However, your request has"),
            std::string::npos)
      << r->body;
  EXPECT_LT(elapsed, std::chrono::seconds(1));  // generous: it takes tens of milliseconds

  // Token ids just under the body limit (16 MiB).
  std::string ids = R"({"prompt":[7)";
  while (ids.size() < (16u << 20) - 64) ids += ",7";
  ids += "]}";
  start = std::chrono::steady_clock::now();
  r = c.send(post("/v1/completions", ids));
  elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 400);
  EXPECT_LT(elapsed, std::chrono::seconds(2));

  // Over the body limit: vLLM's error shape, not plain text.
  r = c.send(post("/v1/completions", std::string((16u << 20) + 1, ' ')));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 413);

  // A normal multi-part chat still counts what it did: 576 tokens an image.
  auto fresh = sim.client();
  r = fresh.send(post("/v1/chat/completions", R"({"messages":[{"role":"user","content":[
      {"type":"text","text":"Look:"},{"type":"image_url","image_url":{"url":"https://x/a.png"}},
      {"type":"text","text":"and"},{"type":"image_url","image_url":{"url":"https://x/b.png"}}]}],
      "max_tokens":2})"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], 2 * 576 + 10);
}

TEST(SimServer, TheBodyLimitIsAFlag) {
  SimServer sim({"--max-body-bytes", "1000"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto small = c.send(
      post("/v1/completions", json{{"prompt", std::string(900, 'a')}, {"max_tokens", 1}}.dump()));
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200) << small->body;
  auto big = c.send(
      post("/v1/completions", json{{"prompt", std::string(1000, 'a')}, {"max_tokens", 1}}.dump()));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body)["error"]["code"], 413);

  testing::KgaiProcess zero({"sim", "--port", "0", "--max-body-bytes", "0"});
  EXPECT_EQ(zero.wait_exit(), 2);
  EXPECT_NE(zero.output().find("--max-body-bytes"), std::string::npos) << zero.output();
}

TEST(SimServer, HostileFieldsAndHeadersGetClearAnswers) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  struct Case {
    std::string body;
    int status;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {R"({"prompt":"x","n":1000000000})", 400, "n = 1"},
      {R"({"prompt":"x","best_of":1000000})", 400, "best_of = 1"},
      {R"({"prompt":"x","max_tokens":9223372036854775807})", 400, "maximum context length"},
      {R"({"prompt":"x","max_tokens":-5})", 400, "at least 1"},
      {R"({"prompt":"x","max_tokens":1e300})", 400, "must be an integer"},
  };
  for (const auto& k : cases) {
    auto r = c.send(post("/v1/completions", k.body));
    ASSERT_TRUE(r) << k.body;
    EXPECT_EQ(r->status, k.status) << k.body << " -> " << r->body;
    EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find(k.message_part),
              std::string::npos)
        << r->body;
  }
  // Fields the simulator ignores cost nothing however large: a stop list of 100,000 strings.
  json big = {{"prompt", "x"}, {"max_tokens", 1}, {"stop", std::vector<std::string>(100000, "s")}};
  auto ignored = c.send(post("/v1/completions", big.dump()));
  ASSERT_TRUE(ignored);
  EXPECT_EQ(ignored->status, 200) << ignored->body;
  // Headers over the server's 16 KiB limit: 431 in vLLM's error shape.
  auto request = post("/v1/completions", R"({"prompt":"x","max_tokens":1})");
  request.headers.push_back({"x-padding", std::string(20000, 'h')});
  auto fresh = sim.client();
  auto r = fresh.send(request);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 431);
}

TEST(SimServer, ReplicasServeOnTheirOwnPorts) {
  SimServer sim({"--replicas", "3"}, 3);
  ASSERT_EQ(sim.ports().size(), 3u) << sim.output();
  for (size_t i = 0; i < 3; ++i) {
    auto c = sim.client(i);
    auto r = c.send(post("/v1/completions", R"({"prompt":"x","max_tokens":3})"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(metric(c, "vllm:request_success_total", {{"finished_reason", "stop"}}) +
                  metric(c, "vllm:request_success_total", {{"finished_reason", "length"}}),
              1);
  }
}

TEST(SimServer, ClientDisconnectAbortsTheRequest) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  {
    auto c = sim.client();
    int chunks = 0;
    auto r = c.send_streaming(
        post("/v1/completions",
             R"({"prompt":"x","max_tokens":5000,"ignore_eos":true,"stream":true})"),
        [&](std::string_view) { return ++chunks < 3; });  // hang up after a few pieces
    EXPECT_TRUE(r);
  }
  auto c = sim.client();
  double aborted = 0;
  for (int i = 0; i < 100 && aborted < 1; ++i) {
    aborted = metric(c, "vllm:request_success_total", {{"finished_reason", "abort"}});
    if (aborted < 1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(aborted, 1);
  EXPECT_EQ(metric(c, "vllm:num_requests_running"), 0);
}

TEST(SimServer, FullQueueAnswers429) {
  SimServer sim({"--max-num-seqs", "1", "--max-waiting", "1", "--time-scale", "1"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  std::atomic<int> ok{0}, rejected{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      http::Client c("127.0.0.1", sim.port());
      auto r =
          c.send(post("/v1/completions", R"({"prompt":"x","max_tokens":30,"ignore_eos":true})"));
      if (r && r->status == 200) ++ok;
      if (r && r->status == 429) ++rejected;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_GE(ok.load(), 1);
  EXPECT_GE(rejected.load(), 1);
  EXPECT_EQ(ok + rejected, 6);
}

TEST(SimServer, LatencyFollowsTheModel) {
  // Real time: 50 decode steps of Llama-3.1-8B on an H100 take at least 50 x 5 ms.
  SimServer sim({"--time-scale", "1"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto start = std::chrono::steady_clock::now();
  auto r = c.send(post("/v1/completions", R"({"prompt":"x","max_tokens":50,"ignore_eos":true})"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(20));
  // The engine's own view, in simulated seconds: one TTFT and 49 gaps of about 6-8 ms.
  double itl_sum = metric(c, "vllm:inter_token_latency_seconds_sum");
  double itl_count = metric(c, "vllm:inter_token_latency_seconds_count");
  ASSERT_EQ(itl_count, 49);
  EXPECT_GT(itl_sum / itl_count, 0.005);
  EXPECT_LT(itl_sum / itl_count, 0.009);
}

TEST(SimServer, TimeScaleKeepsLatenciesInSimulatedSeconds) {
  // At 20x, 100 decode steps of ~6-8 simulated ms take ~35 ms of wall time, yet every latency
  // the server reports is still in simulated seconds.
  SimServer sim({"--time-scale", "20"});
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  auto start = std::chrono::steady_clock::now();
  auto r = c.send(post("/v1/completions", R"({"prompt":"x","max_tokens":100,"ignore_eos":true})"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));  // 1:1 would take >= 600 ms
  const double itl = metric(c, "vllm:inter_token_latency_seconds_sum") /
                     metric(c, "vllm:inter_token_latency_seconds_count");
  EXPECT_GT(itl, 0.005);
  EXPECT_LT(itl, 0.009);
  const double e2e = metric(c, "vllm:e2e_request_latency_seconds_sum");
  EXPECT_GT(e2e, 0.6);
  auto stats = json::parse(c.send(get("/kgai/stats"))->body);
  EXPECT_EQ(stats["time_scale"], 20.0);
}

TEST(SimServer, StatsEndpointReportsSendLag) {
  SimServer sim;
  ASSERT_TRUE(sim.ok()) << sim.output();
  auto c = sim.client();
  stream(c, post("/v1/completions",
                 R"({"prompt":"x","max_tokens":10,"ignore_eos":true,"stream":true})"));
  auto r = c.send(get("/kgai/stats"));
  ASSERT_TRUE(r);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["token_send_lag_seconds"]["count"], 10);
  EXPECT_GE(j["token_send_lag_seconds"]["p99"].get<double>(), 0.0);
}

TEST(SimCommand, BadArgumentsExitWithAClearMessage) {
  {
    testing::KgaiProcess p({"sim", "--model", "no-such-model", "--port", "0"});
    EXPECT_EQ(p.wait_exit(), 2);
    EXPECT_NE(p.output().find("no-such-model"), std::string::npos) << p.output();
    EXPECT_NE(p.output().find("llama-3.1-8b"), std::string::npos) << p.output();
  }
  {
    testing::KgaiProcess p({"sim", "--replicas", "0"});
    EXPECT_EQ(p.wait_exit(), 2);
    EXPECT_NE(p.output().find("--replicas"), std::string::npos) << p.output();
  }
  {
    testing::KgaiProcess p(
        {"sim", "--model", "llama-3.1-70b", "--accelerator", "l4", "--port", "0"});
    EXPECT_EQ(p.wait_exit(), 2);
    EXPECT_NE(p.output().find("does not fit"), std::string::npos) << p.output();
  }
  {
    testing::KgaiProcess p({"sim", "--time-scale", "abc"});
    EXPECT_EQ(p.wait_exit(), 2);
  }
  {
    testing::KgaiProcess p({"sim", "--port", "0", "--lora-modules", "ok,not ok"});
    EXPECT_EQ(p.wait_exit(), 2);
    EXPECT_NE(p.output().find("'not ok'"), std::string::npos) << p.output();
  }
  {
    testing::KgaiProcess p(
        {"sim", "--port", "0", "--lora-modules", "a,b,c", "--max-lora-adapters", "2"});
    EXPECT_EQ(p.wait_exit(), 2);
    EXPECT_NE(p.output().find("--max-lora-adapters"), std::string::npos) << p.output();
  }
}

TEST(SimCommand, PortInUseIsReported) {
  SimServer first;
  ASSERT_TRUE(first.ok());
  testing::KgaiProcess p({"sim", "--host", "127.0.0.1", "--port", std::to_string(first.port())});
  EXPECT_EQ(p.wait_exit(), 2);
  EXPECT_NE(p.output().find("in use"), std::string::npos) << p.output();
}

TEST(SimCommand, OfflinePrintsASummary) {
  testing::KgaiProcess p({"sim", "offline", "--rate", "20", "--num-requests", "200", "--quiet"});
  EXPECT_EQ(p.wait_exit(), 0) << p.output();
  auto j = json::parse(p.output(), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << p.output();
  EXPECT_EQ(j["successes"]["count"], 200);
  EXPECT_EQ(j["config"]["model"], kModel);
  EXPECT_GT(j["successes"]["latency"]["time_to_first_token"]["p99"].get<double>(), 0.0);

  testing::KgaiProcess bad({"sim", "offline", "--rate", "20"});
  EXPECT_EQ(bad.wait_exit(), 2);
  EXPECT_NE(bad.output().find("--duration"), std::string::npos) << bad.output();
  testing::KgaiProcess bad_len(
      {"sim", "offline", "--rate", "1", "--duration", "1", "--input-len", "gauss:1,2"});
  EXPECT_EQ(bad_len.wait_exit(), 2);
  EXPECT_NE(bad_len.output().find("gauss"), std::string::npos) << bad_len.output();
}

TEST(SimCommand, OfflineMultiTurn) {
  testing::KgaiProcess p({"sim", "offline", "--concurrency", "4", "--num-requests", "40",
                          "--multi-turn", "4", "--think-time", "0.5", "--quiet"});
  EXPECT_EQ(p.wait_exit(), 0) << p.output();
  auto j = json::parse(p.output(), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << p.output();
  EXPECT_EQ(j["successes"]["count"], 40);
  EXPECT_EQ(j["config"]["multi_turn"], 4);
  EXPECT_GT(j["engine"]["cached_prompt_tokens"].get<int>(), 0);

  for (auto [flag, value] : {std::pair{"--multi-turn", "0"}, std::pair{"--think-time", "-2"},
                             std::pair{"--multi-turn", "x"}}) {
    testing::KgaiProcess bad(
        {"sim", "offline", "--concurrency", "1", "--num-requests", "1", flag, value});
    EXPECT_EQ(bad.wait_exit(), 2) << flag << " " << value;
    EXPECT_NE(bad.output().find(flag), std::string::npos) << bad.output();
  }
}

}  // namespace
}  // namespace kgai
