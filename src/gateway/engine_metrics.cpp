#include "gateway/engine_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "common/prometheus.h"

namespace kgai::gateway {
namespace {

// One series set: the samples called `name` whose label `label` equals `value` (any sample
// when `label` is empty).
struct Selector {
  std::string_view name;
  std::string_view label = {};
  std::string_view value = {};
};

// Where each signal lives for one engine.
struct EngineNames {
  Selector waiting;
  Selector running;
  Selector kv_usage;
  Selector kv_usage_old;  // an older name, read when kv_usage is absent
  // Either an info metric whose labels carry the geometry (vLLM, SGLang), or plain gauges.
  Selector cache_info;
  std::string_view block_size_label;
  std::string_view num_blocks_label;
  Selector block_size;
  Selector num_blocks;
};

const EngineNames& names_for(EngineType engine) {
  static const EngineNames kVllm{
      .waiting = {"vllm:num_requests_waiting"},
      .running = {"vllm:num_requests_running"},
      .kv_usage = {"vllm:kv_cache_usage_perc"},
      .kv_usage_old = {"vllm:gpu_cache_usage_perc"},
      .cache_info = {"vllm:cache_config_info"},
      .block_size_label = "block_size",
      .num_blocks_label = "num_gpu_blocks",
  };
  static const EngineNames kSglang{
      .waiting = {"sglang:num_queue_reqs"},
      .running = {"sglang:num_running_reqs"},
      .kv_usage = {"sglang:token_usage"},
      .cache_info = {"sglang:cache_config_info"},
      .block_size_label = "page_size",
      .num_blocks_label = "num_pages",
  };
  static const EngineNames kTrtllm{
      .waiting = {"trtllm_num_requests_waiting"},
      .running = {"trtllm_num_requests_running"},
      .kv_usage = {"trtllm_kv_cache_utilization"},
      .block_size = {"trtllm_kv_cache_tokens_per_block"},
      .num_blocks = {"trtllm_kv_cache_max_blocks"},
  };
  static const EngineNames kTriton{
      .waiting = {"nv_trt_llm_request_metrics", "request_type", "waiting"},
      .running = {"nv_trt_llm_request_metrics", "request_type", "scheduled"},
      .kv_usage = {"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "fraction"},
      .block_size = {"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "tokens_per"},
      .num_blocks = {"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "max"},
  };
  switch (engine) {
    case EngineType::kSglang:
      return kSglang;
    case EngineType::kTrtllm:
      return kTrtllm;
    case EngineType::kTriton:
      return kTriton;
    case EngineType::kVllm:
      break;
  }
  return kVllm;
}

constexpr std::string_view kVllmLoraInfo = "vllm:lora_requests_info";

// The families read_engine_metrics reads for `engine`, so the scrape parses only their
// lines (a vLLM page is mostly histograms no signal comes from).
const prom::FamilyFilter& families_for(EngineType engine) {
  auto build = [](EngineType type) {
    const EngineNames& names = names_for(type);
    std::vector<std::string_view> wanted;
    for (const Selector* selector :
         {&names.waiting, &names.running, &names.kv_usage, &names.kv_usage_old, &names.cache_info,
          &names.block_size, &names.num_blocks}) {
      if (!selector->name.empty()) wanted.push_back(selector->name);
    }
    if (type == EngineType::kVllm) wanted.push_back(kVllmLoraInfo);
    return prom::FamilyFilter(wanted);
  };
  static const prom::FamilyFilter kVllm = build(EngineType::kVllm);
  static const prom::FamilyFilter kSglang = build(EngineType::kSglang);
  static const prom::FamilyFilter kTrtllm = build(EngineType::kTrtllm);
  static const prom::FamilyFilter kTriton = build(EngineType::kTriton);
  switch (engine) {
    case EngineType::kSglang:
      return kSglang;
    case EngineType::kTrtllm:
      return kTrtllm;
    case EngineType::kTriton:
      return kTriton;
    case EngineType::kVllm:
      break;
  }
  return kVllm;
}

// Calls `fn(sample)` for each sample `selector` picks.
template <typename Fn>
void for_each_sample(const prom::Exposition& exposition, const Selector& selector, Fn&& fn) {
  const prom::MetricFamily* family = exposition.find(selector.name);
  if (family == nullptr) return;
  for (const prom::Sample& sample : family->samples) {
    if (sample.name != selector.name) continue;
    if (!selector.label.empty()) {
      const std::string* value = sample.label(selector.label);
      if (value == nullptr || *value != selector.value) continue;
    }
    fn(sample);
  }
}

enum class Combine { kSum, kMean };

std::optional<double> read_gauge(const prom::Exposition& exposition, const Selector& selector,
                                 Combine combine) {
  double sum = 0;
  int count = 0;
  for_each_sample(exposition, selector, [&](const prom::Sample& sample) {
    if (!std::isfinite(sample.value)) return;
    sum += sample.value;
    ++count;
  });
  if (count == 0) return std::nullopt;
  return combine == Combine::kSum ? sum : sum / count;
}

// The whole text as a non-negative integer; nullopt for "None", "", "12.5" and the like.
std::optional<int64_t> parse_count(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

// A gauge that holds a whole count (trtllm's block gauges); non-integral values are absent.
std::optional<int64_t> as_count(std::optional<double> value) {
  if (!value || *value < 0 || *value > 9e15 || *value != std::floor(*value)) return std::nullopt;
  return static_cast<int64_t>(*value);
}

std::optional<int> as_block_size(std::optional<int64_t> value) {
  if (!value || *value <= 0 || *value > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(*value);
}

void read_cache_geometry(const prom::Exposition& exposition, const EngineNames& names,
                         EngineMetrics& out) {
  if (!names.cache_info.name.empty()) {
    std::optional<int64_t> block_size;
    std::optional<int64_t> num_blocks;
    for_each_sample(exposition, names.cache_info, [&](const prom::Sample& sample) {
      if (const std::string* text = sample.label(names.block_size_label); text && !block_size) {
        block_size = parse_count(*text);
      }
      if (const std::string* text = sample.label(names.num_blocks_label)) {
        if (auto blocks = parse_count(*text)) num_blocks = num_blocks.value_or(0) + *blocks;
      }
    });
    out.block_size = as_block_size(block_size);
    out.num_blocks = num_blocks;
    return;
  }
  // One block size per series: the first one that reads as a count.
  std::optional<int64_t> block_size;
  for_each_sample(exposition, names.block_size, [&](const prom::Sample& sample) {
    if (!block_size) block_size = as_count(sample.value);
  });
  out.block_size = as_block_size(block_size);
  std::optional<int64_t> num_blocks;
  for_each_sample(exposition, names.num_blocks, [&](const prom::Sample& sample) {
    if (auto blocks = as_count(sample.value)) num_blocks = num_blocks.value_or(0) + *blocks;
  });
  out.num_blocks = num_blocks;
}

// "a,b, c" into {"a", "b", "c"}; empty items (an empty list is written as "") are dropped.
std::vector<std::string> split_names(std::string_view joined) {
  std::vector<std::string> names;
  while (!joined.empty()) {
    const size_t comma = joined.find(',');
    std::string_view item = joined.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) names.emplace_back(item);
    if (comma == std::string_view::npos) break;
    joined.remove_prefix(comma + 1);
  }
  return names;
}

void read_vllm_loras(const prom::Exposition& exposition, EngineMetrics& out) {
  const prom::Sample* newest = nullptr;
  for_each_sample(exposition, {kVllmLoraInfo}, [&](const prom::Sample& sample) {
    if (std::isnan(sample.value)) return;
    if (newest == nullptr || sample.value > newest->value) newest = &sample;
  });
  if (newest == nullptr) return;
  if (const std::string* running = newest->label("running_lora_adapters")) {
    out.running_loras = split_names(*running);
  }
  if (const std::string* waiting = newest->label("waiting_lora_adapters")) {
    out.waiting_loras = split_names(*waiting);
  }
  if (const std::string* max_lora = newest->label("max_lora")) {
    auto slots = parse_count(*max_lora);
    if (slots && *slots <= std::numeric_limits<int>::max()) out.max_lora = static_cast<int>(*slots);
  }
}

}  // namespace

Result<EngineMetrics> read_engine_metrics(std::string_view prometheus_text, EngineType engine) {
  auto exposition = prom::parse_text(prometheus_text, families_for(engine));
  if (!exposition) return fail(std::move(exposition.error()));

  const EngineNames& names = names_for(engine);
  EngineMetrics out;
  out.waiting = read_gauge(*exposition, names.waiting, Combine::kSum);
  out.running = read_gauge(*exposition, names.running, Combine::kSum);
  auto kv = read_gauge(*exposition, names.kv_usage, Combine::kMean);
  if (!kv && !names.kv_usage_old.name.empty()) {
    kv = read_gauge(*exposition, names.kv_usage_old, Combine::kMean);
  }
  if (kv) out.kv_usage = std::clamp(*kv, 0.0, 1.0);
  read_cache_geometry(*exposition, names, out);
  if (engine == EngineType::kVllm) read_vllm_loras(*exposition, out);
  return out;
}

}  // namespace kgai::gateway
