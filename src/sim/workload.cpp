#include "sim/workload.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "sim/tokenizer.h"

namespace kgai::sim {

namespace {

Result<double> parse_number(std::string_view text, std::string_view whole) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
    return fail("'{}': '{}' is not a number", whole, text);
  }
  return value;
}

}  // namespace

LengthDistribution LengthDistribution::fixed(int value) {
  LengthDistribution d;
  d.a_ = value;
  d.text_ = std::to_string(value);
  return d;
}

Result<LengthDistribution> LengthDistribution::parse(std::string_view text) {
  LengthDistribution d;
  d.text_ = std::string(text);
  auto colon = text.find(':');
  std::string_view kind = colon == std::string_view::npos ? "" : text.substr(0, colon);
  std::string_view args = colon == std::string_view::npos ? text : text.substr(colon + 1);
  std::vector<double> values;
  while (!args.empty()) {
    auto comma = args.find(',');
    auto number = parse_number(args.substr(0, comma), text);
    if (!number) return fail(number.error());
    values.push_back(*number);
    if (comma == std::string_view::npos) break;
    args.remove_prefix(comma + 1);
  }
  auto expect = [&](size_t n) -> Result<void> {
    if (values.size() != n) {
      return fail("'{}': {} takes {} number{}", text, kind.empty() ? "a fixed length" : kind, n,
                  n == 1 ? "" : "s");
    }
    return {};
  };
  if (kind.empty() || kind == "fixed") {
    if (auto r = expect(1); !r) return fail(r.error());
    d.kind_ = Kind::kFixed;
  } else if (kind == "normal") {
    if (auto r = expect(2); !r) return fail(r.error());
    d.kind_ = Kind::kNormal;
  } else if (kind == "uniform") {
    if (auto r = expect(2); !r) return fail(r.error());
    if (values[1] < values[0]) return fail("'{}': uniform needs min <= max", text);
    d.kind_ = Kind::kUniform;
  } else if (kind == "exponential") {
    if (auto r = expect(1); !r) return fail(r.error());
    d.kind_ = Kind::kExponential;
  } else if (kind == "lognormal") {
    if (auto r = expect(2); !r) return fail(r.error());
    d.kind_ = Kind::kLognormal;
  } else {
    return fail("'{}': unknown distribution '{}' (fixed, normal, uniform, exponential, lognormal)",
                text, kind);
  }
  d.a_ = values[0];
  d.b_ = values.size() > 1 ? values[1] : 0;
  if (d.a_ < 1) return fail("'{}': the mean or minimum must be at least 1 token", text);
  if (d.b_ < 0) return fail("'{}': the spread must not be negative", text);
  if (d.a_ > 1e7 || d.b_ > 1e7) return fail("'{}': lengths over 10 million tokens", text);
  return d;
}

int LengthDistribution::sample(std::mt19937_64& rng) const {
  double x = a_;
  switch (kind_) {
    case Kind::kFixed:
      break;
    case Kind::kNormal:
      x = std::normal_distribution<double>(a_, b_)(rng);
      break;
    case Kind::kUniform:
      x = std::uniform_real_distribution<double>(a_, b_ + 1.0)(rng);
      x = std::floor(x);
      break;
    case Kind::kExponential:
      x = std::exponential_distribution<double>(1.0 / a_)(rng);
      break;
    case Kind::kLognormal: {
      // Choose mu so that the mean of the log-normal is a_.
      double mu = std::log(a_) - b_ * b_ / 2.0;
      x = std::lognormal_distribution<double>(mu, b_)(rng);
      break;
    }
  }
  auto n = static_cast<int64_t>(std::llround(x));
  return static_cast<int>(std::clamp<int64_t>(n, 1, max_));
}

int LengthDistribution::upper_bound() const {
  const auto capped = [this](double v) {
    return static_cast<int>(std::clamp<int64_t>(std::llround(v), 1, max_));
  };
  switch (kind_) {
    case Kind::kFixed:
      return capped(a_);
    case Kind::kUniform:
      return capped(b_);
    default:
      return max_;
  }
}

double LengthDistribution::mean() const {
  switch (kind_) {
    case Kind::kUniform:
      return (a_ + b_) / 2.0;
    default:
      return a_;
  }
}

int WorkloadSpec::input_upper_bound() const {
  if (!samples || samples->empty()) return input.upper_bound();
  int most = 1;
  for (const LengthSample& s : *samples) most = std::max(most, s.input_tokens);
  return std::min(most, input.max_value());
}

int WorkloadSpec::output_upper_bound() const {
  if (!samples || samples->empty()) return output.upper_bound();
  int most = 1;
  for (const LengthSample& s : *samples) most = std::max(most, s.output_tokens);
  return std::min(most, output.max_value());
}

Result<void> WorkloadSpec::validate() const {
  if (turns < 1) {
    return fail("--multi-turn must be at least 1 (turns per conversation), got {}", turns);
  }
  if (!std::isfinite(think_time) || think_time < 0) {
    return fail("--think-time must be a number of seconds >= 0, got {}", think_time);
  }
  return {};
}

WorkloadGenerator::WorkloadGenerator(const WorkloadSpec& spec, int block_size, bool hash_blocks)
    : spec_(spec),
      block_size_(block_size),
      hash_blocks_(hash_blocks),
      rng_(spec.seed),
      gaps_(spec.rate > 0 ? spec.rate : 1.0),
      think_(spec.think_time > 0 ? 1.0 / spec.think_time : 1.0) {}

double WorkloadGenerator::next_gap() { return gaps_(rng_); }

double WorkloadGenerator::next_think_time() { return spec_.think_time > 0 ? think_(rng_) : 0.0; }

void WorkloadGenerator::draw_lengths(int& input, int& output) {
  if (spec_.samples && !spec_.samples->empty()) {
    const auto& samples = *spec_.samples;
    const LengthSample& s =
        samples[std::uniform_int_distribution<size_t>(0, samples.size() - 1)(rng_)];
    input = std::clamp(s.input_tokens, 1, spec_.input.max_value());
    output = std::clamp(s.output_tokens, 1, spec_.output.max_value());
  } else {
    input = spec_.input.sample(rng_);
    output = spec_.output.sample(rng_);
  }
}

void WorkloadGenerator::next(GeneratedRequest& out) {
  const uint64_t index = counter_++;
  const int prefix = spec_.shared_prefix_groups > 0 ? spec_.shared_prefix_len : 0;
  int input = 1;
  draw_lengths(input, out.output_tokens);
  out.prompt_tokens = prefix + input;
  out.conversation = index;
  out.turn = 0;
  out.block_hashes.clear();
  if (hash_blocks_) hash_blocks(index, out.prompt_tokens, out.block_hashes);
}

bool WorkloadGenerator::follow_up(const GeneratedRequest& previous, int answer_tokens,
                                  int max_model_len, GeneratedRequest& out) {
  if (previous.turn + 1 >= spec_.turns) return false;
  int input = 1;
  int output = 1;
  draw_lengths(input, output);
  const int64_t prompt = int64_t{previous.prompt_tokens} + answer_tokens + input;
  if (prompt + output > max_model_len) return false;
  if (&out != &previous) out.block_hashes = previous.block_hashes;
  out.prompt_tokens = static_cast<int>(prompt);
  out.output_tokens = output;
  out.conversation = previous.conversation;
  out.turn = previous.turn + 1;
  if (hash_blocks_) hash_blocks(out.conversation, out.prompt_tokens, out.block_hashes);
  return true;
}

void WorkloadGenerator::hash_blocks(uint64_t conversation, int tokens,
                                    std::vector<uint64_t>& hashes) const {
  const int prefix = spec_.shared_prefix_groups > 0 ? spec_.shared_prefix_len : 0;
  const uint64_t group =
      prefix ? conversation % static_cast<uint64_t>(spec_.shared_prefix_groups) : 0;
  const int full_blocks = tokens / block_size_;
  uint64_t parent = hashes.empty() ? 0 : hashes.back();
  for (int i = static_cast<int>(hashes.size()); i < full_blocks; ++i) {
    // Blocks wholly inside the shared prefix have the group's content; the rest are unique
    // to this conversation.
    const bool shared = (i + 1) * block_size_ <= prefix;
    const uint64_t content =
        shared ? (group << 32) | static_cast<uint64_t>(i)
               : ((conversation + 1) << 20) ^ (0x5bd1e995ULL * (i + 1)) ^ (1ULL << 63);
    parent = chain_block_hash(parent, content);
    hashes.push_back(parent);
  }
}

}  // namespace kgai::sim
