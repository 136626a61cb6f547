#include "demo/child_process.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace kgai::demo {
namespace {

using namespace std::chrono_literals;

class ChildProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgai-child-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string log(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST_F(ChildProcessTest, WaitsForItsOutputLines) {
  auto child = ChildProcess::start(
      {"sh", "-c",
       "echo 'serving on http://127.0.0.1:1'; sleep 0.1; echo 'serving on x'; sleep 30"},
      log("a.log"));
  ASSERT_TRUE(child) << child.error().message;
  EXPECT_EQ(child->name(), "sh");
  auto lines = child->wait_for_lines("serving on", 2, 10s);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0], "serving on http://127.0.0.1:1");
  EXPECT_TRUE(child->running());
  child->stop();
  EXPECT_FALSE(child->running());
}

TEST_F(ChildProcessTest, ReportsAnEarlyExitWithTheLogsTail) {
  auto child = ChildProcess::start({"sh", "-c", "echo 'bad flag --x' >&2; exit 3"}, log("b.log"));
  ASSERT_TRUE(child) << child.error().message;
  auto lines = child->wait_for_lines("serving on", 1, 10s);
  ASSERT_FALSE(lines);
  EXPECT_NE(lines.error().message.find("exited (status 3)"), std::string::npos)
      << lines.error().message;
  EXPECT_NE(lines.error().message.find("bad flag --x"), std::string::npos);
}

TEST_F(ChildProcessTest, TimesOutWaitingForALine) {
  auto child = ChildProcess::start({"sleep", "30"}, log("c.log"));
  ASSERT_TRUE(child) << child.error().message;
  auto lines = child->wait_for_lines("never", 1, 100ms);
  ASSERT_FALSE(lines);
  EXPECT_NE(lines.error().message.find("did not print 'never'"), std::string::npos);
  auto status = child->wait(50ms);
  EXPECT_FALSE(status);  // still running
}

TEST_F(ChildProcessTest, ExitStatusAndSignals) {
  auto ok = ChildProcess::start({"true"}, log("d.log"));
  ASSERT_TRUE(ok);
  auto status = ok->wait(10s);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, 0);

  auto stubborn = ChildProcess::start({"sh", "-c", "trap '' TERM; sleep 30"}, log("e.log"));
  ASSERT_TRUE(stubborn);
  std::this_thread::sleep_for(100ms);  // let it install the trap
  const auto start = std::chrono::steady_clock::now();
  stubborn->stop(200ms);  // ignores SIGTERM: killed after the grace period
  EXPECT_FALSE(stubborn->running());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(ChildProcessTest, UnknownProgramIsAClearError) {
  auto child = ChildProcess::start({"/nonexistent/kgai-nothing"}, log("f.log"));
  ASSERT_FALSE(child);
  EXPECT_NE(child.error().message.find("cannot run /nonexistent/kgai-nothing"), std::string::npos)
      << child.error().message;
  auto unwritable = ChildProcess::start({"true"}, (dir_ / "no" / "such" / "dir.log").string());
  ASSERT_FALSE(unwritable);
  EXPECT_NE(unwritable.error().message.find("cannot write"), std::string::npos);
}

TEST_F(ChildProcessTest, DestructorStopsTheChild) {
  pid_t pid = -1;
  {
    auto child = ChildProcess::start({"sleep", "30"}, log("g.log"));
    ASSERT_TRUE(child);
    pid = child->pid();
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_NE(::kill(pid, 0), 0);  // gone and reaped
}

}  // namespace
}  // namespace kgai::demo
