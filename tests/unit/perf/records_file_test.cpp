#include "perf/records_file.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace kgai::perf {
namespace {

namespace fs = std::filesystem;

RequestRecord streamed() {
  RequestRecord r;
  r.stage = 2;
  r.index = 41;
  r.scheduled = 0.1;  // not exact in binary: must still come back bit for bit
  r.sent = 0.10012345678901234;
  r.first_token = 0.123456789;
  r.end = 1.0 / 3.0;
  r.token_times = {0.0233f, 0.0311f, 1e-7f, 123.456f};
  r.input_tokens = 512;
  r.output_tokens = 4;
  r.cached_tokens = 256;
  r.usage_reported = true;
  r.http_status = 200;
  r.lora = "adapter-\"1\"";
  return r;
}

RequestRecord failed() {
  RequestRecord r;
  r.index = 7;
  r.sent = 2;
  r.end = 2.5;
  r.http_status = 503;
  r.error = ErrorKind::kHttpStatus;
  r.error_message = "Service \\ Unavailable\n\"busy\"";
  r.input_tokens = 10;
  return r;
}

void expect_same(const RequestRecord& a, const RequestRecord& b) {
  EXPECT_EQ(a.stage, b.stage);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.scheduled, b.scheduled);
  EXPECT_EQ(a.sent, b.sent);
  EXPECT_EQ(a.first_token, b.first_token);
  EXPECT_EQ(a.end, b.end);
  EXPECT_EQ(a.token_times, b.token_times);
  EXPECT_EQ(a.input_tokens, b.input_tokens);
  EXPECT_EQ(a.output_tokens, b.output_tokens);
  EXPECT_EQ(a.cached_tokens, b.cached_tokens);
  EXPECT_EQ(a.usage_reported, b.usage_reported);
  EXPECT_EQ(a.http_status, b.http_status);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.error_message, b.error_message);
  EXPECT_EQ(a.lora, b.lora);
}

TEST(RecordsFile, LinesRoundTripExactly) {
  for (const RequestRecord& r : {streamed(), failed(), RequestRecord{}}) {
    const std::string line = record_line(r);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto back = parse_record_line(line);
    ASSERT_TRUE(back) << back.error().message << "\n" << line;
    expect_same(*back, r);
  }
}

TEST(RecordsFile, NonFiniteTimesBecomeNull) {
  RequestRecord r = streamed();
  r.end = std::nan("");
  r.token_times = {std::numeric_limits<float>::infinity()};
  const std::string line = record_line(r);
  EXPECT_NE(line.find("\"end_time\":null"), std::string::npos) << line;
  auto back = parse_record_line(line);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(std::isnan(back->end));
}

TEST(RecordsFile, MalformedLinesGetClearErrors) {
  const std::string good = record_line(streamed());
  struct Case {
    std::string line;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"", "not valid JSON"},
      {"[1,2]", "expected a JSON object"},
      {good.substr(0, good.size() / 2), "not valid JSON"},
      {R"({"stage":0})", "missing key 'index'"},
      {R"({"stage":"x","index":1})", "'stage' must be an integer"},
      {R"({"stage":0,"index":-3})", "out of range"},
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  cases.push_back({replaced("\"start_time\":", "\"start_timex\":"), "missing key 'start_time'"});
  cases.push_back({replaced("\"prompt_tokens\":512", "\"prompt_tokens\":1.5"),
                   "'prompt_tokens' must be an integer"});
  cases.push_back({replaced("\"prompt_tokens\":512", "\"prompt_tokens\":-1"), "out of range"});
  cases.push_back({replaced("\"usage_reported\":true", "\"usage_reported\":1"),
                   "'usage_reported' must be true or false"});
  cases.push_back({replaced("\"token_times\":[", "\"token_times\":[\"a\","), "'token_times'"});
  cases.push_back({replaced("\"success\":true", "\"success\":false"), "needs 'error'"});
  cases.push_back({replaced("\"lora\":", "\"lora\":3,\"x\":"), "'lora' must be a string"});
  const std::string bad = record_line(failed());
  std::string unknown_kind = bad;
  const std::string kind = "\"kind\":\"http_status\"";
  unknown_kind.replace(unknown_kind.find(kind), kind.size(), "\"kind\":\"teapot\"");
  cases.push_back({unknown_kind, "unknown kind"});
  std::string no_error = bad.substr(0, bad.find(",\"error\"")) + "}";
  cases.push_back({no_error, "needs 'error'"});
  for (const auto& c : cases) {
    auto r = parse_record_line(c.line);
    ASSERT_FALSE(r) << c.line;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << r.error().message << " <- " << c.line;
  }
}

class RecordsFileOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() /
             ("kgai-records-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl"))
                .string();
  }
  void TearDown() override { fs::remove(path_); }
  void write_text(const std::string& text) {
    std::ofstream out(path_, std::ios::binary);
    out << text;
  }
  std::string path_;
};

TEST_F(RecordsFileOnDisk, WritesAndReadsEveryRecord) {
  std::vector<RequestRecord> records;
  for (int i = 0; i < 1000; ++i) {
    RequestRecord r = i % 10 == 3 ? failed() : streamed();
    r.index = static_cast<uint64_t>(i);
    r.sent = i * 0.001;
    records.push_back(r);
  }
  std::vector<const RequestRecord*> pointers;
  for (const auto& r : records) pointers.push_back(&r);
  ASSERT_TRUE(write_records_file(path_, pointers));
  auto back = read_records_file(path_);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) expect_same((*back)[i], records[i]);
}

TEST_F(RecordsFileOnDisk, SkipsBlankLinesAndReadsALastLineWithoutNewline) {
  write_text("\n" + record_line(streamed()) + "\n  \n" + record_line(failed()));
  auto back = read_records_file(path_);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->size(), 2u);
  write_text("");
  back = read_records_file(path_);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->empty());
}

TEST_F(RecordsFileOnDisk, ErrorsNameTheFileAndLine) {
  const std::string line = record_line(streamed());
  write_text(line + "\n" + line + "\n" + line.substr(0, 40) + "\n");
  auto back = read_records_file(path_);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find(path_ + ":3: not valid JSON"), std::string::npos)
      << back.error().message;
}

TEST_F(RecordsFileOnDisk, RefusesAHugeLineWithoutReadingItAll) {
  {
    std::ofstream out(path_, std::ios::binary);
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 70; ++i) out << chunk;  // 70 MiB without a newline
  }
  auto back = read_records_file(path_);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("longer than 64 MiB"), std::string::npos)
      << back.error().message;
}

TEST_F(RecordsFileOnDisk, MissingFile) {
  auto back = read_records_file(path_ + ".missing");
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace kgai::perf
