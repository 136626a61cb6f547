#include "perf/dataset.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim/tokenizer.h"

namespace kgai::perf {
namespace {

using ::testing::HasSubstr;

bool plain_printable(const std::string& text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

TEST(MakeText, ExactBytesAndPrintable) {
  for (int tokens : {1, 2, 3, 5, 7, 16, 31, 64, 100, 257, 1000, 4096}) {
    for (uint64_t seed : {0, 1, 99}) {
      const std::string text = make_text(tokens, seed);
      ASSERT_EQ(text.size(), static_cast<size_t>(4 * tokens)) << tokens;
      EXPECT_TRUE(plain_printable(text)) << text;
      EXPECT_NE(text.back(), ' ');
      EXPECT_EQ(sim::count_tokens(text), tokens);
    }
  }
  EXPECT_EQ(make_text(0, 3), "");
  EXPECT_EQ(make_text(-5, 3), "");
}

TEST(MakeText, WordsDeterministicPerSeed) {
  EXPECT_EQ(make_text(200, 11), make_text(200, 11));
  EXPECT_NE(make_text(200, 11), make_text(200, 12));
  const std::string text = make_text(200, 11);
  EXPECT_NE(text.find(' '), std::string::npos);
  // Words, not a run of letters: no word longer than the longest in the list.
  size_t longest = 0, run = 0;
  for (char c : text) run = c == ' ' ? 0 : run + 1, longest = std::max(longest, run);
  EXPECT_LE(longest, 9u);
}

DataConfig data(std::string type) {
  DataConfig config;
  config.type = std::move(type);
  return config;
}

TEST(MockDataset, FixedPrompt) {
  auto dataset = make_dataset(data("mock"));
  ASSERT_TRUE(dataset) << dataset.error().message;
  std::mt19937_64 rng(1);
  const Prompt a = (*dataset)->next(rng, false);
  const Prompt b = (*dataset)->next(rng, false);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.input_tokens, 16);
  EXPECT_EQ(a.output_tokens, 16);
  EXPECT_EQ(a.text.size(), 64u);
  EXPECT_EQ(a.group, -1);
  EXPECT_TRUE(a.messages.empty());
  EXPECT_EQ((*dataset)->size(), 0u);

  const Prompt chat = (*dataset)->next(rng, true);
  ASSERT_EQ(chat.messages.size(), 1u);
  EXPECT_EQ(chat.messages[0].role, "user");
  EXPECT_EQ(chat.messages[0].content, a.text);
  EXPECT_TRUE(chat.text.empty());
  EXPECT_EQ(chat.input_tokens, 16);
}

TEST(SyntheticDataset, NormalLengthsClampedAndRounded) {
  DataConfig config = data("synthetic");
  config.input_distribution = Distribution{.min = 50, .max = 150, .mean = 100, .std_dev = 30};
  config.output_distribution = Distribution{.min = 10, .max = 20, .mean = 30, .std_dev = 0};
  auto dataset = make_dataset(config);
  ASSERT_TRUE(dataset) << dataset.error().message;
  std::mt19937_64 rng(3);
  double sum = 0;
  int at_min = 0, at_max = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const Prompt p = (*dataset)->next(rng, false);
    ASSERT_GE(p.input_tokens, 50);
    ASSERT_LE(p.input_tokens, 150);
    ASSERT_EQ(p.text.size(), static_cast<size_t>(4 * p.input_tokens));
    EXPECT_EQ(p.output_tokens, 20);  // mean 30 clamped to max 20
    sum += p.input_tokens;
    at_min += p.input_tokens == 50;
    at_max += p.input_tokens == 150;
  }
  EXPECT_NEAR(sum / n, 100, 2);
  // P(|z| > 5/3) is about 4.8% on each side.
  EXPECT_NEAR(at_min, 0.048 * n, 0.02 * n);
  EXPECT_NEAR(at_max, 0.048 * n, 0.02 * n);
}

TEST(SyntheticDataset, ZeroStdDevIsTheMean) {
  DataConfig config = data("synthetic");
  config.input_distribution = Distribution{.min = 1, .max = 1000, .mean = 128.4, .std_dev = 0};
  config.output_distribution = Distribution{.min = 1, .max = 1000, .mean = 64.6, .std_dev = 0};
  auto dataset = make_dataset(config);
  ASSERT_TRUE(dataset);
  std::mt19937_64 rng(3);
  const Prompt p = (*dataset)->next(rng, true);
  EXPECT_EQ(p.input_tokens, 128);
  EXPECT_EQ(p.output_tokens, 65);
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0].content.size(), 512u);
}

TEST(RandomDataset, UniformLengths) {
  DataConfig config = data("random");
  config.input_distribution = Distribution{.min = 10, .max = 19};
  config.output_distribution = Distribution{.min = 5, .max = 5};
  auto dataset = make_dataset(config);
  ASSERT_TRUE(dataset) << dataset.error().message;
  std::mt19937_64 rng(8);
  std::map<int, int> counts;
  const int n = 10000;
  for (int i = 0; i < n; ++i) {
    const Prompt p = (*dataset)->next(rng, false);
    ASSERT_EQ(p.output_tokens, 5);
    ASSERT_EQ(sim::count_tokens(p.text), p.input_tokens);
    ++counts[p.input_tokens];
  }
  ASSERT_EQ(counts.size(), 10u);
  EXPECT_EQ(counts.begin()->first, 10);
  EXPECT_EQ(counts.rbegin()->first, 19);
  for (auto [len, count] : counts) EXPECT_NEAR(count, n / 10, 150) << len;
}

std::vector<Prompt> draw(const DataConfig& config, uint64_t seed, int n, bool chat) {
  auto dataset = make_dataset(config);
  EXPECT_TRUE(dataset) << dataset.error().message;
  std::mt19937_64 rng(seed);
  std::vector<Prompt> out;
  for (int i = 0; i < n; ++i) out.push_back((*dataset)->next(rng, chat));
  return out;
}

TEST(GeneratedDatasets, DeterministicGivenTheRng) {
  for (const std::string type : {"synthetic", "random"}) {
    DataConfig config = data(type);
    config.input_distribution = Distribution{.min = 1, .max = 300, .mean = 100, .std_dev = 50};
    config.output_distribution = Distribution{.min = 1, .max = 300, .mean = 100, .std_dev = 50};
    auto a = draw(config, 5, 20, false), b = draw(config, 5, 20, false),
         c = draw(config, 6, 20, false);
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(a[i].text, b[i].text) << type;
      EXPECT_EQ(a[i].output_tokens, b[i].output_tokens) << type;
    }
    EXPECT_NE(a[0].text, c[0].text) << type;
    // Distinct prompts, so a prefix cache does not turn a synthetic run into a cached one.
    EXPECT_NE(a[0].text.substr(0, 8), a[1].text.substr(0, 8)) << type;
  }
}

DataConfig shared_prefix(int groups, int per_group) {
  DataConfig config = data("shared_prefix");
  config.shared_prefix = SharedPrefixConfig{.num_groups = groups,
                                            .num_prompts_per_group = per_group,
                                            .system_prompt_len = 40,
                                            .question_len = 12,
                                            .output_len = 7};
  return config;
}

TEST(SharedPrefixDataset, CompletionPromptsShareTheSystemPrompt) {
  const auto prompts = draw(shared_prefix(3, 2), 1, 12, false);
  std::map<int, std::string> prefix;
  std::set<std::string> questions;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Prompt& p = prompts[i];
    EXPECT_EQ(p.group, static_cast<int>(i % 3));  // cycles over the groups
    EXPECT_EQ(p.input_tokens, 52);
    EXPECT_EQ(p.output_tokens, 7);
    ASSERT_EQ(p.text.size(), 208u);
    EXPECT_TRUE(plain_printable(p.text));
    const std::string system = p.text.substr(0, 160);
    if (auto it = prefix.find(p.group); it != prefix.end()) {
      EXPECT_EQ(it->second, system) << i;
    } else {
      prefix[p.group] = system;
    }
    questions.insert(p.text.substr(160));
  }
  ASSERT_EQ(prefix.size(), 3u);
  EXPECT_NE(prefix[0], prefix[1]);
  EXPECT_NE(prefix[1], prefix[2]);
  // 3 groups x 2 questions, then the same 6 prompts again.
  EXPECT_EQ(questions.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(prompts[i].text, prompts[i + 6].text);
  EXPECT_NE(prompts[0].text, prompts[3].text);  // same group, other question
}

TEST(SharedPrefixDataset, ChatHasSystemAndUserMessages) {
  const auto completion = draw(shared_prefix(2, 3), 1, 6, false);
  const auto chat = draw(shared_prefix(2, 3), 99, 6, true);
  for (size_t i = 0; i < chat.size(); ++i) {
    const Prompt& p = chat[i];
    ASSERT_EQ(p.messages.size(), 2u);
    EXPECT_EQ(p.messages[0].role, "system");
    EXPECT_EQ(p.messages[1].role, "user");
    EXPECT_EQ(p.messages[0].content.size(), 160u);
    EXPECT_EQ(p.messages[1].content.size(), 48u);
    EXPECT_EQ(p.messages[0].content + p.messages[1].content, completion[i].text);
    EXPECT_EQ(p.input_tokens, 52);
    EXPECT_EQ(p.group, static_cast<int>(i % 2));
    EXPECT_TRUE(p.text.empty());
  }
  EXPECT_EQ(chat[0].messages[0].content, chat[2].messages[0].content);
  EXPECT_NE(chat[0].messages[1].content, chat[2].messages[1].content);
}

std::string dataset_error(const DataConfig& config) {
  auto dataset = make_dataset(config);
  return dataset ? "(no error)" : dataset.error().message;
}

TEST(MakeDataset, ConfigErrors) {
  EXPECT_THAT(dataset_error(data("cnn_dailymail")), HasSubstr("data.type: unknown or unsupported "
                                                              "type 'cnn_dailymail'"));
  DataConfig config = data("synthetic");
  config.input_distribution = Distribution{.min = 0, .max = 10};
  EXPECT_EQ(dataset_error(config), "data.input_distribution.min: must be at least 1, got 0");
  config.input_distribution = Distribution{.min = 10, .max = 5};
  EXPECT_EQ(dataset_error(config), "data.input_distribution.max: must be at least min (10), got 5");
  config.input_distribution = Distribution{.min = 1, .max = 5, .std_dev = -1};
  EXPECT_THAT(dataset_error(config), HasSubstr("data.input_distribution.std_dev"));
  config.input_distribution.reset();
  config.output_distribution = Distribution{.min = 1, .max = 2'000'000};
  EXPECT_THAT(dataset_error(config), HasSubstr("data.output_distribution.max: at most"));
  config = data("random");
  config.output_distribution = Distribution{.min = 3, .max = 2};
  EXPECT_THAT(dataset_error(config), HasSubstr("data.output_distribution.max"));

  config = shared_prefix(0, 1);
  EXPECT_EQ(dataset_error(config), "data.shared_prefix.num_groups: must be at least 1, got 0");
  config = shared_prefix(1, 1);
  config.shared_prefix->question_len = -2;
  EXPECT_EQ(dataset_error(config), "data.shared_prefix.question_len: must be at least 1, got -2");

  EXPECT_THAT(dataset_error(data("shareGPT")), HasSubstr("data.path"));
}

TEST(MakeDataset, DefaultsWhenSectionsAreMissing) {
  EXPECT_TRUE(make_dataset(data("synthetic")));
  EXPECT_TRUE(make_dataset(data("random")));
  auto prompts = draw(data("shared_prefix"), 1, 1, false);
  EXPECT_EQ(prompts[0].input_tokens, 150);  // 100 + 50, Inference Perf's defaults
}

// ---- ShareGPT ----

const std::string kSample = KGAI_SOURCE_DIR "/data/sharegpt_sample.json";

DataConfig sharegpt(const std::string& path) {
  DataConfig config = data("shareGPT");
  config.path = path;
  return config;
}

TEST(ShareGptDataset, SampleFile) {
  auto dataset = make_dataset(sharegpt(kSample));
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ((*dataset)->size(), 58u);
  EXPECT_EQ((*dataset)->skipped(), 2u);
  std::mt19937_64 rng(4);
  std::set<std::string> seen;
  int min_in = 1 << 30, max_in = 0, min_out = 1 << 30, max_out = 0;
  for (int i = 0; i < 58; ++i) {
    const Prompt p = (*dataset)->next(rng, false);
    EXPECT_EQ(p.input_tokens, sim::count_tokens(p.text));
    EXPECT_GE(p.output_tokens, 1);
    seen.insert(p.text);
    min_in = std::min(min_in, p.input_tokens), max_in = std::max(max_in, p.input_tokens);
    min_out = std::min(min_out, p.output_tokens), max_out = std::max(max_out, p.output_tokens);
  }
  // One pass visits every conversation once (some prompts repeat in the file, so count less).
  EXPECT_GE(seen.size(), 40u);
  EXPECT_LT(min_in, 10);
  EXPECT_GT(max_in, 200);
  EXPECT_LT(min_out, 30);
  EXPECT_GT(max_out, 500);
}

TEST(ShareGptDataset, ShuffledOrderDeterministicPerRng) {
  auto order = [](uint64_t seed) {
    auto dataset = make_dataset(sharegpt(kSample));
    std::mt19937_64 rng(seed);
    std::vector<std::string> texts;
    for (int i = 0; i < 120; ++i) texts.push_back((*dataset)->next(rng, false).text);
    return texts;
  };
  const auto a = order(1), b = order(1), c = order(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Each pass is a permutation of the same conversations.
  std::multiset<std::string> first(a.begin(), a.begin() + 58),
      second(a.begin() + 58, a.begin() + 116);
  EXPECT_EQ(first, second);
}

class ShareGptFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgai_sharegpt_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << content;
    return path;
  }
  std::string error_for(const std::string& content) {
    return dataset_error(sharegpt(write("data.json", content)));
  }
  std::string path() const { return (dir_ / "data.json").string(); }

  std::filesystem::path dir_;
};

TEST_F(ShareGptFiles, TakesFirstHumanAndTheGptTurnAfterIt) {
  const std::string content = R"([
    {"id": "a", "conversations": [
      {"from": "gpt", "value": "a greeting nobody asked for"},
      {"from": "system", "value": "be brief"},
      {"from": "human", "value": "12345678"},
      {"from": "human", "value": "a second question"},
      {"from": "gpt", "value": "123456789"},
      {"from": "gpt", "value": "much longer answer that is not the first"}]},
    {"id": "b", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": ""}]}
  ])";
  auto dataset = make_dataset(sharegpt(write("ok.json", content)));
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ((*dataset)->size(), 2u);
  std::mt19937_64 rng(0);
  std::map<std::string, Prompt> by_text;
  for (int i = 0; i < 2; ++i) {
    Prompt p = (*dataset)->next(rng, true);
    ASSERT_EQ(p.messages.size(), 1u);
    by_text[p.messages[0].content] = p;
  }
  EXPECT_EQ(by_text["12345678"].input_tokens, 2);
  EXPECT_EQ(by_text["12345678"].output_tokens, 3);  // 9 bytes
  EXPECT_EQ(by_text["hi"].input_tokens, 1);
  EXPECT_EQ(by_text["hi"].output_tokens, 1);  // at least 1
}

TEST_F(ShareGptFiles, NotJson) {
  EXPECT_THAT(error_for("this is not json"),
              ::testing::AllOf(HasSubstr(path() + ": not valid JSON"), HasSubstr("line 1")));
}

TEST_F(ShareGptFiles, Truncated) {
  const std::string error = error_for(
      R"([{"id": "a", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]},
          {"id": "b", "conversations": [{"from": "human", "val)");
  EXPECT_THAT(error, HasSubstr(path() + ": not valid JSON in entry 1"));
  EXPECT_THAT(error, HasSubstr("line 2"));
}

TEST_F(ShareGptFiles, MissingComma) {
  EXPECT_THAT(error_for(R"([{"conversations": []} {"conversations": []}])"),
              HasSubstr(": not valid JSON after entry 0"));
  EXPECT_THAT(error_for(R"([{"conversations": [{"from": "human" "value": "x"}]}])"),
              HasSubstr(": not valid JSON in entry 0"));
}

TEST_F(ShareGptFiles, WrongShape) {
  EXPECT_EQ(error_for(R"({"conversations": []})"),
            path() + ": expected a list of conversations, got an object");
  EXPECT_EQ(error_for(R"([{"conversations": []}, 7])"),
            path() + ": entry 1: expected an object, got a number");
  EXPECT_EQ(error_for(R"([{"id": "x"}])"), path() + ": entry 0: no \"conversations\" key");
  EXPECT_EQ(error_for(R"([{"conversations": "hello"}])"),
            path() + ": entry 0: \"conversations\" is a string, expected a list");
  EXPECT_EQ(error_for(R"([{"conversations": []}, {"conversations": [null]}])"),
            path() + ": entry 1: conversations[0]: expected an object, got null");
  EXPECT_EQ(error_for(R"([{"conversations": [{"from": "human", "value": "x"}, {"value": "y"}]}])"),
            path() + ": entry 0: conversations[1]: no \"from\" key");
  EXPECT_EQ(error_for(R"([{"conversations": [{"from": "human", "value": ["x"]}]}])"),
            path() + ": entry 0: conversations[0].value: expected a string, got a list");
}

TEST_F(ShareGptFiles, NoUsableConversation) {
  EXPECT_EQ(error_for(R"([
      {"conversations": []},
      {"conversations": [{"from": "human", "value": "question only"}]},
      {"conversations": [{"from": "gpt", "value": "answer"}, {"from": "human", "value": "q"}]},
      {"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "a"}]}])"),
            path() +
                ": no usable conversation among 4 entries (each needs a human turn followed "
                "by a gpt turn)");
  EXPECT_THAT(error_for("[]"), HasSubstr("no usable conversation among 0 entries"));
}

TEST_F(ShareGptFiles, MissingFile) {
  const std::string missing = (dir_ / "nope.json").string();
  EXPECT_EQ(dataset_error(sharegpt(missing)), missing + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace kgai::perf
