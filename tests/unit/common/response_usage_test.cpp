#include "common/response_usage.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kgai {
namespace {

using Body = ResponseUsageReader::Body;

constexpr std::string_view kUsage =
    R"({"prompt_tokens":16,"total_tokens":36,"completion_tokens":20,)"
    R"("prompt_tokens_details":{"cached_tokens":3}})";
const UsageFields kExpected{
    .reported = true, .prompt_tokens = 16, .completion_tokens = 20, .cached_tokens = 3};

struct StreamShape {
  std::string_view eol = "\n";
  std::string_view data = "data: ";
  bool usage_null = true;  // OpenAI's "usage": null in every chunk before the last
  bool usage = true;       // the final usage event
};

// A chat completion stream as vLLM sends it with "include_usage": a role chunk, `tokens`
// content chunks, the usage chunk, [DONE].
std::string chat_stream(int tokens, StreamShape shape = {}) {
  std::string out;
  auto event = [&](std::string_view json) {
    out.append(shape.data).append(json).append(shape.eol).append(shape.eol);
  };
  const std::string head =
      R"({"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"m",)";
  const std::string null_usage = shape.usage_null ? R"(,"usage":null)" : "";
  event(head + R"("choices":[{"index":0,"delta":{"role":"assistant","content":""}}])" + null_usage +
        "}");
  for (int i = 0; i < tokens; ++i) {
    event(head + R"("choices":[{"index":0,"delta":{"content":" tok"},"logprobs":null,)" +
          R"("finish_reason":null}])" + null_usage + "}");
  }
  if (shape.usage) event(head + R"("choices":[],"usage":)" + std::string(kUsage) + "}");
  event("[DONE]");
  return out;
}

std::string completion_body(std::string_view text = " tok tok") {
  return std::string(R"({"id":"cmpl-1","object":"text_completion","model":"m","choices":)"
                     R"([{"index":0,"text":")") +
         std::string(text) + R"(","finish_reason":"length"}],"usage":)" + std::string(kUsage) + "}";
}

UsageFields read(Body body, std::string_view text, ResponseUsageLimits limits = {}) {
  ResponseUsageReader reader(body, limits);
  reader.feed(text);
  return reader.finish();
}

// The same text cut into random pieces of 1 to max_piece bytes.
UsageFields read_in_pieces(Body body, std::string_view text, uint32_t seed, size_t max_piece,
                           ResponseUsageLimits limits = {}) {
  std::mt19937 rng(seed);
  ResponseUsageReader reader(body, limits);
  while (!text.empty()) {
    const size_t n = std::min<size_t>(text.size(), 1 + rng() % max_piece);
    reader.feed(text.substr(0, n));
    text.remove_prefix(n);
  }
  return reader.finish();
}

// Two pieces at every cut, and one byte at a time: all the same answer as the whole.
void expect_any_split_reads(Body body, std::string_view text, const UsageFields& expected,
                            ResponseUsageLimits limits = {}) {
  OpenAiJson json;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    ResponseUsageReader reader(body, limits);
    reader.feed(text.substr(0, cut));
    reader.feed(text.substr(cut));
    ASSERT_EQ(reader.finish(json), expected) << "cut at " << cut;
  }
  ResponseUsageReader bytes(body, limits);
  for (char c : text) bytes.feed({&c, 1});
  EXPECT_EQ(bytes.finish(json), expected);
}

TEST(ResponseUsageBodyOf, EventStreamByMediaType) {
  EXPECT_EQ(ResponseUsageReader::body_of("text/event-stream"), Body::kEventStream);
  EXPECT_EQ(ResponseUsageReader::body_of("Text/Event-Stream; charset=utf-8"), Body::kEventStream);
  EXPECT_EQ(ResponseUsageReader::body_of(" text/event-stream ;x=y"), Body::kEventStream);
  EXPECT_EQ(ResponseUsageReader::body_of("application/json"), Body::kJson);
  EXPECT_EQ(ResponseUsageReader::body_of(""), Body::kJson);
  EXPECT_EQ(ResponseUsageReader::body_of("text/event-streams"), Body::kJson);
}

TEST(ResponseUsageStream, VllmStream) {
  EXPECT_EQ(read(Body::kEventStream, chat_stream(20)), kExpected);
  EXPECT_EQ(read(Body::kEventStream, chat_stream(20, {.usage_null = false})), kExpected);
}

TEST(ResponseUsageStream, SplitAtEveryByte) {
  expect_any_split_reads(Body::kEventStream, chat_stream(8), kExpected);
}

TEST(ResponseUsageStream, CrLfAndDataWithoutSpace) {
  const StreamShape crlf{.eol = "\r\n"};
  const StreamShape tight{.data = "data:"};
  const StreamShape both{.eol = "\r\n", .data = "data:"};
  for (const auto& shape : {crlf, tight, both}) {
    expect_any_split_reads(Body::kEventStream, chat_stream(3, shape), kExpected);
  }
  // Mixed line ends within one event.
  EXPECT_EQ(read(Body::kEventStream, "data: {\"usage\":" + std::string(kUsage) + "}\r\n\n"),
            kExpected);
}

TEST(ResponseUsageStream, BareCarriageReturnsEndNoLine) {
  const std::string usage_event = "data: {\"usage\":" + std::string(kUsage) + "}\r\r";
  EXPECT_EQ(read(Body::kEventStream, usage_event), kExpected);
  EXPECT_FALSE(read(Body::kEventStream, "data: {}\r\r" + usage_event).reported);
}

TEST(ResponseUsageStream, NoUsage) {
  EXPECT_FALSE(read(Body::kEventStream, chat_stream(5, {.usage = false})).reported);
  EXPECT_FALSE(
      read(Body::kEventStream, chat_stream(5, {.usage_null = false, .usage = false})).reported);
  EXPECT_FALSE(read(Body::kEventStream, "data: [DONE]\n\n").reported);
  EXPECT_FALSE(read(Body::kEventStream, "").reported);
  EXPECT_FALSE(read(Body::kEventStream, "data: {\"usage\":null}\n\n").reported);
  EXPECT_FALSE(read(Body::kEventStream, "data: {\"usage\":{}\n\n").reported);  // not JSON
}

TEST(ResponseUsageStream, TheLastUsageEventWins) {
  const std::string first = R"(data: {"usage":{"prompt_tokens":1,"completion_tokens":2}})"
                            "\n\n";
  const std::string second = R"(data: {"usage":{"prompt_tokens":5,"completion_tokens":6}})"
                             "\n\n";
  const UsageFields five_six{.reported = true, .prompt_tokens = 5, .completion_tokens = 6};
  EXPECT_EQ(read(Body::kEventStream, first + second), five_six);
  // Later events without a usage object (null, none, [DONE], an error) leave it standing.
  EXPECT_EQ(read(Body::kEventStream, second + "data: {\"usage\":null}\n\ndata: {}\n\n" +
                                         "data: {\"error\":{\"message\":\"x\"}}\n\n" +
                                         "data: [DONE]\n\n"),
            five_six);
}

TEST(ResponseUsageStream, ErrorEvents) {
  EXPECT_FALSE(
      read(Body::kEventStream,
           "event: error\ndata: {\"error\":{\"message\":\"engine died\",\"code\":500}}\n\n")
          .reported);
  // An error event that carries usage is an error: OpenAiJson reads no usage from it.
  EXPECT_FALSE(
      read(Body::kEventStream, "data: {\"error\":\"x\",\"usage\":" + std::string(kUsage) + "}\n\n")
          .reported);
}

TEST(ResponseUsageStream, DataLinesOfOneEventJoin) {
  const std::string text =
      "data: {\"choices\":[],\ndata: \"usage\":\ndata: " + std::string(kUsage) +
      "}\n\ndata: [DONE]\n\n";
  expect_any_split_reads(Body::kEventStream, text, kExpected);
}

TEST(ResponseUsageStream, OtherFieldsAndCommentsAreSkipped) {
  const std::string usage_json = "{\"usage\":" + std::string(kUsage) + "}";
  const std::string text = ": ping\n\nid: 1\nevent: message\nretry: 10\ndata: " + usage_json +
                           "\n\n: " + R"({"usage":{"prompt_tokens":9}})" +
                           "\nevent: {\"usage\":{\"prompt_tokens\":9}}\n\n"
                           "datax: {\"usage\":{\"prompt_tokens\":9}}\n\n"
                           " data: {\"usage\":{\"prompt_tokens\":9}}\n\n";
  expect_any_split_reads(Body::kEventStream, text, kExpected);
}

TEST(ResponseUsageStream, UsageInTokenTextIsNotUsage) {
  // A model that writes `"usage":{...}` writes it inside a JSON string, escaped.
  const std::string fake =
      R"(data: {"choices":[{"delta":{"content":"\"usage\":{\"prompt_tokens\":99}"}}]})"
      "\n\n";
  EXPECT_FALSE(read(Body::kEventStream, fake).reported);
  EXPECT_EQ(read(Body::kEventStream, chat_stream(2) + fake), kExpected);
}

TEST(ResponseUsageStream, StreamThatEndsInAnEvent) {
  const std::string usage_event = "data: {\"usage\":" + std::string(kUsage) + "}";
  // No blank line after the last event: its data counts when it parses.
  expect_any_split_reads(Body::kEventStream, usage_event + "\n", kExpected);
  expect_any_split_reads(Body::kEventStream, usage_event + "\r", kExpected);
  expect_any_split_reads(Body::kEventStream, usage_event, kExpected);
  // Cut inside its JSON: the last complete usage event stands.
  const std::string earlier = R"(data: {"usage":{"prompt_tokens":1,"completion_tokens":2}})"
                              "\n\n";
  EXPECT_EQ(read(Body::kEventStream, earlier + usage_event.substr(0, usage_event.size() - 3)),
            (UsageFields{.reported = true, .prompt_tokens = 1, .completion_tokens = 2}));
}

TEST(ResponseUsageStream, OversizeEventsAreSkipped) {
  const std::string usage_event = "data: {\"usage\":" + std::string(kUsage) + "}\n\n";
  // The default limit: a usage event behind 100 KiB of token text is dropped, the one before
  // it stands, and the reader never held the big one.
  const std::string big = "data: {\"choices\":[{\"text\":\"" + std::string(100 << 10, 'x') +
                          "\"}],\"usage\":{\"prompt_tokens\":7}}\n\n";
  ResponseUsageReader reader(Body::kEventStream);
  reader.feed(usage_event);
  for (size_t at = 0; at < big.size(); at += 4096) {
    reader.feed(std::string_view(big).substr(at, 4096));
    ASSERT_LE(reader.buffered_bytes(), 2 * ResponseUsageLimits{}.max_event_bytes);
  }
  EXPECT_EQ(reader.finish(), kExpected);
  // A small limit, split anywhere: the same.
  const std::string over_200 = "data: {\"choices\":[{\"text\":\"" + std::string(300, 'x') +
                               "\"}],\"usage\":{\"prompt_tokens\":7}}\n\n";
  expect_any_split_reads(Body::kEventStream, usage_event + over_200, kExpected,
                         {.max_event_bytes = 200});
}

TEST(ResponseUsageStream, EndlessLinesStayBounded) {
  const std::string mib(1 << 20, 'x');
  for (std::string_view start : {"data: ", ": ", "x"}) {
    ResponseUsageReader reader(Body::kEventStream);
    reader.feed(start);
    for (int i = 0; i < 8; ++i) reader.feed(mib);
    EXPECT_LE(reader.buffered_bytes(), ResponseUsageLimits{}.max_event_bytes) << start;
    EXPECT_FALSE(reader.finish().reported);
  }
}

TEST(ResponseUsageBody, CompletionAndChat) {
  EXPECT_EQ(read(Body::kJson, completion_body()), kExpected);
  expect_any_split_reads(Body::kJson, completion_body(), kExpected);
  const std::string chat = R"({"choices":[{"message":{"role":"assistant","content":"hi"}}],)"
                           R"("usage":)" +
                           std::string(kUsage) + "}";
  EXPECT_EQ(read(Body::kJson, chat), kExpected);
}

TEST(ResponseUsageBody, NoUsage) {
  EXPECT_FALSE(read(Body::kJson, R"({"choices":[{"text":"a"}]})").reported);
  EXPECT_FALSE(read(Body::kJson, R"({"choices":[{"text":"a"}],"usage":null})").reported);
  EXPECT_FALSE(read(Body::kJson, R"({"error":{"message":"bad model","code":404}})").reported);
  EXPECT_FALSE(read(Body::kJson, R"({"object":"error","message":"x"})").reported);
  EXPECT_FALSE(read(Body::kJson, "").reported);
  EXPECT_FALSE(read(Body::kJson, "<html>502 Bad Gateway</html>").reported);
}

TEST(ResponseUsageBody, ABodyThatDoesNotParseGivesItsLastUsageObject) {
  // Cut after the usage object (the connection dropped before the closing brace).
  const std::string body = completion_body();
  expect_any_split_reads(Body::kJson, body.substr(0, body.size() - 1), kExpected);
  // Cut inside it: nothing.
  EXPECT_FALSE(read(Body::kJson, body.substr(0, body.size() - 10)).reported);
  // A stream sent as application/json: its usage event is the last usage object.
  EXPECT_EQ(read(Body::kJson, chat_stream(4)), kExpected);
}

TEST(ResponseUsageBody, OversizeBodyKeepsItsTail) {
  // 2 MiB of text: over the 1 MiB limit, read from the tail.
  const std::string body = completion_body(std::string(2 << 20, 'a'));
  ResponseUsageReader reader(Body::kJson);
  for (size_t at = 0; at < body.size(); at += 16 << 10) {
    reader.feed(std::string_view(body).substr(at, 16 << 10));
    ASSERT_LE(reader.buffered_bytes(), ResponseUsageLimits{}.max_body_bytes);
  }
  EXPECT_LE(reader.buffered_bytes(), 2 * ResponseUsageLimits{}.tail_bytes);
  EXPECT_EQ(reader.finish(), kExpected);
  // One chunk, bigger than everything.
  EXPECT_EQ(read(Body::kJson, body), kExpected);
  // Small limits, split anywhere: the same answer.
  const ResponseUsageLimits small{.max_body_bytes = 600, .tail_bytes = 150};
  expect_any_split_reads(Body::kJson, completion_body(std::string(1000, 'a')), kExpected, small);
  // Usage out of the tail, or none: nothing.
  const std::string early =
      R"({"usage":{"prompt_tokens":1},"choices":[{"text":")" + std::string(1000, 'a') + "\"}]}";
  expect_any_split_reads(Body::kJson, early, UsageFields{}, small);
  EXPECT_FALSE(read(Body::kJson, std::string(3 << 20, '{')).reported);
}

TEST(LastUsageIn, FindsAndParsesTheLastObject) {
  OpenAiJson json;
  EXPECT_EQ(last_usage_in(R"(..."usage" : {"prompt_tokens":12,"completion_tokens":8}})", json),
            (UsageFields{.reported = true, .prompt_tokens = 12, .completion_tokens = 8}));
  // Braces inside strings do not close it.
  EXPECT_EQ(last_usage_in(R"("usage":{"note":"}{\"}","prompt_tokens":3})", json),
            (UsageFields{.reported = true, .prompt_tokens = 3}));
  // The last object-valued one, not a later null.
  EXPECT_EQ(
      last_usage_in(R"("usage":{"prompt_tokens":1} "usage":{"prompt_tokens":2} "usage":null)", json)
          .prompt_tokens,
      2);
  EXPECT_FALSE(last_usage_in(R"("usage":{"prompt_tokens":)", json).reported);
  EXPECT_FALSE(last_usage_in(R"("usage":{"prompt_tokens":1,})", json).reported);
  EXPECT_FALSE(last_usage_in(R"("usage":[1])", json).reported);
  EXPECT_FALSE(last_usage_in(R"("usage"usage":{)", json).reported);
  EXPECT_FALSE(last_usage_in("", json).reported);
}

TEST(ResponseUsage, GarbageNeverBreaksIt) {
  std::mt19937 rng(7);
  // Random bytes, and the representative stream and body with random bytes overwritten: any
  // split gives the answer of the whole, and what is held stays within the limits.
  const std::string stream = chat_stream(6);
  const std::string body = completion_body();
  const ResponseUsageLimits small{.max_event_bytes = 256, .max_body_bytes = 512, .tail_bytes = 128};
  const char kBytes[] = "data: {}[]\":,usage\r\n\\ x";
  for (int round = 0; round < 300; ++round) {
    std::string text;
    if (round % 3 == 0) {
      text.resize(rng() % 4000);
      for (char& c : text) c = round % 2 ? kBytes[rng() % (sizeof(kBytes) - 1)] : char(rng());
    } else {
      text = round % 3 == 1 ? stream : body;
      for (int i = 0; i < 5; ++i) text[rng() % text.size()] = kBytes[rng() % (sizeof(kBytes) - 1)];
    }
    for (Body kind : {Body::kEventStream, Body::kJson}) {
      for (const ResponseUsageLimits& limits : {ResponseUsageLimits{}, small}) {
        const UsageFields whole = read(kind, text, limits);
        EXPECT_EQ(read_in_pieces(kind, text, round, 64, limits), whole) << round;
        ResponseUsageReader reader(kind, limits);
        reader.feed(text);
        EXPECT_LE(reader.buffered_bytes(), 2 * limits.max_event_bytes + limits.max_body_bytes);
      }
    }
  }
}

TEST(ResponseUsage, FinishCanBeRepeatedAndFedAgain) {
  OpenAiJson json;
  ResponseUsageReader reader(Body::kEventStream);
  const std::string stream = chat_stream(2);
  reader.feed(std::string_view(stream).substr(0, 100));
  EXPECT_FALSE(reader.finish(json).reported);
  reader.feed(std::string_view(stream).substr(100));
  EXPECT_EQ(reader.finish(json), kExpected);
  EXPECT_EQ(reader.finish(json), kExpected);
}

}  // namespace
}  // namespace kgai
