// Reads the routing signals (queue, running batch, KV-cache use, LoRA adapters, KV geometry)
// out of one model server's /metrics page. Each engine names them differently
// (as vLLM, SGLang, trtllm-serve and Triton document their metrics); the
// datastore calls this after every scrape, so it is one parse plus a few lookups.
#pragma once

#include <string_view>

#include "common/result.h"
#include "gateway/endpoint.h"

namespace kgai::gateway {

// Parses the lines of the families below out of `prometheus_text` strictly
// (prom::parse_text with a FamilyFilter: other families' lines are skipped on their name,
// which makes a vLLM page several times cheaper) and maps `engine`'s metric names onto
// EngineMetrics (waiting, running, kv_usage, block_size, num_blocks):
//   vLLM:   vllm:num_requests_waiting, vllm:num_requests_running, vllm:kv_cache_usage_perc
//           (else the older vllm:gpu_cache_usage_perc), vllm:cache_config_info labels
//           block_size and num_gpu_blocks; LoRA from vllm:lora_requests_info.
//   SGLang: sglang:num_queue_reqs, sglang:num_running_reqs, sglang:token_usage,
//           sglang:cache_config_info labels page_size and num_pages.
//   trtllm-serve: trtllm_num_requests_waiting, trtllm_num_requests_running,
//           trtllm_kv_cache_utilization, trtllm_kv_cache_tokens_per_block,
//           trtllm_kv_cache_max_blocks.
// Triton's TensorRT-LLM backend uses label selectors: nv_trt_llm_request_metrics with
// request_type "waiting" / "scheduled", nv_trt_llm_kv_cache_block_metrics with
// kv_cache_block_type "fraction" / "tokens_per" / "max".
//
// A server with several engine cores (vLLM data parallel) or several models (Triton)
// exposes one series per core or model. Counts (waiting, running, num_blocks) are summed,
// because the endpoint as a whole holds that many requests and blocks; KV use is averaged,
// because it is a share of each core's own cache and the cores are sized alike; block_size
// comes from the first series (the cores share one configuration).
//
// vLLM's lora_requests_info is one sample per update whose value is the wall-clock time of
// that update: the sample with the largest value is the current one. Its adapter lists are
// comma-joined names (empty for none) and max_lora is the server's adapter slot count.
//
// Missing metrics leave the field empty, which is not an error: old servers lack some, and
// a server that just started may not have cache_config_info yet. Likewise a non-finite
// sample (NaN from an unset gauge) or an info label that is not an integer (vLLM writes
// num_gpu_blocks="None" before its memory profile ran) reads as absent. KV use is clamped
// to [0, 1]. A malformed line of a family read here is an error from the parser, naming
// line and column; malformed lines of other families are not looked at (see parse_text).
Result<EngineMetrics> read_engine_metrics(std::string_view prometheus_text, EngineType engine);

}  // namespace kgai::gateway
