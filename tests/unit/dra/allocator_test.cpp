// The allocator's rules, table by table: each case is YAML input (slices, classes, claims,
// nodes) and the expected allocation or the expected explanation/error.
#include "dra/allocator.h"

#include <string>

#include <gtest/gtest.h>

#include "dra/object_reader.h"
#include "dra/output.h"

namespace kgai::dra {
namespace {

Inputs read(const std::string& yaml) {
  Inputs inputs;
  auto docs = read_documents(yaml, "test.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  if (!docs) return inputs;
  for (const auto& d : *docs) {
    auto added = add_object(d, "test.yaml", inputs);
    EXPECT_TRUE(added) << added.error().message;
  }
  return inputs;
}

// A node-local slice of `n` GPUs, two per PCIe root (gpu-0,1 on pci-0; 2,3 on pci-1; ...).
std::string gpu_slice(const std::string& node, int n, const std::string& pool = "",
                      int generation = 1, int slice_count = 1) {
  std::string out =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: " + node +
      "-gpus}\nspec:\n  driver: gpu.nvidia.com\n  nodeName: " + node +
      "\n  pool: {name: " + (pool.empty() ? node : pool) +
      ", generation: " + std::to_string(generation) +
      ", resourceSliceCount: " + std::to_string(slice_count) + "}\n  devices:\n";
  for (int i = 0; i < n; ++i) {
    out += "  - name: gpu-" + std::to_string(i) +
           "\n    attributes:\n      type: {string: gpu}\n      productName: {string: H100}\n"
           "      index: {int: " +
           std::to_string(i) +
           "}\n"
           "      resource.kubernetes.io/pcieRoot: {string: pci-" +
           std::to_string(i / 2) + "}\n    capacity:\n      memory: {value: 80Gi}\n";
  }
  return out + "---\n";
}

const std::string kGpuClass =
    "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata: {name: gpu.nvidia.com}\n"
    "spec:\n  selectors:\n  - cel: {expression: \"device.driver == 'gpu.nvidia.com' && "
    "device.attributes['gpu.nvidia.com'].type == 'gpu'\"}\n"
    "  config:\n  - opaque: {driver: gpu.nvidia.com, parameters: {sharing: none}}\n---\n";

std::string claim(const std::string& name, const std::string& devices_yaml) {
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: " + name +
         ", namespace: ml}\nspec:\n  devices:\n" + devices_yaml + "---\n";
}

std::string request(const std::string& name, int count, const std::string& extra = "") {
  return "    - name: " + name +
         "\n      exactly:\n        deviceClassName: gpu.nvidia.com\n        count: " +
         std::to_string(count) + "\n" + extra;
}

TEST(AllocatorTest, OneGpuOnTheFirstNode) {
  const Inputs in = read(gpu_slice("node-b", 2) + gpu_slice("node-a", 2) + kGpuClass +
                         claim("c1", "    requests:\n" + request("gpu", 1)));
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->ok);
  EXPECT_EQ(a->node, "node-a");  // nodes in name order
  ASSERT_EQ(a->claims.size(), 1u);
  ASSERT_EQ(a->claims[0].results.size(), 1u);
  EXPECT_EQ(a->claims[0].results[0].device, "gpu-0");
  EXPECT_EQ(a->claims[0].results[0].pool, "node-a");
  EXPECT_EQ(a->claims[0].results[0].request, "gpu");
  ASSERT_EQ(a->claims[0].config.size(), 1u);
  EXPECT_EQ(a->claims[0].config[0].source, "FromClass");
  EXPECT_EQ(a->claims[0].node_selector["nodeSelectorTerms"][0]["matchFields"][0]["values"][0],
            "node-a");
  const auto list = allocated_list(in, *a);
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["items"][0]["status"]["allocation"]["devices"]["results"][0]["device"], "gpu-0");
}

TEST(AllocatorTest, MatchAttributeKeepsDevicesOnOnePcieRoot) {
  // gpu-0 is taken, so a 2-GPU claim on one PCIe root must skip pci-0 (gpu-1 alone).
  std::string taken = claim("held", "    requests:\n" + request("gpu", 1));
  taken.replace(
      taken.find("---"), 3,
      "status:\n  allocation:\n    devices:\n      results:\n      - {request: gpu, driver: "
      "gpu.nvidia.com, pool: node-a, device: gpu-0}\n---");
  const Inputs in = read(gpu_slice("node-a", 4) + kGpuClass + taken +
                         claim("pair", "    requests:\n" + request("gpu", 2) +
                                           "    constraints:\n    - matchAttribute: "
                                           "resource.kubernetes.io/pcieRoot\n"));
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->ok);
  ASSERT_EQ(a->claims.size(), 1u);  // only the pending claim
  ASSERT_EQ(a->claims[0].results.size(), 2u);
  EXPECT_EQ(a->claims[0].results[0].device, "gpu-2");
  EXPECT_EQ(a->claims[0].results[1].device, "gpu-3");
}

TEST(AllocatorTest, DistinctAttribute) {
  const Inputs in = read(gpu_slice("node-a", 4) + kGpuClass +
                         claim("spread", "    requests:\n" + request("gpu", 2) +
                                             "    constraints:\n    - distinctAttribute: "
                                             "resource.kubernetes.io/pcieRoot\n"));
  auto a = allocate(in);
  ASSERT_TRUE(a && a->ok);
  EXPECT_EQ(a->claims[0].results[0].device, "gpu-0");
  EXPECT_EQ(a->claims[0].results[1].device, "gpu-2");
}

TEST(AllocatorTest, ClaimsAreAllOrNothingAndExplainWhyNot) {
  const Inputs in = read(gpu_slice("node-a", 2) + gpu_slice("node-b", 1) + kGpuClass +
                         claim("c1", "    requests:\n" + request("gpu", 2)) +
                         claim("c2", "    requests:\n" + request("gpu", 1)));
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->ok);
  ASSERT_EQ(a->not_fitting.size(), 2u);
  EXPECT_EQ(a->not_fitting[0].node, "node-a");
  std::string all;
  for (const auto& r : a->not_fitting[1].reasons) all += r + "\n";
  // A node without enough free devices is passed over before any selector runs.
  EXPECT_NE(all.find("at most 1 free devices reach this node; the claims need at least 3"),
            std::string::npos)
      << all;
  EXPECT_NE(explanation_text(*a).find("node node-b:"), std::string::npos);
}

TEST(AllocatorTest, PerRequestExplanation) {
  // Enough devices, but both claims want the first two GPUs.
  const Inputs in =
      read(gpu_slice("node-a", 4) + kGpuClass +
           claim("c1", "    requests:\n" +
                           request("gpu", 2,
                                   "        selectors:\n        - cel: {expression: "
                                   "\"device.attributes['gpu.nvidia.com'].index < 2\"}\n")) +
           claim("c2", "    requests:\n" +
                           request("gpu", 1,
                                   "        selectors:\n        - cel: {expression: "
                                   "\"device.attributes['gpu.nvidia.com'].index < 2\"}\n")));
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_FALSE(a->ok);
  std::string all;
  for (const auto& r : a->not_fitting[0].reasons) all += r + "\n";
  EXPECT_NE(
      all.find("claim ml/c2 request gpu (class gpu.nvidia.com, count 1): 4 devices on the node; 0 "
               "rejected by the class's selectors, 2 by the request's selectors"),
      std::string::npos)
      << all;
  EXPECT_NE(all.find("device choices were taken by another request"), std::string::npos) << all;
}

TEST(AllocatorTest, SelectorRejectionsAreCounted) {
  const Inputs in =
      read(gpu_slice("node-a", 3) + kGpuClass +
           claim("big", "    requests:\n" +
                            request("gpu", 1,
                                    "        selectors:\n        - cel: {expression: "
                                    "\"device.attributes['gpu.nvidia.com'].index > 5\"}\n")));
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_FALSE(a->ok);
  ASSERT_FALSE(a->not_fitting[0].reasons.empty());
  EXPECT_NE(a->not_fitting[0].reasons[0].find("3 by the request's selectors"), std::string::npos)
      << a->not_fitting[0].reasons[0];
}

TEST(AllocatorTest, FirstAvailableTakesTheFirstSubrequestThatFits) {
  const Inputs in = read(gpu_slice("node-a", 2) + kGpuClass +
                         claim("flex",
                               "    requests:\n    - name: gpus\n      firstAvailable:\n"
                               "      - {name: four, deviceClassName: gpu.nvidia.com, count: 4}\n"
                               "      - {name: two, deviceClassName: gpu.nvidia.com, count: 2}\n"));
  auto a = allocate(in);
  ASSERT_TRUE(a && a->ok);
  ASSERT_EQ(a->claims[0].results.size(), 2u);
  EXPECT_EQ(a->claims[0].results[0].request, "gpus/two");
}

TEST(AllocatorTest, AllModeTakesEveryMatchingDevice) {
  const Inputs in = read(gpu_slice("node-a", 3) + kGpuClass +
                         claim("all",
                               "    requests:\n    - name: gpus\n      exactly: "
                               "{deviceClassName: gpu.nvidia.com, allocationMode: All}\n"));
  auto a = allocate(in);
  ASSERT_TRUE(a && a->ok);
  EXPECT_EQ(a->claims[0].results.size(), 3u);
}

TEST(AllocatorTest, AllModeOnAnIncompletePoolIsAnError) {
  const Inputs in = read(gpu_slice("node-a", 2, "pool-a", 1, 2) + kGpuClass +
                         claim("all",
                               "    requests:\n    - name: gpus\n      exactly: "
                               "{deviceClassName: gpu.nvidia.com, allocationMode: All}\n"));
  auto a = allocate(in);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("being updated"), std::string::npos) << a.error().message;
}

TEST(AllocatorTest, OnlyTheNewestGenerationCounts) {
  std::string old_slice = gpu_slice("node-a", 4, "pool-a", 1);
  std::string new_slice = gpu_slice("node-a", 1, "pool-a", 2);
  new_slice.replace(new_slice.find("node-a-gpus"), 11, "node-a-gpus-v2");
  const Inputs in =
      read(old_slice + new_slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 2)));
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->ok);  // generation 2 has one device
}

TEST(AllocatorTest, UnknownClassAndBadCelAreErrors) {
  std::string bad_request =
      claim("c", "    requests:\n    - name: x\n      exactly: {deviceClassName: nope}\n");
  auto a = allocate(read(gpu_slice("node-a", 1) + kGpuClass + bad_request));
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("could not retrieve device class nope"), std::string::npos);

  auto missing_key = allocate(
      read(gpu_slice("node-a", 1) + kGpuClass +
           claim("c", "    requests:\n" +
                          request("gpu", 1,
                                  "        selectors:\n        - cel: {expression: "
                                  "\"device.attributes['gpu.nvidia.com'].nope == 1\"}\n"))));
  ASSERT_FALSE(missing_key);
  EXPECT_NE(missing_key.error().message.find("no such key"), std::string::npos)
      << missing_key.error().message;
  EXPECT_NE(missing_key.error().message.find("ResourceClaim ml/c"), std::string::npos);
}

TEST(AllocatorTest, DuplicateDeviceNamesMakeThePoolInvalid) {
  std::string slice = gpu_slice("node-a", 2);
  slice.replace(slice.find("gpu-1"), 5, "gpu-0");
  auto a = allocate(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))));
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("appears twice"), std::string::npos) << a.error().message;
}

TEST(AllocatorTest, TooManyDevicesForOneClaim) {
  auto a = allocate(read(gpu_slice("node-a", 1) + kGpuClass +
                         claim("c", "    requests:\n" + request("gpu", 33))));
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("exceeds the claim limit"), std::string::npos);
}

TEST(AllocatorTest, TaintsNeedTolerations) {
  std::string slice = gpu_slice("node-a", 1);
  slice.replace(slice.find("    capacity:"), 0,
                "    taints: [{key: maintenance, value: 'true', effect: NoSchedule}]\n");
  auto untolerated =
      allocate(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))));
  ASSERT_TRUE(untolerated) << untolerated.error().message;
  ASSERT_FALSE(untolerated->ok);
  EXPECT_NE(untolerated->not_fitting[0].reasons[0].find("maintenance=true:NoSchedule"),
            std::string::npos)
      << untolerated->not_fitting[0].reasons[0];
  auto tolerated = allocate(read(
      slice + kGpuClass +
      claim("c", "    requests:\n" +
                     request("gpu", 1,
                             "        tolerations: [{key: maintenance, operator: Exists}]\n"))));
  ASSERT_TRUE(tolerated && tolerated->ok);
}

TEST(AllocatorTest, SharedCountersLimitPartitions) {
  // Two MIG-like partitions that each take 4 of the 7 slices of one GPU: only one fits.
  const std::string slice =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: s}\nspec:\n"
      "  driver: gpu.nvidia.com\n  nodeName: node-a\n  pool: {name: p, generation: 1, "
      "resourceSliceCount: 1}\n"
      "  sharedCounters:\n  - name: gpu-0\n    counters:\n      slices: {value: '7'}\n"
      "  devices:\n"
      "  - name: mig-a\n    attributes: {type: {string: gpu}}\n"
      "    consumesCounters: [{counterSet: gpu-0, counters: {slices: {value: '4'}}}]\n"
      "  - name: mig-b\n    attributes: {type: {string: gpu}}\n"
      "    consumesCounters: [{counterSet: gpu-0, counters: {slices: {value: '4'}}}]\n---\n";
  auto two = allocate(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 2))));
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_FALSE(two->ok);
  auto one = allocate(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))));
  ASSERT_TRUE(one && one->ok);
}

TEST(AllocatorTest, NodeSelectorSlicesAndNodes) {
  const std::string slice =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: net}\nspec:\n"
      "  driver: gpu.nvidia.com\n  pool: {name: fabric, generation: 1, resourceSliceCount: 1}\n"
      "  nodeSelector:\n    nodeSelectorTerms:\n    - matchExpressions:\n"
      "      - {key: zone, operator: In, values: [z1]}\n"
      "  devices:\n  - name: nic-0\n    attributes: {type: {string: gpu}}\n---\n";
  const std::string nodes =
      "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {zone: z2}}\n---\n"
      "apiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {zone: z1}}\n---\n";
  auto a =
      allocate(read(slice + nodes + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))));
  ASSERT_TRUE(a && a->ok);
  EXPECT_EQ(a->node, "n2");
  EXPECT_EQ(a->claims[0].node_selector["nodeSelectorTerms"][0]["matchExpressions"][0]["key"],
            "zone");
}

TEST(AllocatorTest, ClaimConfigComesAfterClassConfig) {
  const Inputs in =
      read(gpu_slice("node-a", 1) + kGpuClass +
           claim("c", "    requests:\n" + request("gpu", 1) +
                          "    config:\n    - requests: [gpu]\n      opaque: {driver: "
                          "gpu.nvidia.com, parameters: {mode: exclusive}}\n"));
  auto a = allocate(in);
  ASSERT_TRUE(a && a->ok);
  ASSERT_EQ(a->claims[0].config.size(), 2u);
  EXPECT_EQ(a->claims[0].config[0].source, "FromClass");
  EXPECT_EQ(a->claims[0].config[1].source, "FromClaim");
}

TEST(AllocatorTest, CombinationsNotPermutationsKeepTheWorstCaseFast) {
  // 64 identical GPUs, a claim for 8 with a constraint no pair satisfies after the first
  // device: without pruning and combinations this explodes.
  std::string slice = gpu_slice("node-a", 64);
  const Inputs in = read(slice + kGpuClass +
                         claim("c", "    requests:\n" + request("gpu", 3) +
                                        "    constraints:\n    - matchAttribute: "
                                        "resource.kubernetes.io/pcieRoot\n"));
  AllocatorOptions options;
  options.max_steps = 5'000'000;
  auto a = allocate(in, options);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->ok);  // only two GPUs per PCIe root
}

TEST(AllocatorTest, AdminAccessUsesDevicesInUseWithoutHoldingThem) {
  std::string held = claim("held", "    requests:\n" + request("gpu", 1));
  held.replace(
      held.find("---"), 3,
      "status:\n  allocation:\n    devices:\n      results:\n      - {request: gpu, driver: "
      "gpu.nvidia.com, pool: node-a, device: gpu-0}\n---");
  const Inputs in =
      read(gpu_slice("node-a", 1) + kGpuClass + held +
           claim("monitor", "    requests:\n" + request("gpu", 1, "        adminAccess: true\n")) +
           claim("other", "    requests:\n" + request("gpu", 1)));
  // The monitor gets gpu-0 despite the holder; "other" does not (gpu-0 is still held).
  auto a = allocate(in);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->ok);
  Inputs only_monitor = in;
  only_monitor.claims.pop_back();
  auto m = allocate(only_monitor);
  ASSERT_TRUE(m && m->ok);
  ASSERT_EQ(m->claims[0].results.size(), 1u);
  EXPECT_TRUE(m->claims[0].results[0].admin_access);
  EXPECT_EQ(allocated_list(
                only_monitor,
                *m)["items"][1]["status"]["allocation"]["devices"]["results"][0]["adminAccess"],
            true);
}

TEST(AllocatorTest, IncompletePoolStillServesExactCount) {
  auto a = allocate(read(gpu_slice("node-a", 2, "pool-a", 1, 2) + kGpuClass +
                         claim("c", "    requests:\n" + request("gpu", 2))));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(a->ok);
}

TEST(AllocatorTest, AllNodesDevicesTieTheClaimToNoNode) {
  const std::string slice =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: net}\nspec:\n"
      "  driver: gpu.nvidia.com\n  allNodes: true\n  pool: {name: fabric, generation: 1, "
      "resourceSliceCount: 1}\n"
      "  devices:\n  - name: vf-0\n    attributes: {type: {string: gpu}}\n---\n";
  auto a = allocate(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))));
  ASSERT_TRUE(a && a->ok);
  EXPECT_TRUE(a->claims[0].node_selector.is_null());
  EXPECT_FALSE(
      allocated_list(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))),
                     *a)["items"][0]["status"]["allocation"]
          .contains("nodeSelector"));
}

TEST(AllocatorTest, PerDeviceNodeSelection) {
  const std::string slice =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: mixed}\nspec:\n"
      "  driver: gpu.nvidia.com\n  perDeviceNodeSelection: true\n"
      "  pool: {name: rack, generation: 1, resourceSliceCount: 1}\n"
      "  devices:\n"
      "  - {name: d-x, nodeName: node-x, attributes: {type: {string: gpu}}}\n"
      "  - {name: d-y, nodeName: node-y, attributes: {type: {string: gpu}}}\n---\n";
  AllocatorOptions options;
  options.node = "node-y";
  auto a = allocate(read(slice + kGpuClass + claim("c", "    requests:\n" + request("gpu", 1))),
                    options);
  ASSERT_TRUE(a && a->ok);
  EXPECT_EQ(a->claims[0].results[0].device, "d-y");
  EXPECT_EQ(a->claims[0].node_selector["nodeSelectorTerms"][0]["matchFields"][0]["values"][0],
            "node-y");
  // Without per-device node selection a device may not name a node.
  std::string bad = slice;
  bad.replace(bad.find("  perDeviceNodeSelection: true\n"), 30, "  allNodes: true\n");
  Inputs inputs;
  auto docs = read_documents(bad, "bad.yaml");
  ASSERT_TRUE(docs);
  auto added = add_object((*docs)[0], "bad.yaml", inputs);
  ASSERT_FALSE(added);
  EXPECT_NE(added.error().message.find("perDeviceNodeSelection"), std::string::npos)
      << added.error().message;
}

TEST(AllocatorTest, CommitHoldsDevicesForTheNextAllocation) {
  const Inputs cluster = read(gpu_slice("node-a", 2) + gpu_slice("node-b", 2) + kGpuClass);
  Allocator allocator(cluster);
  const Inputs claims = read(claim("c", "    requests:\n" + request("gpu", 2)));
  std::vector<std::string> nodes;
  for (int i = 0; i < 3; ++i) {
    auto a = allocator.allocate(claims.claims);
    ASSERT_TRUE(a) << a.error().message;
    if (!a->ok) break;
    nodes.push_back(a->node);
    allocator.commit(*a);
  }
  EXPECT_EQ(nodes, (std::vector<std::string>{"node-a", "node-b"}));
}

}  // namespace
}  // namespace kgai::dra
