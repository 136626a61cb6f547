// What requests say: prompts and output lengths from a dataset.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "perf/config.h"

namespace kgai::perf {

struct ChatMessage {
  std::string role;
  std::string content;
};

struct Prompt {
  std::string text;                   // completion API
  std::vector<ChatMessage> messages;  // chat API (system + user)
  int input_tokens = 0;               // under the simulator's tokenizer (4 bytes a token)
  int output_tokens = 0;              // max_tokens to ask for
  int group = -1;                     // shared_prefix group, -1 otherwise
};

// Text of exactly `tokens` tokens under kgai sim's tokenizer (4 bytes each): words of ordinary
// English, varied by `seed`, so that prompts look like text yet count exactly.
std::string make_text(int tokens, uint64_t seed);

class Dataset {
 public:
  virtual ~Dataset() = default;
  // The next prompt. `chat` fills messages instead of text. Deterministic given the rng.
  virtual Prompt next(std::mt19937_64& rng, bool chat) = 0;
  // Number of distinct entries for file datasets (0 for generated ones).
  virtual size_t size() const { return 0; }
  // Entries of a file dataset left out because they lack a prompt or an answer (a ShareGPT
  // conversation without a human turn followed by a gpt turn), so the CLI can say so.
  virtual size_t skipped() const { return 0; }
};

// Builds the dataset of `config.data`: mock (a fixed short prompt), synthetic / random (lengths
// from input/output distributions: synthetic uses mean and std_dev (normal), random draws
// uniformly in [min, max]), shared_prefix (groups sharing a system prompt), shareGPT (a JSON file
// in the common ShareGPT shape: first human turn is the prompt, first gpt turn's token count the
// output length; malformed files are errors naming the entry).
Result<std::unique_ptr<Dataset>> make_dataset(const DataConfig& config);

}  // namespace kgai::perf
