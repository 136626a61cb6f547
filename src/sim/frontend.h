// The API server in front of the engine, as vLLM runs it: one process (one asyncio loop) that
// takes each request in (HTTP, validation, chat template, tokenization, hand-off to the engine
// core) and turns every step's output into SSE chunks (detokenization, one chunk per token).
// Its CPU is a single server working in arrival order, so a burst of requests reaches the
// engine one at a time, and the tokens of a step wait behind the intake queued before them.
//
// Pure virtual-time arithmetic, used by both clocks (DESIGN.md, "one engine, two clocks"): the
// offline runner and the HTTP replica ask it when a request reaches the engine and when a
// step's tokens reach the clients, and schedule those moments on their own clocks. The costs
// come from the catalog (the accelerator's `efficiency.frontend_*`, docs/latency-model.md).
#pragma once

#include "catalog/catalog.h"

namespace kgai::sim {

struct FrontendCosts {
  // Paid once by every request on its way in, without occupying the server: the network, the
  // ZMQ hops to the engine core and back, event-loop wake-ups.
  double latency_s = 0;
  // Serial CPU: per request taken in, per prompt token (tokenizer), per output token streamed.
  double request_s = 0;
  double per_prompt_token_s = 0;
  double per_output_token_s = 0;

  static FrontendCosts from(const catalog::Efficiency& efficiency);
};

class Frontend {
 public:
  explicit Frontend(FrontendCosts costs) : costs_(costs) {}

  // A request of `prompt_tokens` reaches the server at `arrival`: returns when the engine gets
  // it (the server takes it in after the work queued before it, then the fixed latency).
  double admit(double arrival, int prompt_tokens);

  // A step that ended at `at` produced `tokens` output tokens: returns when they leave for
  // the clients (after the work queued before them). Zero tokens cost nothing.
  double deliver(double at, int tokens);

  // When the server has done all the work given so far.
  double free_at() const { return free_at_; }
  // Total CPU seconds of work given so far.
  double busy_seconds() const { return busy_; }
  const FrontendCosts& costs() const { return costs_; }

 private:
  double serve(double at, double cost);

  FrontendCosts costs_;
  double free_at_ = 0;
  double busy_ = 0;
};

}  // namespace kgai::sim
