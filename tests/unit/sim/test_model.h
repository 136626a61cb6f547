// A small model and accelerator for engine tests, independent of the shipped catalog so that
// recalibrating the catalog never changes what these tests mean.
#pragma once

#include "catalog/catalog.h"
#include "catalog/latency_model.h"

namespace kgai::sim::testing {

inline catalog::ModelSpec tiny_model() {
  catalog::ModelSpec m;
  m.name = "test/tiny";
  m.num_layers = 4;
  m.hidden_size = 512;
  m.num_heads = 8;
  m.num_kv_heads = 8;
  m.head_dim = 64;
  m.intermediate_size = 2048;
  m.vocab_size = 32000;
  m.num_params = 50e6;
  m.active_params = 50e6;
  m.max_model_len = 4096;
  return m;
}

inline catalog::AcceleratorSpec test_accelerator() {
  catalog::AcceleratorSpec a;
  a.name = "test-gpu";
  a.peak_flops = 100e12;
  a.memory_bytes = 16e9;
  a.memory_bandwidth = 1e12;
  a.interconnect_bandwidth = 100e9;
  return a;
}

}  // namespace kgai::sim::testing
