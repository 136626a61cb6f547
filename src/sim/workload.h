// Generated workloads for virtual-time runs: when requests arrive and how long they are.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kgai::sim {

// A token-length distribution, written on the command line as:
//   "200"                  always 200
//   "normal:200,50"        mean 200, standard deviation 50
//   "uniform:100,300"      inclusive range
//   "exponential:200"      mean 200
//   "lognormal:200,0.5"    mean 200, sigma 0.5 of the underlying normal
// Draws are rounded and clamped to [1, max_value].
class LengthDistribution {
 public:
  static Result<LengthDistribution> parse(std::string_view text);
  static LengthDistribution fixed(int value);

  int sample(std::mt19937_64& rng) const;
  double mean() const;
  int max_value() const { return max_; }
  // The largest value sample() can return: the value of a fixed length, the top of a uniform
  // range, max_value() for unbounded shapes.
  int upper_bound() const;
  void set_max(int max) { max_ = max; }
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kFixed, kNormal, kUniform, kExponential, kLognormal };
  Kind kind_ = Kind::kFixed;
  double a_ = 1;
  double b_ = 0;
  int max_ = 1 << 30;
  std::string text_;
};

// One request's lengths as a dataset has them (prompt and answer tokens together, since they
// are correlated).
struct LengthSample {
  int input_tokens = 1;
  int output_tokens = 1;
};

struct WorkloadSpec {
  // Exactly one of rate (Poisson arrivals, requests/s) or concurrency (closed loop) is set.
  double rate = 0;
  int concurrency = 0;
  // Closed loop: the clients start one by one over this many seconds instead of all at once
  // (a synchronized start keeps equal-length requests in lockstep for the whole run).
  double ramp_up = 0;
  // Stop generating after this many simulated seconds or requests (whichever is set first).
  double duration = 0;
  int64_t num_requests = 0;
  LengthDistribution input = LengthDistribution::fixed(200);
  LengthDistribution output = LengthDistribution::fixed(60);
  // When set and not empty, each request draws its lengths from these (uniformly, with
  // replacement) instead of `input` and `output`, within their max_value() caps.
  std::shared_ptr<const std::vector<LengthSample>> samples;
  // Requests are spread round-robin over groups that share a system prompt of this length
  // (tokens, before the per-request input).
  int shared_prefix_groups = 0;
  int shared_prefix_len = 0;
  // Conversations of this many turns (1: independent requests). Turn k + 1's prompt is turn
  // k's prompt, then its answer, then a new user message (lengths drawn as for a first turn);
  // it is sent when the answer has arrived plus a think time (exponential with mean
  // `think_time` seconds; 0: at once). A conversation ends early when the next turn would not
  // fit in max_model_len.
  int turns = 1;
  double think_time = 0;
  uint64_t seed = 42;

  // Checks the multi-turn settings (turns >= 1, think_time finite and >= 0).
  Result<void> validate() const;

  // The longest prompt (without the shared prefix) and output a request can have.
  int input_upper_bound() const;
  int output_upper_bound() const;
};

// One generated request: its prompt as chained block hashes (no text is needed offline).
struct GeneratedRequest {
  int prompt_tokens = 0;
  int output_tokens = 0;
  std::vector<uint64_t> block_hashes;
  uint64_t conversation = 0;  // index of its conversation (of the request when turns = 1)
  int turn = 0;               // 0-based
};

class WorkloadGenerator {
 public:
  WorkloadGenerator(const WorkloadSpec& spec, int block_size, bool hash_blocks);

  // Draws the next request, the first turn of a new conversation (lengths and prompt blocks).
  void next(GeneratedRequest& out);
  // The next turn after `previous` got an answer of `answer_tokens`: false when its
  // conversation is over (all turns sent, or the next would not fit in `max_model_len`).
  bool follow_up(const GeneratedRequest& previous, int answer_tokens, int max_model_len,
                 GeneratedRequest& out);
  // Time until the next Poisson arrival.
  double next_gap();
  // Time between an answer and the next turn of its conversation.
  double next_think_time();

  // Appends to `hashes` the chained hashes of the full blocks of `conversation`'s token
  // sequence up to `tokens` tokens, from block hashes.size() on. A conversation's sequence
  // only grows (prompt, answer, next message, ...), so a block's content is its position in
  // it: a later turn's prompt gets the hashes its earlier turns' prompts and answers had.
  // Blocks wholly inside a shared prefix carry their group's content instead.
  void hash_blocks(uint64_t conversation, int tokens, std::vector<uint64_t>& hashes) const;

 private:
  void draw_lengths(int& input, int& output);

  const WorkloadSpec& spec_;
  int block_size_;
  bool hash_blocks_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> gaps_;
  std::exponential_distribution<double> think_;
  uint64_t counter_ = 0;
};

}  // namespace kgai::sim
