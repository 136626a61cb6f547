#include "common/yaml_load.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>

#include <simdjson.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

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

}  // namespace

std::vector<YAML::Node> load_yaml_documents(std::string_view text) {
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    YAML::Mark mark;
    for (size_t start = 0; start < text.size(); ++mark.line) {
      const size_t end = std::min(text.find('\n', start), text.size());
      if (!simdjson::validate_utf8(text.data() + start, end - start)) break;
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
  return YAML::LoadAll(owned);
}

}  // namespace kgai
