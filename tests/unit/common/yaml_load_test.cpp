#include "common/yaml_load.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace kgai {
namespace {

TEST(LoadYamlDocuments, ReadsDocumentsAsLoadAllDoes) {
  auto docs = load_yaml_documents("a: 1\n---\nb: [2, 3]\n");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0]["a"].as<int>(), 1);
  EXPECT_EQ(docs[1]["b"][1].as<int>(), 3);
  EXPECT_TRUE(load_yaml_documents("").empty());
  EXPECT_TRUE(load_yaml_documents("# only a comment\n").empty());
  // Empty documents are documents: they start at different markers.
  auto empty = load_yaml_documents("---\n---\n");
  ASSERT_EQ(empty.size(), 2u);
  EXPECT_TRUE(empty[0].IsNull());
}

// Found by tests/fuzz (dra_objects, endpoints_file): yaml-cpp 0.7's LoadAll never returned on
// these and allocated until memory ran out.
TEST(LoadYamlDocuments, StrayTokenIsASyntaxErrorNotAnEndlessLoop) {
  for (const char* text : {",\n", "a: 1\n---\n,\n", "kind: Node\n---\n,\n"}) {
    try {
      load_yaml_documents(text);
      ADD_FAILURE() << "no error for: " << text;
    } catch (const YAML::ParserException& e) {
      EXPECT_EQ(e.msg, "unexpected token, not valid YAML here") << text;
    }
  }
}

// Found by tests/fuzz: yaml-cpp passes bytes that are not UTF-8 into strings, where nlohmann's
// dump() throws on them later.
TEST(LoadYamlDocuments, TextThatIsNotUtf8IsASyntaxError) {
  try {
    load_yaml_documents("a: 1\nb: caf\xe9\n");
    ADD_FAILURE() << "no error";
  } catch (const YAML::ParserException& e) {
    EXPECT_EQ(e.msg, "not valid UTF-8 text");
    EXPECT_EQ(e.mark.line, 1);
  }
  EXPECT_EQ(load_yaml_documents("b: caf\xc3\xa9\n")[0]["b"].as<std::string>(), "caf\xc3\xa9");
}

// Found by tests/fuzz: yaml-cpp 0.7 reads "\N" and "\_" as the single bytes 0x85 and 0xA0.
TEST(LoadYamlDocuments, NextLineAndNoBreakSpaceEscapesAreUtf8) {
  auto docs = load_yaml_documents("a: \"x\\Ny\\_\"\n\"k\\N\": [\"\\_\\u00e9\"]\nplain: C:\\Net\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["a"].as<std::string>(), "x\xc2\x85y\xc2\xa0");
  EXPECT_EQ(docs[0]["a"].Tag(), "!");  // still a quoted string
  EXPECT_EQ(docs[0]["k\xc2\x85"][0].as<std::string>(), "\xc2\xa0\xc3\xa9");
  EXPECT_EQ(docs[0]["plain"].as<std::string>(), "C:\\Net");
}

}  // namespace
}  // namespace kgai
