#include "sim/engine.h"

#include <algorithm>

namespace kgai::sim {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
  }
  return "unknown";
}

namespace {

int64_t blocks_for(int64_t tokens, int block_size) {
  return (tokens + block_size - 1) / block_size;
}

}  // namespace

Engine::Engine(EngineConfig config, const catalog::LatencyModel& latency)
    : config_(config),
      latency_(latency),
      kv_(config.num_gpu_blocks, config.block_size, config.enable_prefix_caching) {
  if (!config_.enable_chunked_prefill) {
    // As vLLM: without chunking a whole prompt must fit in one step's budget.
    config_.max_num_batched_tokens =
        std::max(config_.max_num_batched_tokens, config_.max_model_len);
  }
}

Result<void> Engine::add(NewRequest request) {
  if (request.prompt_tokens < 1) return fail("request {}: empty prompt", request.id);
  if (request.max_tokens < 1) return fail("request {}: max_tokens must be at least 1", request.id);
  const int64_t longest = int64_t{request.prompt_tokens} + request.max_tokens;
  if (longest > config_.max_model_len) {
    return fail("request {}: prompt ({} tokens) + max_tokens ({}) exceeds max_model_len {}",
                request.id, request.prompt_tokens, request.max_tokens, config_.max_model_len);
  }
  if (blocks_for(longest, config_.block_size) > kv_.num_blocks()) {
    return fail("request {}: needs {} KV blocks but the cache has {}", request.id,
                blocks_for(longest, config_.block_size), kv_.num_blocks());
  }
  if (queue_full()) {
    return fail("waiting queue is full ({} requests)", config_.max_waiting);
  }
  if (slot_of_.contains(request.id)) return fail("request id {} already in use", request.id);

  size_t slot;
  if (free_slots_.empty()) {
    slot = slots_.size();
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  Request& r = slots_[slot];
  r.blocks.clear();  // keeps its capacity from the previous occupant
  r.spec = std::move(request);
  r.num_tokens = r.spec.prompt_tokens;
  r.num_computed = 0;
  r.output_tokens = 0;
  r.cached_tokens = -1;
  r.registered_blocks = 0;
  r.first_scheduled = r.first_token = r.last_token = -1;
  r.active = true;
  slot_of_.emplace(r.spec.id, slot);
  waiting_.push_back(slot);
  return {};
}

bool Engine::queue_full() const {
  return config_.max_waiting > 0 && static_cast<int>(waiting_.size()) >= config_.max_waiting;
}

std::optional<FinishedRequest> Engine::abort(RequestId id, double now) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  size_t slot = it->second;
  if (auto pos = std::find(running_.begin(), running_.end(), slot); pos != running_.end()) {
    running_.erase(pos);
  } else if (auto wpos = std::find(waiting_.begin(), waiting_.end(), slot);
             wpos != waiting_.end()) {
    waiting_.erase(wpos);
  }
  return finish(slots_[slot], FinishReason::kAbort, now);
}

int Engine::tokens_to_schedule(const Request& r, int budget) const {
  int n = r.num_tokens - r.num_computed;
  if (config_.long_prefill_token_threshold > 0) {
    n = std::min(n, config_.long_prefill_token_threshold);
  }
  return std::min(n, budget);
}

void Engine::preempt(size_t slot) {
  Request& r = slots_[slot];
  kv_.release(r.blocks);
  r.num_computed = 0;
  r.registered_blocks = 0;
  waiting_.push_front(slot);
  ++counters_.preemptions;
  ++output_.preemptions;
}

bool Engine::schedule_running(int& budget) {
  bool preempted = false;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    const size_t slot = running_[i];
    Request& r = slots_[slot];
    const int n = tokens_to_schedule(r, budget);
    if (n <= 0) continue;
    const auto needed = static_cast<size_t>(blocks_for(r.num_computed + n, config_.block_size));
    bool scheduled = false;
    while (true) {
      if (kv_.allocate(r.blocks, {}, needed)) {
        scheduled = true;
        break;
      }
      // Out of blocks: preempt the newest running request (vLLM's FCFS policy), which may
      // be this one.
      const size_t victim = running_.back();
      running_.pop_back();
      preempt(victim);
      preempted = true;
      if (victim == slot) break;
    }
    if (!scheduled) break;
    scheduled_.push_back({slot, n});
    budget -= n;
  }
  return preempted;
}

void Engine::schedule_waiting(int& budget, double now) {
  // As vLLM: the adapters of the running requests scheduled so far this step.
  step_loras_.clear();
  for (const auto& s : scheduled_) add_unique_lora(slots_[s.slot].spec.lora, step_loras_);
  skipped_.clear();
  const int bs = config_.block_size;
  while (!waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    const size_t slot = waiting_.front();
    Request& r = slots_[slot];
    const int lora = r.spec.lora;
    const bool lora_resident =
        !lora || std::find(step_loras_.begin(), step_loras_.end(), lora) != step_loras_.end();
    if (!lora_resident && static_cast<int>(step_loras_.size()) >= config_.max_loras) {
      // All adapter slots are taken by other adapters: let later requests go first.
      skipped_.push_back(slot);
      waiting_.pop_front();
      continue;
    }
    hits_.clear();
    // At least the last prompt token must be computed to sample from it.
    kv_.find_cached_prefix(r.spec.block_hashes, static_cast<size_t>((r.num_tokens - 1) / bs),
                           hits_);
    const int computed = static_cast<int>(hits_.size()) * bs;
    int n = r.num_tokens - computed;
    if (!config_.enable_chunked_prefill && n > budget) break;
    if (config_.long_prefill_token_threshold > 0) {
      n = std::min(n, config_.long_prefill_token_threshold);
    }
    n = std::min(n, budget);
    const auto needed = static_cast<size_t>(blocks_for(computed + n, bs));
    if (!kv_.allocate(r.blocks, hits_, needed)) break;

    r.num_computed = computed;
    r.registered_blocks = static_cast<int>(hits_.size());
    counters_.prefix_queries += static_cast<uint64_t>(r.num_tokens);
    counters_.prefix_hits += static_cast<uint64_t>(computed);
    if (r.cached_tokens < 0) {
      r.cached_tokens = computed;
      r.first_scheduled = now;
    }
    waiting_.pop_front();
    running_.push_back(slot);
    scheduled_.push_back({slot, n});
    budget -= n;
    if (!lora_resident) step_loras_.push_back(lora);
  }
  for (auto it = skipped_.rbegin(); it != skipped_.rend(); ++it) waiting_.push_front(*it);
}

int Engine::load_step_loras() {
  int loads = 0;
  for (int lora : step_loras_) {
    auto it = std::find(resident_loras_.begin(), resident_loras_.end(), lora);
    if (it != resident_loras_.end()) {
      resident_loras_.erase(it);
    } else {
      ++loads;
      if (static_cast<int>(resident_loras_.size()) >= std::max(1, config_.max_loras)) {
        resident_loras_.erase(resident_loras_.begin());  // least recently used
      }
    }
    resident_loras_.push_back(lora);
  }
  return loads;
}

void Engine::forget_lora(int lora) { std::erase(resident_loras_, lora); }

const StepOutput& Engine::step(double now) {
  output_.start = now;
  output_.duration = 0;
  output_.tokens.clear();
  output_.finished.clear();
  output_.prefill_tokens = output_.decode_tokens = output_.num_scheduled = 0;
  output_.preemptions = output_.lora_loads = 0;
  if (!has_work()) return output_;

  scheduled_.clear();
  int budget = config_.max_num_batched_tokens;
  const bool preempted = schedule_running(budget);
  if (!preempted) {
    schedule_waiting(budget, now);
  } else {
    step_loras_.clear();
    for (const auto& s : scheduled_) add_unique_lora(slots_[s.slot].spec.lora, step_loras_);
  }
  if (scheduled_.empty()) return output_;

  shape_ = {};
  for (const auto& s : scheduled_) {
    const Request& r = slots_[s.slot];
    const bool prefill = r.num_computed + s.num_new < r.num_tokens || s.num_new > 1;
    shape_.add(s.num_new, r.num_computed, prefill);
  }
  output_.prefill_tokens = static_cast<int>(shape_.prefill_tokens);
  output_.decode_tokens = static_cast<int>(shape_.decode_tokens);
  output_.num_scheduled = static_cast<int>(scheduled_.size());

  double duration = latency_.step_seconds(shape_);
  if (!step_loras_.empty()) duration *= 1.0 + config_.lora_step_overhead;
  const int loads = load_step_loras();
  output_.lora_loads = loads;
  counters_.lora_loads += static_cast<uint64_t>(loads);
  duration += loads * config_.lora_load_seconds;
  output_.duration = duration;
  ++counters_.steps;

  complete_step(now + duration);
  return output_;
}

void Engine::complete_step(double end) {
  const int bs = config_.block_size;
  bool any_finished = false;
  for (const auto& s : scheduled_) {
    Request& r = slots_[s.slot];
    r.num_computed += s.num_new;
    if (r.num_computed < r.num_tokens) {
      register_blocks(r);
      continue;  // a prefill chunk that samples nothing
    }

    // The step sampled one token for this request.
    const double gap = r.last_token < 0 ? 0.0 : end - r.last_token;
    output_.tokens.push_back({r.spec.id, r.output_tokens, gap});
    if (r.first_token < 0) {
      r.first_token = end;
      counters_.prompt_tokens += static_cast<uint64_t>(r.spec.prompt_tokens);
    }
    r.last_token = end;
    ++r.output_tokens;
    ++r.num_tokens;
    ++counters_.generation_tokens;
    // The tokens before the one just sampled now all have their KV: generated blocks that
    // filled up get their hashes (only when a new block can be full, to keep decode cheap).
    if (hasher_ && config_.enable_prefix_caching &&
        r.num_computed / bs > static_cast<int>(r.spec.block_hashes.size())) {
      hasher_->extend(r.spec, r.output_tokens - 1, r.spec.block_hashes);
    }
    register_blocks(r);
    if (r.output_tokens >= r.spec.max_tokens || r.num_tokens >= config_.max_model_len) {
      output_.finished.push_back(finish(r, FinishReason::kLength, end));
      any_finished = true;
    } else if (r.output_tokens >= r.spec.natural_length) {
      output_.finished.push_back(finish(r, FinishReason::kStop, end));
      any_finished = true;
    }
  }
  if (any_finished) {
    std::erase_if(running_, [this](size_t slot) { return !slots_[slot].active; });
  }
}

void Engine::register_blocks(Request& r) {
  const int full_blocks =
      std::min(r.num_computed / config_.block_size, static_cast<int>(r.spec.block_hashes.size()));
  for (; r.registered_blocks < full_blocks; ++r.registered_blocks) {
    kv_.register_full_block(r.blocks[static_cast<size_t>(r.registered_blocks)],
                            r.spec.block_hashes[static_cast<size_t>(r.registered_blocks)]);
  }
}

FinishedRequest Engine::finish(Request& r, FinishReason reason, double when) {
  FinishedRequest f;
  f.id = r.spec.id;
  f.reason = reason;
  f.lora = r.spec.lora;
  f.prompt_tokens = r.spec.prompt_tokens;
  f.output_tokens = r.output_tokens;
  f.cached_tokens = std::max(0, r.cached_tokens);
  f.max_tokens = r.spec.max_tokens;
  f.arrival = r.spec.arrival;
  f.first_scheduled = r.first_scheduled;
  f.first_token = r.first_token;
  f.finished = when;
  kv_.release(r.blocks);
  auto it = slot_of_.find(r.spec.id);
  free_slots_.push_back(it->second);
  slot_of_.erase(it);
  r.active = false;
  return f;
}

void Engine::add_unique_lora(int lora, std::vector<int>& loras) {
  if (lora && std::find(loras.begin(), loras.end(), lora) == loras.end()) loras.push_back(lora);
}

template <typename Slots>
void Engine::collect_loras(const Slots& slots, std::vector<int>& out) const {
  out.clear();
  for (size_t slot : slots) add_unique_lora(slots_[slot].spec.lora, out);
}

std::vector<int> Engine::running_loras() const {
  std::vector<int> out;
  collect_loras(running_, out);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> Engine::waiting_loras() const {
  std::vector<int> out;
  collect_loras(waiting_, out);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kgai::sim
