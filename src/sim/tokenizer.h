// The simulator's tokenizer: a deterministic stand-in for a real BPE tokenizer. One token
// is 4 bytes of text (the usual "about 4 characters a token" of English under Llama's
// tokenizer), so equal text prefixes give equal tokens, and therefore equal KV blocks:
// prefix caching and prefix-aware routing behave on real prompts as they would on vLLM.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kgai::sim {

inline constexpr int kBytesPerToken = 4;

// Number of tokens `bytes` bytes of text count as (at least 1: vLLM rejects empty prompts,
// and a chat template always adds tokens).
int64_t tokens_for_bytes(uint64_t bytes);
inline int count_tokens(std::string_view text) {
  return static_cast<int>(tokens_for_bytes(text.size()));
}

// A prompt as the tokenizer reads it: text, with runs of placeholder bytes standing for
// images and audio. A placeholder counts and hashes exactly as that many `kPlaceholderByte`s
// of text would, but is never stored: a body of many tiny image parts costs the server the
// memory it sent, not the hundreds of megabytes its placeholders stand for.
class PromptText {
 public:
  static constexpr char kPlaceholderByte = '#';

  PromptText() = default;
  explicit PromptText(std::string_view text) { append(text); }

  void append(std::string_view text) { text_ += text; }
  void append_placeholder(size_t bytes);
  void clear();

  // In bytes, placeholders included.
  size_t size() const { return text_.size() + placeholder_bytes_; }
  bool empty() const { return size() == 0; }
  // The stored text, placeholders left out.
  const std::string& stored_text() const { return text_; }
  // The full byte sequence, placeholders written out (tests and small prompts only).
  std::string materialize() const;

  // Calls `piece(std::string_view)` for consecutive pieces of the full byte sequence.
  template <typename Piece>
  void for_each_piece(Piece&& piece) const;

 private:
  struct Run {
    size_t at;     // offset in text_ where the run goes
    size_t bytes;  // its length
  };
  static std::string_view placeholder_chunk();

  std::string text_;
  std::vector<Run> runs_;
  size_t placeholder_bytes_ = 0;
};

struct TokenizedPrompt {
  int num_tokens = 0;
  // Chained hashes of the full blocks: hash[i] covers tokens [0, (i+1) * block_size).
  std::vector<uint64_t> block_hashes;
};

// Tokenizes `text` and hashes its full blocks of `block_size` tokens. `salt` separates
// caches that must not share blocks (vLLM's "extra keys": a LoRA adapter's blocks differ
// from the base model's for the same text). Work and memory grow with the prompt's length,
// so callers bound it first (the request reader refuses prompts over max_model_len).
TokenizedPrompt tokenize(std::string_view text, int block_size, uint64_t salt = 0);
TokenizedPrompt tokenize(const PromptText& prompt, int block_size, uint64_t salt = 0);

// The hash of one block given its parent's hash: used by workload generators that build
// prompts as blocks without text.
uint64_t chain_block_hash(uint64_t parent, uint64_t block_content);

// The hash tokenize() gives a full block whose text is `block_text` (block_size * 4 bytes)
// after a block hashed `parent` (the salt for the first block): for hashing text that is not
// one prompt, such as a prompt's tail followed by the answer generated after it.
uint64_t hash_block_text(std::string_view block_text, uint64_t parent);

template <typename Piece>
void PromptText::for_each_piece(Piece&& piece) const {
  size_t done = 0;  // offset in text_
  for (const Run& run : runs_) {
    if (run.at > done) piece(std::string_view(text_).substr(done, run.at - done));
    done = run.at;
    const std::string_view chunk = placeholder_chunk();
    for (size_t left = run.bytes; left > 0;) {
      const size_t n = std::min(left, chunk.size());
      piece(chunk.substr(0, n));
      left -= n;
    }
  }
  if (text_.size() > done) piece(std::string_view(text_).substr(done));
}

}  // namespace kgai::sim
