// Micro benchmarks of the simulator's hot paths: one engine step at several batch sizes, and
// the whole virtual-time runner per simulated request.
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "sim/engine.h"
#include "sim/offline_runner.h"
#include "sim/setup.h"

namespace {

using namespace kgai;

const sim::Setup& llama_on_h100() {
  static const catalog::Catalog catalog = *catalog::Catalog::builtin();
  static const sim::Setup setup = [] {
    sim::SetupRequest request;
    request.model = "llama-3.1-8b";
    request.accelerator = "h100";
    return std::move(*sim::make_setup(catalog, request));
  }();
  return setup;
}

// Steady decode: `batch` requests decoding with 1k tokens of context, refilled as they end.
void BM_DecodeStep(benchmark::State& state) {
  const auto& setup = llama_on_h100();
  sim::Engine engine(setup.engine, *setup.latency);
  const int batch = static_cast<int>(state.range(0));
  sim::RequestId next = 1;
  auto refill = [&] {
    while (engine.num_running() + engine.num_waiting() < batch) {
      sim::NewRequest r;
      r.id = next++;
      r.prompt_tokens = 1000;
      r.max_tokens = 200;
      (void)engine.add(std::move(r));
    }
  };
  double now = 0;
  refill();
  for (int i = 0; i < 50; ++i) now = engine.step(now).end();  // past the prefills
  for (auto _ : state) {
    const auto& out = engine.step(now);
    now = out.end();
    if (!out.finished.empty()) refill();
    benchmark::DoNotOptimize(out.duration);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_DecodeStep)->Arg(1)->Arg(64)->Arg(256)->Arg(1024);

// The whole offline runner: 200 tokens in, 60 out, Poisson; items = simulated requests.
void BM_OfflineRun(benchmark::State& state) {
  const auto& setup = llama_on_h100();
  sim::OfflineOptions options;
  options.engine = setup.engine;
  options.workload.rate = static_cast<double>(state.range(0));
  options.workload.num_requests = 20000;
  options.workload.input = sim::LengthDistribution::fixed(200);
  options.workload.output = sim::LengthDistribution::fixed(60);
  for (auto _ : state) {
    auto summary = sim::run_offline(options, *setup.latency);
    benchmark::DoNotOptimize(summary);
  }
  state.SetItemsProcessed(state.iterations() * options.workload.num_requests);
}
BENCHMARK(BM_OfflineRun)->Arg(20)->Arg(100)->Unit(benchmark::kMillisecond);

}  // namespace
