// Servers and load generators hold one descriptor per connection: thousands of them. The
// soft limit is often 1024 while the hard limit allows far more, so raise it at startup.
#pragma once

#include <cstdint>

namespace kgai {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the resulting soft limit.
uint64_t raise_open_file_limit();

}  // namespace kgai
