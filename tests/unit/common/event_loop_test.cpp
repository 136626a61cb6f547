#include "common/event_loop.h"

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "unit/common/http_test_util.h"

namespace kgai {
namespace {

using namespace std::chrono_literals;
using testing::LoopThread;
using testing::on_loop;

TEST(EventLoopTest, PostRunsOnTheLoopThread) {
  EventLoop loop;
  std::promise<std::thread::id> ran_on;
  std::thread thread([&] { loop.run(); });
  loop.post([&] { ran_on.set_value(std::this_thread::get_id()); });
  EXPECT_EQ(ran_on.get_future().get(), thread.get_id());
  loop.stop();
  thread.join();
}

TEST(EventLoopTest, RunKeepsGoingWhenIdleUntilStopped) {
  EventLoop loop;
  std::atomic<bool> returned = false;
  std::thread thread([&] {
    loop.run();
    returned = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned);
  loop.stop();
  thread.join();
  EXPECT_TRUE(returned);
}

TEST(EventLoopTest, StopBeforeRunStillStops) {
  EventLoop loop;
  loop.stop();
  loop.run();  // returns at once instead of hanging
  // And the loop can run again afterwards.
  std::atomic<int> count = 0;
  LoopThread runner(loop);
  on_loop(loop, [&] { ++count; });
  EXPECT_EQ(count, 1);
}

TEST(EventLoopTest, PostFromManyThreads) {
  EventLoop loop;
  int count = 0;  // only touched on the loop thread
  {
    LoopThread runner(loop);
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) loop.post([&] { ++count; });
      });
    }
    for (auto& poster : posters) poster.join();
    on_loop(loop, [] {});  // everything posted before this has run
  }
  EXPECT_EQ(count, 4000);
}

TEST(TimerTest, FiresOnce) {
  EventLoop loop;
  LoopThread runner(loop);
  std::promise<void> fired;
  std::atomic<int> calls = 0;
  auto timer = on_loop(loop, [&] {
    auto t = std::make_unique<Timer>(loop);
    t->arm(std::chrono::steady_clock::now() + 10ms, [&] {
      ++calls;
      fired.set_value();
    });
    EXPECT_TRUE(t->armed());
    return t;
  });
  EXPECT_EQ(fired.get_future().wait_for(5s), std::future_status::ready);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls, 1);
  on_loop(loop, [&] {
    EXPECT_FALSE(timer->armed());
    timer.reset();
  });
}

TEST(TimerTest, ArmReplacesThePendingCallback) {
  EventLoop loop;
  LoopThread runner(loop);
  std::atomic<int> first = 0;
  std::promise<void> second_fired;
  auto timer = on_loop(loop, [&] {
    auto t = std::make_unique<Timer>(loop);
    const auto now = std::chrono::steady_clock::now();
    t->arm(now + 30ms, [&] { ++first; });
    t->arm(now + 10ms, [&] { second_fired.set_value(); });
    return t;
  });
  EXPECT_EQ(second_fired.get_future().wait_for(5s), std::future_status::ready);
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(first, 0);
  on_loop(loop, [&] { timer.reset(); });
}

TEST(TimerTest, CancelPreventsTheCallback) {
  EventLoop loop;
  LoopThread runner(loop);
  std::atomic<int> calls = 0;
  auto timer = on_loop(loop, [&] {
    auto t = std::make_unique<Timer>(loop);
    t->arm(std::chrono::steady_clock::now() + 20ms, [&] { ++calls; });
    t->cancel();
    EXPECT_FALSE(t->armed());
    return t;
  });
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(calls, 0);
  on_loop(loop, [&] { timer.reset(); });
}

TEST(TimerTest, CancelAfterExpiryBeforeTheCallbackRan) {
  EventLoop loop;
  LoopThread runner(loop);
  std::atomic<int> calls = 0;
  auto timer = on_loop(loop, [&] {
    auto t = std::make_unique<Timer>(loop);
    // Already due: its completion may be queued by the time cancel() runs.
    t->arm(std::chrono::steady_clock::now() - 1ms, [&] { ++calls; });
    std::this_thread::sleep_for(5ms);
    t->cancel();
    return t;
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls, 0);
  on_loop(loop, [&] { timer.reset(); });
}

TEST(TimerTest, DestroyingPreventsTheCallback) {
  EventLoop loop;
  LoopThread runner(loop);
  std::atomic<int> calls = 0;
  on_loop(loop, [&] {
    Timer timer(loop);
    timer.arm(std::chrono::steady_clock::now(), [&] { ++calls; });
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls, 0);
}

TEST(TimerTest, CallbackMayRearmItsTimer) {
  EventLoop loop;
  LoopThread runner(loop);
  std::promise<void> done;
  int ticks = 0;  // loop thread only
  auto timer = on_loop(loop, [&] { return std::make_unique<Timer>(loop); });
  std::function<void()> tick = [&] {
    if (++ticks == 5) {
      done.set_value();
      return;
    }
    timer->arm(std::chrono::steady_clock::now() + 1ms, tick);
  };
  on_loop(loop, [&] { timer->arm(std::chrono::steady_clock::now(), tick); });
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  on_loop(loop, [&] {
    EXPECT_EQ(ticks, 5);
    EXPECT_FALSE(timer->armed());
    timer.reset();
  });
}

TEST(TimerTest, CallbackMayDestroyItsTimer) {
  EventLoop loop;
  LoopThread runner(loop);
  std::promise<void> done;
  auto timer = on_loop(loop, [&] { return std::make_unique<Timer>(loop); });
  on_loop(loop, [&] {
    timer->arm(std::chrono::steady_clock::now(), [&] {
      timer.reset();
      done.set_value();
    });
  });
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
}

}  // namespace
}  // namespace kgai
