// `kgai dra allocate` and `kgai dra fit` as users run them, on the example files in data/dra:
// exit codes 0 / 1 / 2, the List with status.allocation, the explanation, and clear errors.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "integration/process.h"

namespace kgai::testing {
namespace {

using namespace std::chrono_literals;

std::string data(const std::string& name) {
  return std::string(KGAI_SOURCE_DIR) + "/data/dra/" + name;
}

TEST(DraCliTest, AllocatePrintsTheClaimWithItsAllocation) {
  KgaiProcess p({"dra", "allocate", "-f", data("cluster.yaml"), "-f", data("claim-4-gpus.yaml")});
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  const YAML::Node list = YAML::Load(p.output());
  ASSERT_EQ(list["kind"].as<std::string>(), "List");
  const YAML::Node alloc = list["items"][0]["status"]["allocation"];
  ASSERT_TRUE(alloc.IsMap()) << p.output();
  ASSERT_EQ(alloc["devices"]["results"].size(), 4u);
  EXPECT_EQ(alloc["devices"]["results"][0]["device"].as<std::string>(), "gpu-0");
  EXPECT_EQ(alloc["devices"]["results"][3]["device"].as<std::string>(), "gpu-3");
  EXPECT_EQ(alloc["nodeSelector"]["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
                .as<std::string>(),
            "node-a");
}

TEST(DraCliTest, JsonOutputAndNodeFlag) {
  KgaiProcess p({"dra", "allocate", "-f", data("cluster.yaml"), "-f", data("claim-4-gpus.yaml"),
                 "--node", "node-b", "-o", "json"});
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  EXPECT_NE(p.output().find("\"pool\": \"node-b\""), std::string::npos) << p.output();
}

TEST(DraCliTest, NoFitExitsOneAndSaysWhy) {
  KgaiProcess p({"dra", "allocate", "-f", data("cluster.yaml"), "-f", data("claim-too-big.yaml")});
  ASSERT_EQ(p.wait_exit(30s), 1) << p.output();
  EXPECT_NE(p.output().find("node node-a:"), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("matchAttribute resource.kubernetes.io/pcieRoot"), std::string::npos)
      << p.output();
}

TEST(DraCliTest, ErrorsExitTwoAndNameTheObject) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kgai-dra-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "bad-class.yaml")
      << "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\n"
         "metadata: {name: c}\nspec:\n  devices:\n    requests:\n"
         "    - name: r\n      exactly: {deviceClassName: no-such-class}\n";
  KgaiProcess unknown(
      {"dra", "allocate", "-f", data("cluster.yaml"), "-f", (dir / "bad-class.yaml").string()});
  EXPECT_EQ(unknown.wait_exit(30s), 2) << unknown.output();
  EXPECT_NE(unknown.output().find("could not retrieve device class no-such-class"),
            std::string::npos)
      << unknown.output();

  std::ofstream(dir / "broken.yaml") << "kind: [unclosed\n";
  KgaiProcess broken({"dra", "allocate", "-f", (dir / "broken.yaml").string()});
  EXPECT_EQ(broken.wait_exit(30s), 2) << broken.output();
  EXPECT_NE(broken.output().find("broken.yaml"), std::string::npos) << broken.output();

  KgaiProcess missing({"dra", "allocate", "-f", (dir / "nope.yaml").string()});
  EXPECT_EQ(missing.wait_exit(30s), 2) << missing.output();
  std::filesystem::remove_all(dir);
}

TEST(DraCliTest, FitCountsCopiesPerNode) {
  KgaiProcess p({"dra", "fit", "-f", data("cluster.yaml"), "--claim", data("claim-4-gpus.yaml"),
                 "-o", "json"});
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  EXPECT_NE(p.output().find("\"copies\": 4"), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("\"node-a\": 2"), std::string::npos) << p.output();
}

}  // namespace
}  // namespace kgai::testing
