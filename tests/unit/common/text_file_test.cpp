#include "common/text_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace kgai {
namespace {

TEST(TextFileTest, WritesAndTruncates) {
  const auto path =
      std::filesystem::temp_directory_path() / ("kgai-text-file-" + std::to_string(::getpid()));
  ASSERT_TRUE(write_text_file(path.string(), "a long first version\n"));
  ASSERT_TRUE(write_text_file(path.string(), std::string_view("short\0bin", 9)));
  std::ifstream in(path, std::ios::binary);
  std::stringstream all;
  all << in.rdbuf();
  EXPECT_EQ(all.str(), std::string("short\0bin", 9));
  std::filesystem::remove(path);
}

TEST(TextFileTest, ErrorsNameThePathAndTheReason) {
  auto missing_dir = write_text_file("/nonexistent-kgai-dir/x.txt", "x");
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error().message,
            "cannot write /nonexistent-kgai-dir/x.txt: No such file or directory");
  auto a_directory = write_text_file(std::filesystem::temp_directory_path().string(), "x");
  ASSERT_FALSE(a_directory);
  EXPECT_NE(a_directory.error().message.find("Is a directory"), std::string::npos)
      << a_directory.error().message;
}

}  // namespace
}  // namespace kgai
