// SIGINT/SIGTERM handling for the serving subcommands (sim, gateway): the main thread blocks
// them before starting any thread (threads inherit the mask), then waits for one with
// sigwait, so no handler runs inside an event loop.
#pragma once

#include <csignal>

namespace kgai::cli {

// Blocks SIGINT and SIGTERM in the calling thread and ignores SIGPIPE (a peer that went away
// is an error on the write, not a reason to die). Call before starting threads.
sigset_t block_stop_signals();

// Waits for SIGINT or SIGTERM and returns its number.
int wait_for_stop_signal(const sigset_t& signals);

}  // namespace kgai::cli
