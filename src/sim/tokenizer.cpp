#include "sim/tokenizer.h"

#include <algorithm>

#include <xxhash.h>

namespace kgai::sim {

int count_tokens(std::string_view text) {
  return std::max<int>(1, static_cast<int>((text.size() + kBytesPerToken - 1) / kBytesPerToken));
}

TokenizedPrompt tokenize(std::string_view text, int block_size, uint64_t salt) {
  TokenizedPrompt out;
  out.num_tokens = count_tokens(text);
  const size_t block_bytes = static_cast<size_t>(block_size) * kBytesPerToken;
  const size_t full_blocks = block_bytes ? text.size() / block_bytes : 0;
  out.block_hashes.reserve(full_blocks);
  uint64_t parent = salt;
  for (size_t i = 0; i < full_blocks; ++i) {
    // Seeding each block's hash with its parent chains them, as vLLM's
    // hash(parent_hash, token_ids, extra_keys) does.
    parent = XXH3_64bits_withSeed(text.data() + i * block_bytes, block_bytes, parent);
    out.block_hashes.push_back(parent);
  }
  return out;
}

uint64_t chain_block_hash(uint64_t parent, uint64_t block_content) {
  return XXH3_64bits_withSeed(&block_content, sizeof(block_content), parent);
}

}  // namespace kgai::sim
