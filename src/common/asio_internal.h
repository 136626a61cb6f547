// Private to src/common: the asio types behind EventLoop. Only src/common .cpp files include
// this, so Boost stays out of every public header.
#pragma once

// g++ 12 needs <utility> ahead of the asio headers (std::exchange in its coroutine support).
#include <utility>

#include <cctype>
#include <string>

#include <string_view>
#include "common/ascii.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include "common/event_loop.h"

namespace kgai {

struct EventLoop::Impl {
  // The hint tells asio that one thread runs the context, which lets it skip some locking.
  boost::asio::io_context io{1};
  // Keeps run() from returning while nothing is pending (a server between connections).
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
};

// The io_context of `loop`, for servers and timers built on it.
inline boost::asio::io_context& io_context_of(EventLoop& loop) { return loop.impl().io; }

// The system's message for `ec` starting lower case, to read well after a colon:
// "connect 127.0.0.1:9: connection refused".
inline std::string error_text(const boost::system::error_code& ec) {
  std::string text = ec.message();
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

}  // namespace kgai
