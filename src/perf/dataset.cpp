#include "perf/dataset.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "perf/random.h"

namespace kgai::perf {
namespace {

// kgai sim's tokenizer: 4 bytes a token, at least 1 (perf does not link the simulator).
constexpr int kBytesPerToken = 4;
// A prompt longer than this is a typo in a config (it would be 4 MB of text per request).
constexpr int kMaxTokens = 1'000'000;

int count_tokens(std::string_view text) {
  return std::max<int>(1, static_cast<int>((text.size() + kBytesPerToken - 1) / kBytesPerToken));
}

// Common English words of 2 to 8 letters: text that reads like text to a human skimming a
// request log, with no quotes or backslashes to escape in JSON bodies.
constexpr std::array<std::string_view, 128> kWords = {
    "the",      "of",    "and",   "to",     "in",    "is",    "you",   "that",    "it",    "he",
    "was",      "for",   "on",    "are",    "as",    "with",  "his",   "they",    "at",    "be",
    "this",     "have",  "from",  "or",     "one",   "had",   "by",    "word",    "but",   "not",
    "what",     "all",   "were",  "we",     "when",  "your",  "can",   "said",    "there", "use",
    "an",       "each",  "which", "she",    "do",    "how",   "their", "if",      "will",  "up",
    "other",    "about", "out",   "many",   "then",  "them",  "these", "so",      "some",  "her",
    "would",    "make",  "like",  "him",    "into",  "time",  "has",   "look",    "two",   "more",
    "write",    "go",    "see",   "number", "no",    "way",   "could", "people",  "my",    "than",
    "first",    "water", "been",  "call",   "who",   "oil",   "its",   "now",     "find",  "long",
    "down",     "day",   "did",   "get",    "come",  "made",  "may",   "part",    "over",  "new",
    "sound",    "take",  "only",  "little", "work",  "know",  "place", "year",    "live",  "me",
    "back",     "give",  "most",  "very",   "after", "thing", "our",   "just",    "name",  "good",
    "sentence", "man",   "think", "say",    "great", "where", "help",  "through",
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Prompt make_prompt(std::string text, int output_tokens, bool chat) {
  Prompt prompt;
  prompt.input_tokens = count_tokens(text);
  prompt.output_tokens = output_tokens;
  if (chat) {
    prompt.messages.push_back({"user", std::move(text)});
  } else {
    prompt.text = std::move(text);
  }
  return prompt;
}

// The same short prompt every time: a smoke test of the pipeline, not of the server.
class MockDataset final : public Dataset {
 public:
  Prompt next(std::mt19937_64&, bool chat) override { return make_prompt(text_, 16, chat); }

 private:
  std::string text_ = make_text(16, 0);
};

enum class LengthMode { kNormal, kUniform };

Result<Distribution> checked_distribution(const std::optional<Distribution>& given,
                                          std::string_view name, LengthMode mode) {
  const Distribution d = given.value_or(Distribution{});
  if (d.min < 1) return fail("data.{}.min: must be at least 1, got {}", name, d.min);
  if (d.max < d.min) {
    return fail("data.{}.max: must be at least min ({}), got {}", name, d.min, d.max);
  }
  if (d.max > kMaxTokens) {
    return fail("data.{}.max: at most {} tokens, got {}", name, kMaxTokens, d.max);
  }
  if (mode == LengthMode::kNormal) {
    if (!std::isfinite(d.mean)) return fail("data.{}.mean: must be a number", name);
    if (!std::isfinite(d.std_dev) || d.std_dev < 0) {
      return fail("data.{}.std_dev: must be a number >= 0, got {}", name, d.std_dev);
    }
  }
  return d;
}

// synthetic (normal lengths, clamped and rounded) and random (uniform lengths).
class LengthDataset final : public Dataset {
 public:
  LengthDataset(Distribution input, Distribution output, LengthMode mode)
      : input_(input), output_(output), mode_(mode) {}

  Prompt next(std::mt19937_64& rng, bool chat) override {
    const int in = draw(input_, rng);
    const int out = draw(output_, rng);
    return make_prompt(make_text(in, rng()), out, chat);
  }

 private:
  int draw(const Distribution& d, std::mt19937_64& rng) const {
    if (mode_ == LengthMode::kUniform) return static_cast<int>(rnd::uniform_int(rng, d.min, d.max));
    // Clamping before rounding keeps the result in [min, max], as both are integers.
    const double x = d.mean + d.std_dev * rnd::normal(rng);
    return static_cast<int>(std::lround(std::clamp(x, double(d.min), double(d.max))));
  }

  Distribution input_, output_;
  LengthMode mode_;
};

// Requests cycle over the groups, so consecutive requests hit different system prompts and a
// prefix-aware router has something to do; within a group, the questions cycle too, giving
// num_groups * num_prompts_per_group distinct prompts as Inference Perf's generator does.
class SharedPrefixDataset final : public Dataset {
 public:
  explicit SharedPrefixDataset(const SharedPrefixConfig& config) : config_(config) {
    system_prompts_.reserve(static_cast<size_t>(config.num_groups));
    for (int g = 0; g < config.num_groups; ++g) {
      system_prompts_.push_back(make_text(config.system_prompt_len, splitmix64(2 * uint64_t(g))));
    }
  }

  Prompt next(std::mt19937_64&, bool chat) override {
    const uint64_t groups = system_prompts_.size();
    const auto per_group = static_cast<uint64_t>(config_.num_prompts_per_group);
    const uint64_t group = count_ % groups;
    const uint64_t question_id = group * per_group + (count_ / groups) % per_group;
    ++count_;
    // Generated on demand: a large config would otherwise hold every question in memory.
    std::string question = make_text(config_.question_len, splitmix64(2 * question_id + 1));
    const std::string& system = system_prompts_[group];

    Prompt prompt;
    prompt.output_tokens = config_.output_len;
    prompt.group = static_cast<int>(group);
    if (chat) {
      prompt.input_tokens = count_tokens(system) + count_tokens(question);
      prompt.messages.push_back({"system", system});
      prompt.messages.push_back({"user", std::move(question)});
    } else {
      prompt.text = system + question;
      prompt.input_tokens = count_tokens(prompt.text);
    }
    return prompt;
  }

 private:
  SharedPrefixConfig config_;
  std::vector<std::string> system_prompts_;
  uint64_t count_ = 0;
};

Result<SharedPrefixConfig> checked_shared_prefix(const std::optional<SharedPrefixConfig>& given) {
  const SharedPrefixConfig c = given.value_or(SharedPrefixConfig{});
  const std::pair<std::string_view, int> fields[] = {
      {"num_groups", c.num_groups},
      {"num_prompts_per_group", c.num_prompts_per_group},
      {"system_prompt_len", c.system_prompt_len},
      {"question_len", c.question_len},
      {"output_len", c.output_len}};
  for (const auto& [name, value] : fields) {
    if (value < 1) return fail("data.shared_prefix.{}: must be at least 1, got {}", name, value);
  }
  if (c.system_prompt_len > kMaxTokens || c.question_len > kMaxTokens) {
    return fail("data.shared_prefix: prompts of at most {} tokens", kMaxTokens);
  }
  if (static_cast<int64_t>(c.num_groups) * c.system_prompt_len > 100 * int64_t{kMaxTokens}) {
    return fail("data.shared_prefix: {} system prompts of {} tokens are too many to hold",
                c.num_groups, c.system_prompt_len);
  }
  return c;
}

// ---- ShareGPT ----

struct Conversation {
  std::string prompt;
  int output_tokens = 0;
};

class ShareGptDataset final : public Dataset {
 public:
  ShareGptDataset(std::vector<Conversation> conversations, size_t skipped)
      : conversations_(std::move(conversations)), skipped_(skipped) {
    order_.resize(conversations_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<uint32_t>(i);
  }

  Prompt next(std::mt19937_64& rng, bool chat) override {
    // A fresh shuffle per pass: every entry once before any repeats, in an order set by the rng.
    if (position_ == 0) rnd::shuffle(order_, rng);
    const Conversation& c = conversations_[order_[position_]];
    position_ = (position_ + 1) % order_.size();
    return make_prompt(c.prompt, c.output_tokens, chat);
  }

  size_t size() const override { return conversations_.size(); }
  size_t skipped() const override { return skipped_; }

 private:
  std::vector<Conversation> conversations_;
  std::vector<uint32_t> order_;
  size_t position_ = 0;
  size_t skipped_ = 0;
};

std::string_view type_name(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return "a list";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "something else";
}

// simdjson says what is wrong with a document but not where. Once it has rejected a file,
// nlohmann's SAX parser (no tree, so cheap on a large file) finds the place: the line and
// column, and which entry of the top-level list it was in.
class ErrorLocator final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& error) override {
    std::string_view what = error.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; the rest is the useful part.
    if (auto end = what.find("] "); !what.empty() && what[0] == '[' && end != what.npos) {
      what.remove_prefix(end + 2);
    }
    message_ = std::string(what);
    where_ = depth_ >= 2                   ? fmt::format(" in entry {}", entries_ - 1)
             : depth_ == 1 && entries_ > 0 ? fmt::format(" after entry {}", entries_ - 1)
                                           : std::string();
    return false;
  }

  // "" when the parser found nothing wrong.
  std::string describe() const {
    return message_.empty() ? std::string() : fmt::format("not valid JSON{}: {}", where_, message_);
  }

 private:
  bool value() {
    if (depth_ == 1) ++entries_;
    return true;
  }
  bool open() {
    value();
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  int depth_ = 0;
  size_t entries_ = 0;
  std::string message_, where_;
};

Result<simdjson::padded_string> read_file(const std::string& path) {
  // Opened here first only for errno: simdjson's loader says IO_ERROR and nothing more.
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return fail("{}: cannot open: {}", path, std::strerror(errno));
  std::fclose(file);
  // simdjson reads straight into its padded buffer: no second copy of a file of hundreds of MB.
  simdjson::padded_string bytes;
  if (auto error = simdjson::padded_string::load(path).get(bytes)) {
    return fail("{}: cannot read: {}", path, simdjson::error_message(error));
  }
  return bytes;
}

Result<std::unique_ptr<Dataset>> load_sharegpt(const std::string& path) {
  if (path.empty()) return fail("data.path: the shareGPT dataset needs a file path");
  auto bytes = read_file(path);
  if (!bytes) return fail(bytes.error());

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(*bytes).get(root)) {
    ErrorLocator locator;
    nlohmann::json::sax_parse(std::string_view(bytes->data(), bytes->size()), &locator);
    std::string what = locator.describe();
    if (what.empty()) what = fmt::format("not valid JSON: {}", simdjson::error_message(error));
    return fail("{}: {}", path, what);
  }
  simdjson::dom::array entries;
  if (root.get_array().get(entries)) {
    return fail("{}: expected a list of conversations, got {}", path, type_name(root.type()));
  }

  std::vector<Conversation> conversations;
  size_t skipped = 0;
  size_t index = 0;
  for (simdjson::dom::element entry : entries) {
    simdjson::dom::object object;
    if (entry.get_object().get(object)) {
      return fail("{}: entry {}: expected an object, got {}", path, index, type_name(entry.type()));
    }
    simdjson::dom::element turns_element;
    if (object["conversations"].get(turns_element)) {
      return fail("{}: entry {}: no \"conversations\" key", path, index);
    }
    simdjson::dom::array turns;
    if (turns_element.get_array().get(turns)) {
      return fail("{}: entry {}: \"conversations\" is {}, expected a list", path, index,
                  type_name(turns_element.type()));
    }
    std::string_view prompt;
    bool have_prompt = false;
    bool have_answer = false;
    int output_tokens = 0;
    size_t turn_index = 0;
    for (simdjson::dom::element turn : turns) {
      simdjson::dom::object turn_object;
      if (turn.get_object().get(turn_object)) {
        return fail("{}: entry {}: conversations[{}]: expected an object, got {}", path, index,
                    turn_index, type_name(turn.type()));
      }
      std::string_view from, value;
      for (auto [key, out] : {std::pair{"from", &from}, std::pair{"value", &value}}) {
        simdjson::dom::element field;
        if (turn_object[key].get(field)) {
          return fail("{}: entry {}: conversations[{}]: no \"{}\" key", path, index, turn_index,
                      key);
        }
        if (field.get_string().get(*out)) {
          return fail("{}: entry {}: conversations[{}].{}: expected a string, got {}", path, index,
                      turn_index, key, type_name(field.type()));
        }
      }
      // Other roles (system, and the odd "bing" or "chatgpt" in scraped files) are not part of
      // the prompt/answer pair; an empty human turn is no prompt at all.
      if (!have_prompt && from == "human" && !value.empty()) {
        prompt = value;
        have_prompt = true;
      } else if (have_prompt && !have_answer && from == "gpt") {
        output_tokens = count_tokens(value);
        have_answer = true;
      }
      ++turn_index;
    }
    if (have_prompt && have_answer) {
      conversations.push_back({std::string(prompt), output_tokens});
    } else {
      ++skipped;
    }
    ++index;
  }
  if (conversations.empty()) {
    return fail(
        "{}: no usable conversation among {} entries (each needs a human turn followed by a gpt "
        "turn)",
        path, index);
  }
  return std::make_unique<ShareGptDataset>(std::move(conversations), skipped);
}

}  // namespace

namespace {

// kWords padded to 8 bytes, so each is copied with one fixed-size move.
struct PaddedWord {
  char text[8];
  uint8_t size;
};
constexpr auto kPaddedWords = [] {
  std::array<PaddedWord, kWords.size()> out{};
  for (size_t i = 0; i < kWords.size(); ++i) {
    for (size_t j = 0; j < kWords[i].size() && j < 8; ++j) out[i].text[j] = kWords[i][j];
    out[i].size = static_cast<uint8_t>(kWords[i].size());
  }
  return out;
}();

}  // namespace

std::string make_text(int tokens, uint64_t seed) {
  if (tokens <= 0) return {};
  const size_t bytes = static_cast<size_t>(tokens) * kBytesPerToken;
  static_assert(kWords.size() == 128, "7 random bits pick a word");
  static_assert(std::ranges::all_of(kWords, [](std::string_view w) { return w.size() <= 8; }),
                "the buffer's slack assumes words of at most 8 letters");
  std::mt19937_64 rng(seed);
  std::string text;
  // A whole "word " is written while the text is short of `bytes`: at most 9 bytes past it.
  text.resize_and_overwrite(bytes + 16, [&](char* out, size_t) {
    size_t at = 0;
    while (at < bytes) {
      // One draw picks nine words (7 bits each): a 200 KB prompt costs tens of microseconds,
      // not a millisecond of the load generator's time per request.
      uint64_t bits = rng();
      for (int k = 0; k < 9 && at < bytes; ++k, bits >>= 7) {
        const PaddedWord& word = kPaddedWords[bits & 127];
        std::memcpy(out + at, word.text, sizeof(word.text));
        at += word.size;
        out[at++] = ' ';
      }
    }
    return bytes;
  });
  // Ending on a full stop rather than a space keeps prompts from ending in whitespace, which
  // some servers trim (and so count differently).
  if (text.back() == ' ') text.back() = '.';
  return text;
}

Result<std::unique_ptr<Dataset>> make_dataset(const DataConfig& config) {
  if (config.type == "mock") return std::make_unique<MockDataset>();
  if (config.type == "synthetic" || config.type == "random") {
    const LengthMode mode = config.type == "synthetic" ? LengthMode::kNormal : LengthMode::kUniform;
    auto input = checked_distribution(config.input_distribution, "input_distribution", mode);
    if (!input) return fail(input.error());
    auto output = checked_distribution(config.output_distribution, "output_distribution", mode);
    if (!output) return fail(output.error());
    return std::make_unique<LengthDataset>(*input, *output, mode);
  }
  if (config.type == "shared_prefix") {
    auto shared = checked_shared_prefix(config.shared_prefix);
    if (!shared) return fail(shared.error());
    return std::make_unique<SharedPrefixDataset>(*shared);
  }
  if (config.type == "shareGPT") return load_sharegpt(config.path);
  return fail(
      "data.type: unknown or unsupported type '{}' (expected mock, shareGPT, synthetic, random "
      "or shared_prefix)",
      config.type);
}

}  // namespace kgai::perf
