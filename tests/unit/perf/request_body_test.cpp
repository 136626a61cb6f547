#include "perf/request_body.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "perf/runner.h"

namespace kgai::perf {
namespace {

// The body as runner.cpp built it with nlohmann before the renderer: what the renderer's
// output must mean, key for key.
nlohmann::json reference_body(const PerfConfig& config, const std::string& model, const Prompt& p) {
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
  return body;
}

std::string all_control_chars() {
  std::string s;
  for (int c = 0; c < 0x20; ++c) s.push_back(static_cast<char>(c));
  s.push_back(0x7f);
  return s;
}

// Texts that take each path of the escaper: the eight-byte skip, the byte loop for the last
// bytes, escapes at word edges, multi-byte UTF-8.
std::vector<std::string> tricky_texts() {
  return {
      "",
      "plain",
      "exactly8",
      "a sentence long enough to skip whole eight-byte words several times over",
      "say \"hi\"",
      "\"",
      "back\\slash at\\ the end\\",
      "line one\nline two\r\n\ttabbed\b\f",
      all_control_chars(),
      std::string("nul\0inside", 10),
      "1234567\"1234567\\",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
      "</script>{\"json\": [1, 2]}",
  };
}

PerfConfig config_for(const std::string& api, bool streaming, bool ignore_eos) {
  PerfConfig config;
  config.api.type = api;
  config.api.streaming = streaming;
  config.server.ignore_eos = ignore_eos;
  return config;
}

TEST(RequestBody, CompletionMatchesTheNlohmannBody) {
  for (bool streaming : {false, true}) {
    for (bool ignore_eos : {false, true}) {
      const PerfConfig config = config_for("completion", streaming, ignore_eos);
      const RequestBodyRenderer renderer(config, "meta-llama/Llama-3.1-8B");
      for (const auto& text : tricky_texts()) {
        Prompt p;
        p.text = text;
        p.output_tokens = 128;
        const std::string body = renderer.render(p);
        const auto parsed = nlohmann::json::parse(body);
        EXPECT_EQ(parsed, reference_body(config, "meta-llama/Llama-3.1-8B", p))
            << "streaming=" << streaming << " ignore_eos=" << ignore_eos << " body=" << body;
      }
    }
  }
}

TEST(RequestBody, ChatMatchesTheNlohmannBody) {
  for (bool streaming : {false, true}) {
    for (bool ignore_eos : {false, true}) {
      const PerfConfig config = config_for("chat", streaming, ignore_eos);
      const RequestBodyRenderer renderer(config, "m");
      for (const auto& text : tricky_texts()) {
        Prompt p;
        p.messages = {{"system", "You are \"helpful\".\n"}, {"user", text}};
        p.output_tokens = 7;
        const std::string body = renderer.render(p);
        EXPECT_EQ(nlohmann::json::parse(body), reference_body(config, "m", p)) << body;
      }
    }
  }
}

TEST(RequestBody, ChatWithNoMessagesIsAnEmptyArray) {
  const PerfConfig config = config_for("chat", false, true);
  Prompt p;
  EXPECT_EQ(nlohmann::json::parse(RequestBodyRenderer(config, "m").render(p)),
            reference_body(config, "m", p));
}

TEST(RequestBody, LoraReplacesTheModelAndIsEscaped) {
  const PerfConfig config = config_for("completion", true, true);
  const RequestBodyRenderer renderer(config, "base \"model\"");
  Prompt p;
  p.text = "hello";
  p.output_tokens = 3;
  for (const std::string lora : {"sql-lora", "odd\"lora\\name\n", "caf\xc3\xa9-lora"}) {
    EXPECT_EQ(nlohmann::json::parse(renderer.render(p, lora)), reference_body(config, lora, p));
  }
  EXPECT_EQ(nlohmann::json::parse(renderer.render(p)), reference_body(config, "base \"model\"", p));
}

TEST(RequestBody, FreeFunctionMatchesTheRenderer) {
  const PerfConfig config = config_for("completion", false, true);
  Prompt p;
  p.text = "x\"y";
  p.output_tokens = 1;
  EXPECT_EQ(request_body(config, "m", p), RequestBodyRenderer(config, "m").render(p));
}

// The fixed-timing bench server and simple proxies look for these exact spellings.
TEST(RequestBody, CompactSpellingOfTheStreamFlag) {
  Prompt p;
  p.text = "t";
  const std::string body = RequestBodyRenderer(config_for("completion", true, true), "m").render(p);
  EXPECT_NE(body.find(R"("stream":true)"), std::string::npos) << body;
}

}  // namespace
}  // namespace kgai::perf
