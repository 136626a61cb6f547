#include "dra/object_reader.h"

#include <gtest/gtest.h>

namespace kgai::dra {
namespace {

Result<Inputs> read(const std::string& text) {
  Inputs inputs;
  auto docs = read_documents(text, "in.yaml");
  if (!docs) return fail(docs.error());
  for (const auto& d : *docs) {
    auto added = add_object(d, "in.yaml", inputs);
    if (!added) return fail(added.error());
  }
  return inputs;
}

std::string error_of(const std::string& text) {
  auto r = read(text);
  return r ? std::string("(no error)") : r.error().message;
}

const char* kSlice =
    "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: s1}\nspec:\n"
    "  driver: gpu.nvidia.com\n  nodeName: n1\n  pool: {name: p, generation: 3, "
    "resourceSliceCount: 1}\n"
    "  devices:\n  - name: gpu-0\n    attributes:\n      model: {string: H100}\n"
    "      cc: {version: 9.0.0}\n      index: {int: 0}\n      healthy: {bool: true}\n"
    "      example.com/rack: {string: r1}\n    capacity: {memory: {value: 80Gi}}\n";

TEST(ObjectReaderTest, ReadsASliceWithQualifiedNames) {
  auto in = read(kSlice);
  ASSERT_TRUE(in) << in.error().message;
  ASSERT_EQ(in->slices.size(), 1u);
  const auto& s = in->slices[0];
  EXPECT_EQ(s.driver, "gpu.nvidia.com");
  EXPECT_EQ(s.generation, 3);
  ASSERT_EQ(s.devices.size(), 1u);
  const auto& d = s.devices[0];
  EXPECT_EQ(std::get<std::string>(d.attributes.at("gpu.nvidia.com").at("model")), "H100");
  EXPECT_EQ(std::get<int64_t>(d.attributes.at("gpu.nvidia.com").at("index")), 0);
  EXPECT_EQ(std::get<bool>(d.attributes.at("gpu.nvidia.com").at("healthy")), true);
  EXPECT_EQ(std::get<Semver>(d.attributes.at("gpu.nvidia.com").at("cc")).major, 9u);
  EXPECT_EQ(std::get<std::string>(d.attributes.at("example.com").at("rack")), "r1");
  EXPECT_EQ(d.capacity.at("gpu.nvidia.com").at("memory").to_string(), "80Gi");
}

TEST(ObjectReaderTest, ListsAndJsonAndOtherKinds) {
  const std::string list =
      "apiVersion: v1\nkind: List\nitems:\n"
      "- {apiVersion: v1, kind: Node, metadata: {name: n1, labels: {zone: a}}}\n"
      "- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n";
  auto in = read(list);
  ASSERT_TRUE(in) << in.error().message;
  ASSERT_EQ(in->nodes.size(), 1u);
  EXPECT_EQ(in->nodes[0].labels.at("zone"), "a");
  auto json =
      read(R"({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "c"},
                       "spec": {"selectors": [{"cel": {"expression": "true"}}]}})");
  ASSERT_TRUE(json) << json.error().message;
  ASSERT_EQ(json->classes.size(), 1u);
  EXPECT_EQ(json->classes[0].selectors[0], "true");
}

TEST(ObjectReaderTest, ErrorsNameTheObjectAndTheField) {
  std::string two_types = kSlice;
  two_types.replace(two_types.find("{string: H100}"), 14, "{string: H100, int: 3}");
  EXPECT_NE(error_of(two_types).find(
                "ResourceSlice s1: spec.devices[0].attributes.model: needs exactly one"),
            std::string::npos)
      << error_of(two_types);

  std::string no_driver = kSlice;
  no_driver.replace(no_driver.find("  driver: gpu.nvidia.com\n"), 25, "");
  EXPECT_NE(error_of(no_driver).find("spec.driver: required"), std::string::npos)
      << error_of(no_driver);

  std::string bad_quantity = kSlice;
  bad_quantity.replace(bad_quantity.find("80Gi"), 4, "80GB");
  EXPECT_NE(error_of(bad_quantity).find("spec.devices[0].capacity.memory.value"), std::string::npos)
      << error_of(bad_quantity);

  std::string beta = kSlice;
  beta.replace(beta.find("resource.k8s.io/v1"), 18, "resource.k8s.io/v1beta1");
  EXPECT_NE(error_of(beta).find("not supported"), std::string::npos);

  std::string two_nodes = kSlice;
  two_nodes.replace(two_nodes.find("  nodeName: n1\n"), 15, "  nodeName: n1\n  allNodes: true\n");
  EXPECT_NE(error_of(two_nodes).find("exactly one of nodeName"), std::string::npos);

  EXPECT_NE(error_of("a: [unclosed").find("in.yaml"), std::string::npos);
  EXPECT_NE(error_of("- just\n- a list\n").find("must be a Kubernetes object"), std::string::npos);

  const std::string claim =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\nspec:\n  "
      "devices:\n"
      "    requests:\n    - name: r\n      exactly: {deviceClassName: x, allocationMode: Some}\n";
  EXPECT_NE(
      error_of(claim).find("ResourceClaim c: spec.devices.requests[0].exactly.allocationMode"),
      std::string::npos)
      << error_of(claim);
  const std::string both =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\nspec:\n  "
      "devices:\n"
      "    requests:\n    - name: r\n      exactly: {deviceClassName: x}\n      firstAvailable: "
      "[{name: a, deviceClassName: x}]\n";
  EXPECT_NE(error_of(both).find("exactly one of exactly and firstAvailable"), std::string::npos);
}

TEST(ObjectReaderTest, ConstraintsAndConfigNameExistingRequests) {
  const std::string head =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\nspec:\n  "
      "devices:\n"
      "    requests:\n    - name: gpus\n      firstAvailable: [{name: big, deviceClassName: x}]\n";
  EXPECT_EQ(error_of(head + "    constraints: [{requests: [gpus/big], matchAttribute: a}]\n"),
            "(no error)");
  EXPECT_NE(error_of(head + "    constraints: [{requests: [gpu], matchAttribute: a}]\n")
                .find("spec.devices.constraints[0].requests: 'gpu' is not the name of a request"),
            std::string::npos);
  EXPECT_NE(error_of(head + "    config: [{requests: [gpus/small], opaque: {driver: d}}]\n")
                .find("spec.devices.config[0].requests: 'gpus/small'"),
            std::string::npos)
      << error_of(head + "    config: [{requests: [gpus/small], opaque: {driver: d}}]\n");
}

TEST(ObjectReaderTest, Limits) {
  std::string many =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: s}\nspec:\n"
      "  driver: d\n  allNodes: true\n  pool: {name: p}\n  devices:\n";
  for (int i = 0; i < 129; ++i) many += "  - name: d" + std::to_string(i) + "\n";
  EXPECT_NE(error_of(many).find("129 items, at most 128"), std::string::npos) << error_of(many);
  std::string attrs =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: s}\nspec:\n"
      "  driver: d\n  allNodes: true\n  pool: {name: p}\n  devices:\n  - name: x\n    "
      "attributes:\n";
  for (int i = 0; i < 33; ++i) attrs += "      a" + std::to_string(i) + ": {int: 1}\n";
  EXPECT_NE(error_of(attrs).find("at most 32"), std::string::npos) << error_of(attrs);
  std::string deep = "a: ";
  for (int i = 0; i < 200; ++i) deep += "[";
  EXPECT_NE(error_of(deep), "(no error)");
}

TEST(ObjectReaderTest, QualifiedNames) {
  EXPECT_EQ(split_qualified_name("model", "gpu.nvidia.com"),
            std::make_pair(std::string("gpu.nvidia.com"), std::string("model")));
  EXPECT_EQ(split_qualified_name("resource.kubernetes.io/pcieRoot", "d"),
            std::make_pair(std::string("resource.kubernetes.io"), std::string("pcieRoot")));
}

// Found by tests/fuzz: a stray token after a value made yaml-cpp's LoadAll loop forever.
TEST(ObjectReaderTest, StrayTokenIsAnErrorNotAHang) {
  auto docs = read_documents("apiVersion: v1\nkind: Node\n---\n,\n", "in.yaml");
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("in.yaml: "), std::string::npos) << docs.error().message;
  EXPECT_NE(docs.error().message.find("unexpected token"), std::string::npos)
      << docs.error().message;
}

// Found by tests/fuzz: nlohmann's value() threw on a kind or apiVersion that is not a string,
// and dump() (in error messages) on a string that is not UTF-8.
TEST(ObjectReaderTest, KindOfAnotherTypeAndBytesThatAreNotUtf8AreErrors) {
  EXPECT_EQ(error_of("kind: null\n"), "in.yaml: kind: expected a string, got null");
  EXPECT_EQ(error_of("apiVersion: {v: 1}\nkind: Node\n"),
            "in.yaml: apiVersion: expected a string, got {\"v\":1}");
  EXPECT_EQ(error_of("kind: [List]\nitems: []\n"),
            "in.yaml: kind: expected a string, got [\"List\"]");
  EXPECT_NE(error_of("kind: Node\nmetadata: {name: caf\xe9}\n").find("not valid UTF-8"),
            std::string::npos);
}

// Found by tests/fuzz: the escape "\N" reached nlohmann's dump() as a byte that is not UTF-8.
TEST(ObjectReaderTest, NextLineEscapeInAnErrorMessage) {
  EXPECT_EQ(error_of("kind: [\"\\N\"]\n"), "in.yaml: kind: expected a string, got [\"\xc2\x85\"]");
}

// Found by tests/fuzz (the input as found): a NUL in a plain scalar came out of yaml-cpp as the
// byte 0x85, which is not UTF-8, and nlohmann's dump() threw on it in an error message.
TEST(ObjectReaderTest, ScalarBytesFromYamlCppAreUtf8) {
  const std::string text(
      "# Focons\"\"\"hE\napiVersion:\n    "
      "cons\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\0N:\n    "
      "cons\"\"\"\"\"\"\"\"9\"\"\"ssstWssssQs\"v1\",",
      99);
  EXPECT_NE(error_of(text), "(no error)");
}

}  // namespace
}  // namespace kgai::dra
