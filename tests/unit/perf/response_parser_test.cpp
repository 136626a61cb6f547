#include "perf/response_parser.h"

#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::perf {
namespace {

using ::testing::HasSubstr;

struct Parsed {
  ResponseParser::Feed result = ResponseParser::Feed::kMore;
  int status = 0;
  bool keep_alive = false;
  bool event_stream = false;
  std::string body;
  std::vector<std::string> events;
  std::string error;
  size_t leftover = 0;  // bytes after the end of the response
};

// Feeds `pieces` in order, as successive reads; SSE events are decoded from the body.
Parsed parse_pieces(const std::vector<std::string>& pieces, bool eof = false) {
  Parsed out;
  ResponseParser parser;
  SseEventReader sse;
  auto sink = [&](const char* data, size_t size) {
    out.body.append(data, size);
    sse.feed(data, size, [&](std::string_view event) {
      out.events.emplace_back(event);
      return true;
    });
  };
  for (const std::string& piece : pieces) {
    size_t consumed = 0;
    out.result = parser.feed(piece.data(), piece.size(), &consumed, sink);
    out.leftover += piece.size() - consumed;
    if (out.result != ResponseParser::Feed::kMore) break;
  }
  if (eof && out.result == ResponseParser::Feed::kMore) out.result = parser.finish_at_eof();
  out.status = parser.status();
  out.keep_alive = parser.keep_alive();
  out.event_stream = parser.event_stream();
  out.error = parser.error();
  return out;
}

// Parses `text` split in two at every byte, and one byte at a time; all must agree.
std::vector<Parsed> parse_every_split(const std::string& text, bool eof = false) {
  std::vector<Parsed> all;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    all.push_back(parse_pieces({text.substr(0, cut), text.substr(cut)}, eof));
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  all.push_back(parse_pieces(bytes, eof));
  return all;
}

std::string chunk(std::string_view data, std::string_view extension = "") {
  return fmt::format("{:x}{}\r\n{}\r\n", data.size(), extension, data);
}

// Events split across chunks, a chunk extension and an SSE comment.
const std::string kSseResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n" +
    chunk("data: {\"choices\":[{\"text\":\"a\"}]}") + chunk("\n\n") +
    chunk(": c\n", ";ext=1;other=\"x\"") + chunk("data: [DO") + chunk("NE]\n") + chunk("\n") +
    "0\r\n\r\n";

TEST(ResponseParserTest, ChunkedSseAtEverySplitPoint) {
  for (const Parsed& p : parse_every_split(kSseResponse)) {
    ASSERT_EQ(p.result, ResponseParser::Feed::kComplete) << p.error;
    EXPECT_EQ(p.status, 200);
    EXPECT_TRUE(p.keep_alive);
    EXPECT_TRUE(p.event_stream);
    EXPECT_EQ(p.leftover, 0u);
    EXPECT_THAT(p.events, ::testing::ElementsAre("{\"choices\":[{\"text\":\"a\"}]}", "[DONE]"));
  }
}

TEST(ResponseParserTest, ContentLengthJsonAtEverySplitPoint) {
  const std::string body = R"({"choices":[{"text":"hello"}],"usage":{"completion_tokens":2}})";
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
  for (const Parsed& p : parse_every_split(text)) {
    ASSERT_EQ(p.result, ResponseParser::Feed::kComplete) << p.error;
    EXPECT_EQ(p.body, body);
    EXPECT_FALSE(p.event_stream);
  }
}

TEST(ResponseParserTest, TrailersAreSkipped) {
  const std::string text =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\nY: "
      "2\r\n\r\n";
  for (const Parsed& p : parse_every_split(text)) {
    ASSERT_EQ(p.result, ResponseParser::Feed::kComplete) << p.error;
    EXPECT_EQ(p.body, "hello");
  }
}

TEST(ResponseParserTest, InterimResponsesAreSkipped) {
  const std::string text =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  for (const Parsed& p : parse_every_split(text)) {
    ASSERT_EQ(p.result, ResponseParser::Feed::kComplete) << p.error;
    EXPECT_EQ(p.status, 201);
    EXPECT_EQ(p.body, "ok");
  }
}

TEST(ResponseParserTest, ConnectionCloseAndBodyUntilEof) {
  const std::string text = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
  for (const Parsed& p : parse_every_split(text, /*eof=*/true)) {
    ASSERT_EQ(p.result, ResponseParser::Feed::kComplete) << p.error;
    EXPECT_FALSE(p.keep_alive);
    EXPECT_EQ(p.body, "until the end");
  }
  const Parsed close = parse_pieces({"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"});
  EXPECT_EQ(close.result, ResponseParser::Feed::kComplete);
  EXPECT_FALSE(close.keep_alive);
}

TEST(ResponseParserTest, BytesAfterTheResponseAreLeftOver) {
  const Parsed p = parse_pieces({"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxGARBAGE"});
  EXPECT_EQ(p.result, ResponseParser::Feed::kComplete);
  EXPECT_EQ(p.leftover, 7u);
}

TEST(ResponseParserTest, MalformedInputsAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"HTTP/2 200 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 2x0 OK\r\n\r\n", "bad status code"},
      {"SSH-2.0-OpenSSH\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "bad header line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "two different"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "chunk data"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n", "bare LF"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", "too large"},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", "longer than 16 KiB"},
  };
  for (const auto& [text, message] : cases) {
    const Parsed p = parse_pieces({text});
    EXPECT_EQ(p.result, ResponseParser::Feed::kError) << text.substr(0, 60);
    EXPECT_THAT(p.error, HasSubstr(message)) << text.substr(0, 60);
  }
}

TEST(ResponseParserTest, EarlyCloseIsAnError) {
  EXPECT_THAT(parse_pieces({}, true).error, HasSubstr("before any byte"));
  EXPECT_THAT(parse_pieces({"HTTP/1.1 200 OK\r\nConte"}, true).error, HasSubstr("headers"));
  EXPECT_THAT(parse_pieces({"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab"}, true).error,
              HasSubstr("7 bytes of the body missing"));
  EXPECT_THAT(
      parse_pieces({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"}, true)
          .error,
      HasSubstr("before the last chunk"));
}

TEST(ResponseParserTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string alphabet =
      "HTTP/1.1 200OK\r\n:;-Content-LengthTransfer-Encodingchunked0123456789abcdef";
  for (int round = 0; round < 3000; ++round) {
    std::string text = round % 2 ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" : "";
    const size_t n = rng() % 200;
    for (size_t i = 0; i < n; ++i) {
      text += (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    const size_t cut = text.empty() ? 0 : rng() % text.size();
    const Parsed p = parse_pieces({text.substr(0, cut), text.substr(cut)}, true);
    EXPECT_TRUE(p.result != ResponseParser::Feed::kMore);
  }
}

TEST(SseEventReaderTest, JoinsDataLinesAndSkipsOtherFields) {
  SseEventReader sse;
  std::vector<std::string> events;
  const std::string text =
      "event: x\nid: 1\ndata: a\ndata:b\r\n\r\n: comment\n\nretry: 5\n\ndata: c\n\n";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    sse.reset();
    events.clear();
    auto on = [&](std::string_view e) {
      events.emplace_back(e);
      return true;
    };
    EXPECT_TRUE(sse.feed(text.data(), cut, on));
    EXPECT_TRUE(sse.feed(text.data() + cut, text.size() - cut, on));
    EXPECT_THAT(events, ::testing::ElementsAre("a\nb", "c"));
  }
}

TEST(SseEventReaderTest, OverlongEventIsAnError) {
  SseEventReader sse;
  const std::string big(SseEventReader::kMaxEventBytes + 1, 'x');
  EXPECT_FALSE(sse.feed(big.data(), big.size(), [](std::string_view) { return true; }));
}

}  // namespace
}  // namespace kgai::perf
