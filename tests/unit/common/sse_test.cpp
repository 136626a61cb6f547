#include "common/sse.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::sse {

// Found by argument-dependent lookup, so they live in Event's namespace.
bool operator==(const Event& a, const Event& b) {
  return a.event == b.event && a.data == b.data && a.id == b.id;
}

void PrintTo(const Event& e, std::ostream* os) {
  *os << "{event='" << e.event << "' data='" << e.data << "' id='" << e.id << "'}";
}

namespace {

using ::testing::HasSubstr;

struct Parsed {
  std::vector<Event> events;
  bool ok = true;
};

// Feeds `pieces` one after another into a fresh parser.
Parsed parse_pieces(const std::vector<std::string_view>& pieces, std::size_t limit = 1 << 20) {
  Parser parser(limit);
  Parsed parsed;
  for (std::string_view piece : pieces) {
    auto result = parser.feed(piece, [&](Event&& e) { parsed.events.push_back(std::move(e)); });
    if (!result) {
      parsed.ok = false;
      break;
    }
  }
  return parsed;
}

// Every line-end style, comments, fields with and without the space, an event with no data
// (not dispatched), a field without a colon, retry and an unknown field.
constexpr std::string_view kSample =
    ": a comment\n"
    "data: first\n"
    "\n"
    "event: update\r\n"
    "id: 7\r\n"
    "data:second\r\n"
    "data:  two spaces\r\n"
    "\r\n"
    "retry: 1000\r"
    "unknown: x\r"
    "data: third\r"
    "\r"
    "event: ignored\n"
    "\n"
    "data\n"
    "\n"
    "data: [DONE]\r\n"
    "\r\n";

const std::vector<Event> kSampleEvents = {
    {"", "first", ""},   {"update", "second\n two spaces", "7"}, {"", "third", "7"}, {"", "", "7"},
    {"", "[DONE]", "7"},
};

TEST(SseFormatTest, SingleLine) {
  EXPECT_EQ(format("hello"), "data: hello\n\n");
  EXPECT_EQ(format(""), "data: \n\n");
}

TEST(SseFormatTest, LineEndsInThePayloadBecomeDataLines) {
  EXPECT_EQ(format("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST(SseFormatTest, AppendAddsToTheEnd) {
  std::string out = "data: x\n\n";
  append(out, "{\"k\":1}");
  EXPECT_EQ(out, "data: x\n\ndata: {\"k\":1}\n\n");
}

TEST(SseFormatTest, RoundTripsThroughTheParser) {
  for (std::string_view payload : {"plain", "", "two\nlines", "trailing\n", "\n\nx", "a: b"}) {
    Parsed parsed = parse_pieces({format(payload)});
    ASSERT_TRUE(parsed.ok);
    ASSERT_EQ(parsed.events.size(), 1u) << payload;
    EXPECT_EQ(parsed.events[0].data, payload);
  }
}

TEST(SseParserTest, WholeSample) {
  Parsed parsed = parse_pieces({kSample});
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.events, kSampleEvents);
}

TEST(SseParserTest, SampleSplitAtEveryPoint) {
  for (std::size_t i = 0; i <= kSample.size(); ++i) {
    Parsed parsed = parse_pieces({kSample.substr(0, i), kSample.substr(i)});
    ASSERT_TRUE(parsed.ok);
    EXPECT_EQ(parsed.events, kSampleEvents) << "split at " << i;
  }
}

TEST(SseParserTest, SampleSplitAtEveryPairOfPoints) {
  for (std::size_t i = 0; i <= kSample.size(); ++i) {
    for (std::size_t j = i; j <= kSample.size(); ++j) {
      Parsed parsed =
          parse_pieces({kSample.substr(0, i), kSample.substr(i, j - i), kSample.substr(j)});
      ASSERT_TRUE(parsed.ok);
      ASSERT_EQ(parsed.events, kSampleEvents) << "split at " << i << " and " << j;
    }
  }
}

TEST(SseParserTest, OneByteAtATime) {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < kSample.size(); ++i) bytes.push_back(kSample.substr(i, 1));
  Parsed parsed = parse_pieces(bytes);
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.events, kSampleEvents);
}

TEST(SseParserTest, CrLfSplitAcrossFeedsIsOneLineEnd) {
  // Were "\r" and "\n" taken as two line ends, the blank line would split the event in two.
  Parsed parsed = parse_pieces({"data: a\r", "\ndata: b\r", "\n\r", "\n"});
  ASSERT_TRUE(parsed.ok);
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "a\nb");
}

TEST(SseParserTest, EmptyFeedBetweenCrAndLf) {
  Parsed parsed = parse_pieces({"data: a\r", "", "\n", "\r\n"});
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "a");
}

TEST(SseParserTest, CommentsOnlyGiveNoEvents) {
  Parser parser;
  int events = 0;
  ASSERT_TRUE(parser.feed(": ping\n\n: ping\r\n\r\n:\n", [&](Event&&) { ++events; }));
  EXPECT_EQ(events, 0);
  EXPECT_FALSE(parser.has_partial());
}

TEST(SseParserTest, MultiLineData) {
  Parsed parsed = parse_pieces({"data: {\ndata: \"a\": 1\ndata: }\n\n"});
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "{\n\"a\": 1\n}");
}

TEST(SseParserTest, EventWithoutDataIsNotDispatchedAndItsTypeIsForgotten) {
  Parsed parsed = parse_pieces({"event: ping\nid: 1\n\ndata: x\n\n"});
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].event, "");
  EXPECT_EQ(parsed.events[0].data, "x");
  EXPECT_EQ(parsed.events[0].id, "1");  // the last event id carries over, as in the spec
}

TEST(SseParserTest, HasPartialForATruncatedStream) {
  Parser parser;
  auto ignore = [](Event&&) {};
  ASSERT_TRUE(parser.feed("data: complete\n\n", ignore));
  EXPECT_FALSE(parser.has_partial());
  ASSERT_TRUE(parser.feed("data: cut", ignore));
  EXPECT_TRUE(parser.has_partial());
  ASSERT_TRUE(parser.feed(" here\n", ignore));
  EXPECT_TRUE(parser.has_partial());  // the line is whole, the event is not
  int events = 0;
  ASSERT_TRUE(parser.feed("\n", [&](Event&& e) {
    ++events;
    EXPECT_EQ(e.data, "cut here");
  }));
  EXPECT_EQ(events, 1);
  EXPECT_FALSE(parser.has_partial());
}

TEST(SseParserTest, OversizedEventFailsAndStaysFailed) {
  Parser parser(64);
  int events = 0;
  auto count = [&](Event&&) { ++events; };
  ASSERT_TRUE(parser.feed("data: small\n\n", count));
  auto result = parser.feed("data: " + std::string(100, 'x') + "\n\n", count);
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error().message, HasSubstr("over 64 bytes"));
  EXPECT_FALSE(parser.feed("data: small\n\n", count));
  EXPECT_EQ(events, 1);
}

TEST(SseParserTest, OversizedAcrossLinesAndUnfinishedLines) {
  {
    Parser parser(64);
    std::string many;
    for (int i = 0; i < 20; ++i) many += "data: 0123456789\n";
    EXPECT_FALSE(parser.feed(many, [](Event&&) {}));
  }
  {
    // A line that never ends must not grow the buffer without bound.
    Parser parser(64);
    bool failed = false;
    for (int i = 0; i < 100 && !failed; ++i) {
      failed = !parser.feed("xxxxxxxxxx", [](Event&&) {});
    }
    EXPECT_TRUE(failed);
  }
}

TEST(SseParserTest, LimitIsPerEvent) {
  Parser parser(64);
  int events = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(parser.feed("data: 0123456789012345678901234567890123456789\n\n",
                            [&](Event&&) { ++events; }));
  }
  EXPECT_EQ(events, 1000);
}

}  // namespace
}  // namespace kgai::sse
