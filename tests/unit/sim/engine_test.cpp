#include "sim/engine.h"

#include <map>

#include <gtest/gtest.h>

#include "test_model.h"

namespace kgai::sim {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : latency_(testing::tiny_model(), testing::test_accelerator(), 1) {
    config_.max_num_seqs = 8;
    config_.max_num_batched_tokens = 256;
    config_.max_model_len = 2048;
    config_.block_size = 16;
    config_.num_gpu_blocks = 256;
  }

  NewRequest request(RequestId id, int prompt, int max_tokens, uint64_t prefix_group = 0) {
    NewRequest r;
    r.id = id;
    r.prompt_tokens = prompt;
    r.max_tokens = max_tokens;
    // Block hashes: the group decides the content, so equal groups share prefixes.
    uint64_t parent = prefix_group * 1000 + 1;
    for (int i = 0; i < prompt / config_.block_size; ++i) {
      parent = parent * 31 + 7 + static_cast<uint64_t>(i);
      r.block_hashes.push_back(parent);
    }
    return r;
  }

  // Steps until idle; returns every finished record by id.
  std::map<RequestId, FinishedRequest> run_to_completion(Engine& engine, int max_steps = 100000) {
    std::map<RequestId, FinishedRequest> done;
    double now = 0;
    for (int i = 0; i < max_steps && engine.has_work(); ++i) {
      const StepOutput& out = engine.step(now);
      EXPECT_GT(out.num_scheduled, 0);
      now = out.end();
      for (const auto& f : out.finished) done[f.id] = f;
    }
    EXPECT_FALSE(engine.has_work());
    return done;
  }

  catalog::LatencyModel latency_;
  EngineConfig config_;
};

TEST_F(EngineTest, PrefillThenDecodeOneTokenPerStep) {
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 100, 5)));
  const StepOutput& first = engine.step(0.0);
  EXPECT_EQ(first.prefill_tokens, 100);
  ASSERT_EQ(first.tokens.size(), 1u);
  EXPECT_EQ(first.tokens[0].index, 0);
  EXPECT_EQ(first.tokens[0].gap, 0.0);
  EXPECT_GT(first.duration, 0.0);
  double now = first.end();
  for (int i = 1; i < 5; ++i) {
    const StepOutput& out = engine.step(now);
    EXPECT_EQ(out.decode_tokens, 1);
    ASSERT_EQ(out.tokens.size(), 1u);
    EXPECT_EQ(out.tokens[0].index, i);
    EXPECT_DOUBLE_EQ(out.tokens[0].gap, out.duration);
    now = out.end();
    if (i == 4) {
      ASSERT_EQ(out.finished.size(), 1u);
      EXPECT_EQ(out.finished[0].reason, FinishReason::kLength);
      EXPECT_EQ(out.finished[0].output_tokens, 5);
      EXPECT_DOUBLE_EQ(out.finished[0].finished, now);
    }
  }
  EXPECT_FALSE(engine.has_work());
  EXPECT_EQ(engine.kv_cache().num_free(), config_.num_gpu_blocks);
  EXPECT_EQ(engine.counters().generation_tokens, 5u);
  EXPECT_EQ(engine.counters().prompt_tokens, 100u);
}

TEST_F(EngineTest, ChunksLongPrefillsUnderTheTokenBudget) {
  config_.max_num_batched_tokens = 64;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 200, 2)));
  std::vector<int> chunks;
  double now = 0;
  while (true) {
    const StepOutput& out = engine.step(now);
    now = out.end();
    chunks.push_back(out.prefill_tokens);
    if (!out.tokens.empty()) break;
  }
  EXPECT_EQ(chunks, (std::vector<int>{64, 64, 64, 8}));
}

TEST_F(EngineTest, LongPrefillThresholdCapsAChunk) {
  config_.long_prefill_token_threshold = 50;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 120, 1)));
  EXPECT_EQ(engine.step(0).prefill_tokens, 50);
}

TEST_F(EngineTest, WithoutChunkingAWholePromptRunsInOneStep) {
  config_.enable_chunked_prefill = false;
  config_.max_num_batched_tokens = 64;
  Engine engine(config_, latency_);
  // The budget is raised to max_model_len, as vLLM does.
  EXPECT_EQ(engine.config().max_num_batched_tokens, config_.max_model_len);
  ASSERT_TRUE(engine.add(request(1, 200, 1)));
  EXPECT_EQ(engine.step(0).prefill_tokens, 200);
}

TEST_F(EngineTest, SharesTheBudgetBetweenDecodeAndNewPrefills) {
  config_.max_num_batched_tokens = 100;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 50, 10)));
  engine.step(0);  // request 1 prefilled
  ASSERT_TRUE(engine.add(request(2, 300, 10)));
  const StepOutput& out = engine.step(1.0);
  EXPECT_EQ(out.decode_tokens, 1);
  EXPECT_EQ(out.prefill_tokens, 99);  // the rest of the budget
}

TEST_F(EngineTest, RespectsMaxNumSeqs) {
  config_.max_num_seqs = 2;
  Engine engine(config_, latency_);
  for (RequestId id = 1; id <= 3; ++id) ASSERT_TRUE(engine.add(request(id, 20, 4)));
  engine.step(0);
  EXPECT_EQ(engine.num_running(), 2);
  EXPECT_EQ(engine.num_waiting(), 1);
  auto done = run_to_completion(engine);
  EXPECT_EQ(done.size(), 3u);
  // The third waited for a free seat.
  EXPECT_GT(done[3].first_scheduled, done[1].first_scheduled);
}

TEST_F(EngineTest, PrefixCacheHitsSkipComputedBlocks) {
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 160, 1, /*prefix_group=*/7)));
  run_to_completion(engine);
  ASSERT_TRUE(engine.add(request(2, 160, 1, 7)));
  const StepOutput& out = engine.step(10.0);
  // 160 tokens = 10 full blocks, but the last token must be computed: 9 blocks hit.
  EXPECT_EQ(out.prefill_tokens, 160 - 9 * 16);
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].cached_tokens, 9 * 16);
  EXPECT_EQ(engine.counters().prefix_hits, 9u * 16u);
  EXPECT_EQ(engine.counters().prefix_queries, 320u);
}

TEST_F(EngineTest, PrefixCacheMissesOnOtherContentAndWhenDisabled) {
  {
    Engine engine(config_, latency_);
    ASSERT_TRUE(engine.add(request(1, 160, 1, 7)));
    run_to_completion(engine);
    ASSERT_TRUE(engine.add(request(2, 160, 1, 8)));
    EXPECT_EQ(engine.step(10.0).prefill_tokens, 160);
  }
  config_.enable_prefix_caching = false;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 160, 1, 7)));
  run_to_completion(engine);
  ASSERT_TRUE(engine.add(request(2, 160, 1, 7)));
  EXPECT_EQ(engine.step(10.0).prefill_tokens, 160);
}

TEST_F(EngineTest, EvictionDropsLeastRecentlyUsedPrefixes) {
  config_.num_gpu_blocks = 12;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 160, 1, 1)));  // 10 blocks
  run_to_completion(engine);
  ASSERT_TRUE(engine.add(request(2, 160, 1, 2)));  // 10 more: evicts most of group 1
  run_to_completion(engine);
  ASSERT_TRUE(engine.add(request(3, 160, 1, 1)));
  // Request 2 took the two never-used blocks, then group 1's blocks tail first (b9..b2):
  // group 1's first two blocks survive.
  const StepOutput& out = engine.step(100.0);
  EXPECT_EQ(out.prefill_tokens, 160 - 2 * 16);
  EXPECT_GT(engine.kv_cache().evictions(), 0u);
}

TEST_F(EngineTest, PreemptsTheNewestRequestWhenBlocksRunOut) {
  config_.num_gpu_blocks = 12;  // 192 tokens of KV
  config_.max_model_len = 190;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 60, 100)));
  ASSERT_TRUE(engine.add(request(2, 60, 100)));
  auto done = run_to_completion(engine);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_GT(engine.counters().preemptions, 0u);
  EXPECT_EQ(done[1].output_tokens, 100);
  EXPECT_EQ(done[2].output_tokens, 100);
  // Request 1 is older, so it was never the victim and finished first.
  EXPECT_LT(done[1].finished, done[2].finished);
  EXPECT_EQ(engine.kv_cache().num_free(), 12);
}

TEST_F(EngineTest, StopsAtTheNaturalLengthUnlessMaxTokensComesFirst) {
  Engine engine(config_, latency_);
  NewRequest a = request(1, 20, 50);
  a.natural_length = 7;
  NewRequest b = request(2, 20, 5);
  b.natural_length = 7;
  ASSERT_TRUE(engine.add(std::move(a)));
  ASSERT_TRUE(engine.add(std::move(b)));
  auto done = run_to_completion(engine);
  EXPECT_EQ(done[1].reason, FinishReason::kStop);
  EXPECT_EQ(done[1].output_tokens, 7);
  EXPECT_EQ(done[2].reason, FinishReason::kLength);
  EXPECT_EQ(done[2].output_tokens, 5);
}

TEST_F(EngineTest, LoraSlotsLimitAdaptersInTheBatch) {
  config_.max_loras = 1;
  Engine engine(config_, latency_);
  NewRequest a = request(1, 20, 5);
  a.lora = 1;
  NewRequest b = request(2, 20, 5);
  b.lora = 2;
  NewRequest c = request(3, 20, 5);  // base model: never blocked by adapters
  ASSERT_TRUE(engine.add(std::move(a)));
  ASSERT_TRUE(engine.add(std::move(b)));
  ASSERT_TRUE(engine.add(std::move(c)));
  const StepOutput& first = engine.step(0);
  EXPECT_EQ(first.num_scheduled, 2);  // adapter 1 and the base request
  EXPECT_EQ(first.lora_loads, 1);
  EXPECT_EQ(engine.running_loras(), std::vector<int>{1});
  EXPECT_EQ(engine.waiting_loras(), std::vector<int>{2});
  auto done = run_to_completion(engine);
  EXPECT_GE(done[2].first_scheduled, done[1].finished);
  EXPECT_EQ(engine.counters().lora_loads, 2u);
}

TEST_F(EngineTest, LoraLoadAddsToStepTime) {
  Engine plain(config_, latency_);
  ASSERT_TRUE(plain.add(request(1, 20, 1)));
  const double base = plain.step(0).duration;
  Engine with_lora(config_, latency_);
  NewRequest r = request(1, 20, 1);
  r.lora = 1;
  ASSERT_TRUE(with_lora.add(std::move(r)));
  EXPECT_NEAR(with_lora.step(0).duration,
              base * (1 + config_.lora_step_overhead) + config_.lora_load_seconds, 1e-12);
}

TEST_F(EngineTest, AForgottenAdapterIsLoadedAgain) {
  // The server reuses an unloaded adapter's id for the next adapter it loads, which must pay
  // its own load rather than inherit the old one's residency.
  Engine engine(config_, latency_);
  NewRequest a = request(1, 20, 1);
  a.lora = 1;
  ASSERT_TRUE(engine.add(std::move(a)));
  EXPECT_EQ(engine.step(0).lora_loads, 1);
  run_to_completion(engine);
  NewRequest again = request(2, 20, 1);
  again.lora = 1;
  ASSERT_TRUE(engine.add(std::move(again)));
  EXPECT_EQ(engine.step(1000).lora_loads, 0);  // still resident
  run_to_completion(engine);
  engine.forget_lora(1);
  NewRequest reused = request(3, 20, 1);
  reused.lora = 1;
  ASSERT_TRUE(engine.add(std::move(reused)));
  EXPECT_EQ(engine.step(2000).lora_loads, 1);
}

TEST_F(EngineTest, AbortsRunningAndWaitingRequests) {
  config_.max_num_seqs = 1;
  Engine engine(config_, latency_);
  ASSERT_TRUE(engine.add(request(1, 20, 50)));
  ASSERT_TRUE(engine.add(request(2, 20, 50)));
  engine.step(0);
  auto running = engine.abort(1, 1.0);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->reason, FinishReason::kAbort);
  EXPECT_EQ(running->output_tokens, 1);
  auto waiting = engine.abort(2, 1.0);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->first_scheduled, -1);
  EXPECT_FALSE(engine.abort(2, 1.0));
  EXPECT_FALSE(engine.has_work());
  EXPECT_EQ(engine.kv_cache().num_free(), config_.num_gpu_blocks);
}

TEST_F(EngineTest, RejectsRequestsThatCanNeverRun) {
  config_.max_waiting = 2;
  Engine engine(config_, latency_);
  auto too_long = engine.add(request(1, 2000, 100));
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message.find("max_model_len"), std::string::npos);
  EXPECT_FALSE(engine.add(request(2, 0, 1)));
  EXPECT_FALSE(engine.add(request(3, 10, 0)));
  ASSERT_TRUE(engine.add(request(4, 10, 1)));
  EXPECT_FALSE(engine.add(request(4, 10, 1)));  // duplicate id
  ASSERT_TRUE(engine.add(request(5, 10, 1)));
  EXPECT_TRUE(engine.queue_full());
  auto full = engine.add(request(6, 10, 1));
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("full"), std::string::npos);

  config_.max_waiting = 0;
  config_.num_gpu_blocks = 4;
  Engine small(config_, latency_);
  auto no_room = small.add(request(7, 100, 1));
  ASSERT_FALSE(no_room);
  EXPECT_NE(no_room.error().message.find("KV blocks"), std::string::npos);
}

TEST_F(EngineTest, BiggerBatchesTakeLongerSteps) {
  Engine one(config_, latency_);
  ASSERT_TRUE(one.add(request(1, 200, 1)));
  Engine two(config_, latency_);
  ASSERT_TRUE(two.add(request(1, 200, 1)));
  ASSERT_TRUE(two.add(request(2, 200, 1, 3)));
  EXPECT_LT(one.step(0).duration, two.step(0).duration);
}

TEST_F(EngineTest, IdleStepDoesNothing) {
  Engine engine(config_, latency_);
  const StepOutput& out = engine.step(5.0);
  EXPECT_EQ(out.num_scheduled, 0);
  EXPECT_EQ(out.duration, 0.0);
}

// Continues the fixture's hash chain (request()) over generated tokens, as if a conversation's
// token sequence were one text: a follow-up prompt built by request() with the same group and
// a longer length holds the answer's blocks.
class ChainHasher final : public OutputBlockHasher {
 public:
  explicit ChainHasher(int block_size) : block_size_(block_size) {}
  void extend(const NewRequest& r, int computed_outputs, std::vector<uint64_t>& hashes) override {
    ++calls;
    const int full = (r.prompt_tokens + computed_outputs) / block_size_;
    uint64_t parent = hashes.empty() ? r.content_key * 1000 + 1 : hashes.back();
    for (int i = static_cast<int>(hashes.size()); i < full; ++i) {
      parent = parent * 31 + 7 + static_cast<uint64_t>(i);
      hashes.push_back(parent);
    }
  }
  int calls = 0;

 private:
  int block_size_;
};

TEST_F(EngineTest, AFollowUpHitsTheFullBlocksOfThePreviousAnswer) {
  for (bool with_hasher : {false, true}) {
    Engine engine(config_, latency_);
    ChainHasher hasher(config_.block_size);
    if (with_hasher) engine.set_output_block_hasher(&hasher);
    // 100 prompt tokens (6 full blocks), 60 generated: 159 tokens have their KV (the last
    // sampled token never does), i.e. 9 full blocks.
    ASSERT_TRUE(engine.add(request(1, 100, 60, 3)));
    run_to_completion(engine);
    // The next turn: the prompt, the answer and 20 new tokens.
    ASSERT_TRUE(engine.add(request(2, 180, 4, 3)));
    auto done = run_to_completion(engine);
    EXPECT_EQ(done[2].cached_tokens, with_hasher ? 9 * 16 : 6 * 16) << with_hasher;
    if (with_hasher) {
      // Asked only when a generated block can be full: 3 blocks filled, plus the follow-up's.
      EXPECT_LE(hasher.calls, 8);
      EXPECT_GE(hasher.calls, 3);
    }
  }
}

TEST_F(EngineTest, GeneratedBlocksAreNotCachedWithoutPrefixCaching) {
  config_.enable_prefix_caching = false;
  Engine engine(config_, latency_);
  ChainHasher hasher(config_.block_size);
  engine.set_output_block_hasher(&hasher);
  ASSERT_TRUE(engine.add(request(1, 100, 60, 3)));
  run_to_completion(engine);
  ASSERT_TRUE(engine.add(request(2, 180, 4, 3)));
  auto done = run_to_completion(engine);
  EXPECT_EQ(done[2].cached_tokens, 0);
  EXPECT_EQ(hasher.calls, 0);
  EXPECT_EQ(engine.counters().prefix_hits, 0u);
}

}  // namespace
}  // namespace kgai::sim
