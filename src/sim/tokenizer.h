// The simulator's tokenizer: a deterministic stand-in for a real BPE tokenizer. One token
// is 4 bytes of text (the usual "about 4 characters a token" of English under Llama's
// tokenizer), so equal text prefixes give equal tokens, and therefore equal KV blocks:
// prefix caching and prefix-aware routing behave on real prompts as they would on vLLM.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace kgai::sim {

inline constexpr int kBytesPerToken = 4;

// Number of tokens `text` counts as (at least 1: vLLM rejects empty prompts, and a
// chat template always adds tokens).
int count_tokens(std::string_view text);

struct TokenizedPrompt {
  int num_tokens = 0;
  // Chained hashes of the full blocks: hash[i] covers tokens [0, (i+1) * block_size).
  std::vector<uint64_t> block_hashes;
};

// Tokenizes `text` and hashes its full blocks of `block_size` tokens. `salt` separates
// caches that must not share blocks (vLLM's "extra keys": a LoRA adapter's blocks differ
// from the base model's for the same text).
TokenizedPrompt tokenize(std::string_view text, int block_size, uint64_t salt = 0);

// The hash of one block given its parent's hash: used by workload generators that build
// prompts as blocks without text.
uint64_t chain_block_hash(uint64_t parent, uint64_t block_content);

}  // namespace kgai::sim
