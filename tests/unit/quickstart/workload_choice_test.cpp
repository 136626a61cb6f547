// Which requests the advice is for: a use case, lengths, or a ShareGPT file; and the errors.
#include "quickstart/workload_choice.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

namespace kgai::quickstart {
namespace {

namespace fs = std::filesystem;

class WorkloadChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kgai-qs-workload-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

  fs::path dir_;
};

TEST_F(WorkloadChoiceTest, DefaultIsTheChatbotUseCase) {
  auto w = resolve_workload({});
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->shape.name, "chatbot");
  EXPECT_EQ(w->shape.mean_input_tokens, 128);
  EXPECT_EQ(w->shape.mean_output_tokens, 128);
  EXPECT_EQ(w->spec.input.mean(), 128);
  EXPECT_FALSE(w->spec.samples);
}

TEST_F(WorkloadChoiceTest, UseCaseByIdOrGiqNameIgnoringCase) {
  for (const char* name : {"text-generation", "Text Generation", "TEXT GENERATION"}) {
    WorkloadChoice c;
    c.use_case = name;
    c.seed = 9;
    auto w = resolve_workload(c);
    ASSERT_TRUE(w) << name << ": " << w.error().message;
    EXPECT_EQ(w->shape.name, "text-generation");
    EXPECT_EQ(w->shape.mean_input_tokens, 512);
    EXPECT_EQ(w->shape.mean_output_tokens, 2048);
    EXPECT_EQ(w->shape.max_output_tokens, 2048);
    EXPECT_EQ(w->spec.output.upper_bound(), 2048);
    EXPECT_EQ(w->spec.seed, 9u);
  }
  WorkloadChoice typo;
  typo.use_case = "chatbott";
  auto w = resolve_workload(typo);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("chatbot"), std::string::npos) << w.error().message;
}

TEST_F(WorkloadChoiceTest, LengthsAsNumbersOrDistributions) {
  WorkloadChoice c;
  c.input_length = "normal:500,100";
  c.output_length = "64";
  auto w = resolve_workload(c);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->shape.name, "lengths");
  EXPECT_EQ(w->shape.input_length, "normal:500,100");
  EXPECT_EQ(w->shape.output_length, "64");
  EXPECT_NEAR(w->shape.mean_input_tokens, 500, 5);
  EXPECT_EQ(w->shape.mean_output_tokens, 64);
  EXPECT_GE(w->shape.max_input_tokens, 500);
  EXPECT_EQ(w->shape.max_output_tokens, 64);

  c.input_length = "normal:500";
  auto bad = resolve_workload(c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("input length"), std::string::npos) << bad.error().message;
  c.input_length = "100";
  c.output_length = "many";
  bad = resolve_workload(c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("output length"), std::string::npos) << bad.error().message;
}

TEST_F(WorkloadChoiceTest, OneSourceOnlyAndBothLengths) {
  WorkloadChoice both;
  both.use_case = "chatbot";
  both.input_length = "100";
  both.output_length = "100";
  auto w = resolve_workload(both);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("give one of"), std::string::npos) << w.error().message;

  WorkloadChoice dataset_and_case;
  dataset_and_case.use_case = "chatbot";
  dataset_and_case.dataset = "x.json";
  EXPECT_FALSE(resolve_workload(dataset_and_case));

  for (bool input_only : {true, false}) {
    WorkloadChoice one;
    (input_only ? one.input_length : one.output_length) = "100";
    w = resolve_workload(one);
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("--input-len and --output-len go together"), std::string::npos)
        << w.error().message;
  }
}

TEST_F(WorkloadChoiceTest, DatasetKeepsEachPromptWithItsAnswer) {
  // Two kinds of conversations: 400-byte prompts with 40-byte answers (100 and 10 tokens at 4
  // bytes a token) and 4,000-byte prompts with 2,000-byte answers (1,000 and 500 tokens). A
  // system turn and an entry without an answer are left out.
  std::string json = "[";
  for (int i = 0; i < 30; ++i) {
    const bool big = i % 3 == 0;
    if (i) json += ",";
    json += R"({"id": ")" + std::to_string(i) + R"(", "conversations": [)";
    json += R"({"from": "system", "value": "be nice"},)";
    json += R"({"from": "human", "value": ")" + std::string(big ? 4000 : 400, 'q') + R"("},)";
    json += R"({"from": "gpt", "value": ")" + std::string(big ? 2000 : 40, 'a') + R"("}]})";
  }
  json += R"(, {"conversations": [{"from": "human", "value": "no answer"}]}])";
  WorkloadChoice c;
  c.dataset = write("sharegpt.json", json);
  c.seed = 4;
  auto w = resolve_workload(c);
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->spec.samples);
  ASSERT_EQ(w->spec.samples->size(), 30u);
  std::map<std::pair<int, int>, int> pairs;
  for (const auto& s : *w->spec.samples) ++pairs[{s.input_tokens, s.output_tokens}];
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ((pairs[{1000, 500}]), 10);
  EXPECT_EQ((pairs[{100, 10}]), 20);
  EXPECT_NEAR(w->shape.mean_input_tokens, (10 * 1000 + 20 * 100) / 30.0, 1e-9);
  EXPECT_NEAR(w->shape.mean_output_tokens, (10 * 500 + 20 * 10) / 30.0, 1e-9);
  EXPECT_EQ(w->shape.max_input_tokens, 1000);
  EXPECT_EQ(w->shape.max_output_tokens, 500);
  EXPECT_EQ(w->shape.name, c.dataset);
  EXPECT_NE(w->shape.input_length.find("30 conversations"), std::string::npos);
  EXPECT_EQ(w->spec.seed, 4u);
}

TEST_F(WorkloadChoiceTest, EmptyOrMalformedDatasetsAreClearErrors) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c :
       {Case{"[]", "no usable conversation"},
        Case{R"([{"conversations": [{"from": "gpt", "value": "answer first"}]}])",
             "no usable conversation"},
        Case{"{\"conversations\": []}", "expected a list of conversations"},
        Case{"[{\"conversations\": [", ""}, Case{R"([{"turns": []}])", "no \"conversations\" key"},
        Case{R"([{"conversations": [{"from": "human", "value": 5}]}])", "expected a string"}}) {
    SCOPED_TRACE(c.text);
    WorkloadChoice choice;
    choice.dataset = write("bad.json", c.text);
    auto w = resolve_workload(choice);
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find(choice.dataset), std::string::npos) << w.error().message;
    EXPECT_NE(w.error().message.find(c.says), std::string::npos) << w.error().message;
  }
  WorkloadChoice missing;
  missing.dataset = (dir_ / "no-such.json").string();
  auto w = resolve_workload(missing);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("no-such.json"), std::string::npos) << w.error().message;
}

}  // namespace
}  // namespace kgai::quickstart
