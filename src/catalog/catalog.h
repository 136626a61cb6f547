// Models and accelerators: the data the latency model works from. The built-in catalog is
// data/catalog/*.yaml compiled into the binary; users add or override entries with their
// own YAML file (`--catalog FILE`). Names resolve by full name or alias, case-insensitively.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kgai::catalog {

struct ModelSpec {
  std::string name;                  // e.g. "meta-llama/Llama-3.1-8B-Instruct"
  std::vector<std::string> aliases;  // e.g. "llama-3.1-8b"
  int num_layers = 0;
  int hidden_size = 0;  // d_model
  int num_heads = 0;    // query heads
  int num_kv_heads = 0;
  int head_dim = 0;
  int intermediate_size = 0;  // FFN width (per expert for MoE)
  int vocab_size = 0;
  double num_params = 0;  // all weights
  // Weights touched per token (MoE: the active experts); = num_params if dense.
  double active_params = 0;
  int num_experts = 0;  // 0 for dense models
  int experts_per_token = 0;
  int bytes_per_param = 2;  // BF16
  int kv_bytes_per_element = 2;
  int max_model_len = 0;                       // context window in tokens
  int sliding_window = 0;                      // tokens; 0 = none
  double sliding_window_layer_fraction = 0.0;  // share of layers that use the window

  double weight_bytes() const { return num_params * bytes_per_param; }
  // K and V for every layer, for one token.
  double kv_bytes_per_token() const {
    return 2.0 * num_layers * num_kv_heads * head_dim * kv_bytes_per_element;
  }
};

// Efficiency factors of the roofline model (see docs/latency-model.md): what share of the peak a
// real server reaches, and fixed overheads. Calibrated per accelerator in the catalog data.
struct Efficiency {
  double compute_prefill = 0.45;      // eta_c when the step is dominated by prefill
  double compute_decode = 0.30;       // eta_c in decode
  double memory = 0.78;               // eta_m
  double step_fixed_s = 130e-6;       // t_fixed
  double per_layer_s = 32e-6;         // t_layer
  double per_request_s = 4e-6;        // t_req
  double allreduce_latency_s = 8e-6;  // per all-reduce when TP > 1
  // vLLM's API server (see sim/frontend.h): a delay every request pays without occupying the
  // server (network, IPC hops), and the serial CPU of its one process: per request (HTTP,
  // validation, chat template, hand-off), per prompt token (tokenization) and per output
  // token (detokenization, the SSE chunk).
  double frontend_s = 0.0;
  double frontend_cpu_s = 0.0;
  double frontend_cpu_per_prompt_token_s = 0.0;
  double frontend_cpu_per_output_token_s = 0.0;
};

struct AcceleratorSpec {
  std::string name;                  // e.g. "nvidia-h100-80gb"
  std::vector<std::string> aliases;  // e.g. "h100"
  std::string vendor;
  double peak_flops = 0;              // dense BF16 FLOP/s
  double memory_bytes = 0;            // HBM
  double memory_bandwidth = 0;        // bytes/s
  double interconnect_bandwidth = 0;  // bytes/s per direction between chips (TP all-reduce)
  std::map<std::string, double> price_per_hour;  // pricing model ("on-demand", "spot", ...) -> $
  int default_max_num_batched_tokens = 2048;
  int default_max_num_seqs = 256;
  Efficiency efficiency;
};

class Catalog {
 public:
  // The catalog compiled into the binary (data/catalog/*.yaml).
  static Result<Catalog> builtin();

  // Adds the models and accelerators in a YAML file; an entry whose name matches an
  // existing one replaces it. Errors name the file and the key, e.g.
  // "my.yaml: models[2].num_layers: expected a positive integer, got 'abc'".
  Result<void> load_file(const std::filesystem::path& path);
  Result<void> load_text(std::string_view yaml, std::string_view source_name);

  // By full name or alias, case-insensitive. The error lists the known names.
  Result<const ModelSpec*> model(std::string_view name) const;
  Result<const AcceleratorSpec*> accelerator(std::string_view name) const;

  const std::vector<ModelSpec>& models() const { return models_; }
  const std::vector<AcceleratorSpec>& accelerators() const { return accelerators_; }

 private:
  std::vector<ModelSpec> models_;
  std::vector<AcceleratorSpec> accelerators_;
};

}  // namespace kgai::catalog
