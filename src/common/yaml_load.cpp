#include "common/yaml_load.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "common/utf8.h"

namespace kgai {

namespace {

// Remembers where each document starts; the node events themselves are not needed.
class DocumentStarts final : public YAML::EventHandler {
 public:
  const YAML::Mark& start() const { return start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  YAML::Mark start_;
};

// Repairs what yaml-cpp 0.7 makes of the double-quoted escapes "\N" and "\_" (U+0085 and
// U+00A0): the single bytes 0x85 and 0xA0, which are not UTF-8 (found by
// tests/fuzz/dra_objects_fuzz.cpp; its other escapes are encoded right). The text was checked
// to be UTF-8, so a scalar that is not holds such bytes from yaml-cpp: each byte that does not
// start a valid sequence is re-encoded as the code point of its value.
class EscapeRepair {
 public:
  explicit EscapeRepair(size_t max_nodes) : budget_(max_nodes) {}

  void visit(YAML::Node node) {
    // Aliases share nodes, so a walk can meet far more nodes than the text has bytes.
    if (budget_-- == 0) {
      throw YAML::ParserException(YAML::Mark(), "too many nodes once aliases are expanded");
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        repair(node);
        break;
      case YAML::NodeType::Sequence:
        for (YAML::Node item : node) visit(item);
        break;
      case YAML::NodeType::Map:
        for (auto kv : node) {
          repair(kv.first);
          visit(kv.second);
        }
        break;
      default:
        break;
    }
  }

 private:
  static void repair(YAML::Node node) {
    const std::string& text = node.Scalar();
    if (is_valid_utf8(text)) return;
    std::string fixed;
    for (size_t i = 0; i < text.size();) {
      const auto byte = static_cast<unsigned char>(text[i]);
      const size_t length = byte < 0x80 ? 1 : byte >> 5 == 6 ? 2 : byte >> 4 == 14 ? 3 : 4;
      if (i + length <= text.size() && is_valid_utf8(std::string_view(text).substr(i, length))) {
        fixed.append(text, i, length);
        i += length;
      } else {
        fixed += static_cast<char>(0xC0 | (byte >> 6));
        fixed += static_cast<char>(0x80 | (byte & 0x3F));
        ++i;
      }
    }
    const std::string tag = node.Tag();
    node = fixed;
    node.SetTag(tag);
  }

  size_t budget_;
};

}  // namespace

std::vector<YAML::Node> load_yaml_documents(std::string_view text) {
  if (!is_valid_utf8(text)) {
    YAML::Mark mark;
    for (size_t start = 0; start < text.size(); ++mark.line) {
      const size_t end = std::min(text.find('\n', start), text.size());
      if (!is_valid_utf8(text.substr(start, end - start))) break;
      start = end + 1;
    }
    throw YAML::ParserException(mark, "not valid UTF-8 text");
  }
  const std::string owned(text);
  {
    // A first pass over the events only: a document that starts where the previous one
    // started consumed nothing, and the parser will never get past that point.
    std::istringstream in(owned);
    YAML::Parser parser(in);
    DocumentStarts starts;
    std::optional<int> previous;
    while (parser.HandleNextDocument(starts)) {
      if (previous && *previous == starts.start().pos) {
        throw YAML::ParserException(starts.start(), "unexpected token, not valid YAML here");
      }
      previous = starts.start().pos;
    }
  }
  std::vector<YAML::Node> documents = YAML::LoadAll(owned);
  // Every document is walked: the escapes are not the only source (a NUL in a plain scalar
  // also came out as 0x85).
  EscapeRepair repair(std::max<size_t>(100'000, 16 * owned.size()));
  for (const YAML::Node& document : documents) repair.visit(document);
  return documents;
}

}  // namespace kgai
