// kgai dra's allocator: claims per second on a big cluster, and the worst cases that make
// exhaustive search slow. Targets (docs/dra.md): >= 5,000 claims/s allocating 1-, 2-, 4- and
// 8-GPU claims on 1,000 nodes x 8 GPUs until full; each worst case < 100 ms.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "dra/allocator.h"

namespace kgai::dra {
namespace {

// NVIDIA-style GPUs: 8 per node, 4 per PCIe root.
Inputs gpu_cluster(int nodes, int gpus_per_node, int gpus_per_root) {
  Inputs in;
  for (int n = 0; n < nodes; ++n) {
    ResourceSlice s;
    s.name = fmt::format("node-{:04}-gpus", n);
    s.driver = "gpu.nvidia.com";
    s.pool = fmt::format("node-{:04}", n);
    s.generation = 1;
    s.node_name = s.pool;
    for (int g = 0; g < gpus_per_node; ++g) {
      Device d;
      d.name = fmt::format("gpu-{}", g);
      auto& nv = d.attributes["gpu.nvidia.com"];
      nv["type"] = std::string("gpu");
      nv["productName"] = std::string("NVIDIA H100 80GB HBM3");
      nv["uuid"] = fmt::format("GPU-{:04}-{}", n, g);
      nv["index"] = int64_t{g};
      d.attributes["resource.kubernetes.io"]["pcieRoot"] =
          fmt::format("pci0000:{:02x}", g / gpus_per_root);
      d.capacity["gpu.nvidia.com"]["memory"] = *Quantity::parse("80Gi");
      s.devices.push_back(std::move(d));
    }
    in.slices.push_back(std::move(s));
  }
  DeviceClass cls;
  cls.name = "gpu.nvidia.com";
  cls.selectors = {
      "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"};
  in.classes.push_back(std::move(cls));
  return in;
}

ResourceClaim gpu_claim(const std::string& name, int count, bool same_root) {
  ResourceClaim c;
  c.name = name;
  DeviceRequest r;
  r.name = "gpus";
  DeviceSelection sel;
  sel.device_class_name = "gpu.nvidia.com";
  sel.count = count;
  sel.selectors = {"device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA H100')"};
  r.exactly = sel;
  c.requests.push_back(std::move(r));
  if (same_root)
    c.constraints.push_back({{}, std::string("resource.kubernetes.io/pcieRoot"), std::nullopt});
  return c;
}

// 1-, 2-, 4-GPU claims on one PCIe root and whole-node 8-GPU claims, in turn, until a claim
// does not fit; then the rest of the sizes until none does.
void BM_FillCluster(benchmark::State& state) {
  const Inputs cluster = gpu_cluster(static_cast<int>(state.range(0)), 8, 4);
  int64_t claims = 0;
  for (auto _ : state) {
    Allocator allocator(cluster);
    const int sizes[] = {1, 2, 4, 8};
    bool fits[] = {true, true, true, true};
    for (int i = 0; fits[0] || fits[1] || fits[2] || fits[3]; ++i) {
      const int k = i % 4;
      if (!fits[k]) continue;
      std::vector<ResourceClaim> batch{gpu_claim(fmt::format("c{}", i), sizes[k], sizes[k] < 8)};
      auto a = allocator.allocate(batch);
      if (!a) {
        state.SkipWithError(a.error().message.c_str());
        return;
      }
      if (!a->ok) {
        fits[k] = false;
        continue;
      }
      allocator.commit(*a);
      ++claims;
    }
  }
  state.counters["claims_per_sec"] =
      benchmark::Counter(static_cast<double>(claims), benchmark::Counter::kIsRate);
  state.counters["claims_per_fill"] =
      benchmark::Counter(static_cast<double>(claims) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_FillCluster)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// Worst case: 128 identical devices on one node, 8 PCIe roots of 16; a claim for 17 on one
// root cannot fit, but a search without pruning learns that only after walking the subsets
// of every root (upstream walked permutations). 16 fits.
void BM_WorstCaseConstraintFailsLate(benchmark::State& state) {
  const Inputs cluster = gpu_cluster(1, 128, 16);
  const int count = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Allocator allocator(cluster);
    auto claim = gpu_claim("big", count, true);
    auto a = allocator.allocate({claim});
    if (!a) {
      state.SkipWithError(a.error().message.c_str());
      return;
    }
    if (a->ok != (count <= 16)) state.SkipWithError("unexpected outcome");
  }
}
BENCHMARK(BM_WorstCaseConstraintFailsLate)->Arg(16)->Arg(17)->Unit(benchmark::kMillisecond);

// Worst case: counts close to what is free — 127 of 128 identical devices, spread over many
// requests of one claim with distinct roots.
void BM_WorstCaseNearlyFull(benchmark::State& state) {
  const Inputs cluster = gpu_cluster(1, 32, 1);  // every device its own root
  for (auto _ : state) {
    Allocator allocator(cluster);
    ResourceClaim c;
    c.name = "spread";
    for (int r = 0; r < 4; ++r) {
      DeviceRequest req;
      req.name = fmt::format("r{}", r);
      DeviceSelection sel;
      sel.device_class_name = "gpu.nvidia.com";
      sel.count = 8;
      req.exactly = sel;
      c.requests.push_back(std::move(req));
    }
    c.constraints.push_back({{}, std::nullopt, std::string("resource.kubernetes.io/pcieRoot")});
    auto a = allocator.allocate({c});
    if (!a || !a->ok) state.SkipWithError("expected a fit");
  }
}
BENCHMARK(BM_WorstCaseNearlyFull)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kgai::dra
