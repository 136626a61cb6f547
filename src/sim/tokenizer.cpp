#include "sim/tokenizer.h"

#include <algorithm>

#include <xxhash.h>

namespace kgai::sim {

int64_t tokens_for_bytes(uint64_t bytes) {
  return std::max<int64_t>(1, static_cast<int64_t>((bytes + kBytesPerToken - 1) / kBytesPerToken));
}

void PromptText::append_placeholder(size_t bytes) {
  if (bytes == 0) return;
  // Adjacent placeholders merge, so the list of runs never outgrows the parts that made it.
  if (!runs_.empty() && runs_.back().at == text_.size()) {
    runs_.back().bytes += bytes;
  } else {
    runs_.push_back({text_.size(), bytes});
  }
  placeholder_bytes_ += bytes;
}

void PromptText::clear() {
  text_.clear();
  runs_.clear();
  placeholder_bytes_ = 0;
}

std::string PromptText::materialize() const {
  std::string out;
  out.reserve(size());
  for_each_piece([&](std::string_view piece) { out += piece; });
  return out;
}

std::string_view PromptText::placeholder_chunk() {
  static const std::string chunk(4096, kPlaceholderByte);
  return chunk;
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

TokenizedPrompt tokenize(const PromptText& prompt, int block_size, uint64_t salt) {
  TokenizedPrompt out;
  out.num_tokens = static_cast<int>(tokens_for_bytes(prompt.size()));
  const size_t block_bytes = static_cast<size_t>(block_size) * kBytesPerToken;
  const size_t full_blocks = block_bytes ? prompt.size() / block_bytes : 0;
  out.block_hashes.reserve(full_blocks);
  uint64_t parent = salt;
  // A block that lies inside one piece is hashed in place; one that spans pieces (text and a
  // placeholder) is gathered here first, so the hashes equal those of the written-out text.
  std::string gathered;
  prompt.for_each_piece([&](std::string_view piece) {
    while (!piece.empty() && out.block_hashes.size() < full_blocks) {
      if (gathered.empty() && piece.size() >= block_bytes) {
        parent = XXH3_64bits_withSeed(piece.data(), block_bytes, parent);
        out.block_hashes.push_back(parent);
        piece.remove_prefix(block_bytes);
        continue;
      }
      const size_t take = std::min(block_bytes - gathered.size(), piece.size());
      gathered.append(piece.substr(0, take));
      piece.remove_prefix(take);
      if (gathered.size() == block_bytes) {
        parent = XXH3_64bits_withSeed(gathered.data(), block_bytes, parent);
        out.block_hashes.push_back(parent);
        gathered.clear();
      }
    }
  });
  return out;
}

uint64_t hash_block_text(std::string_view block_text, uint64_t parent) {
  return XXH3_64bits_withSeed(block_text.data(), block_text.size(), parent);
}

uint64_t chain_block_hash(uint64_t parent, uint64_t block_content) {
  return XXH3_64bits_withSeed(&block_content, sizeof(block_content), parent);
}

}  // namespace kgai::sim
