// Scheduler tests: continuous batching loses and duplicates nothing, matches solo runs, respects
// the KV byte budget, rejects what can never fit, cancels and frees, samples deterministically.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "dsbench/engine/kv_cache.h"
#include "dsbench/engine/model.h"
#include "dsbench/engine/sampler.h"
#include "dsbench/engine/scheduler.h"
#include "dsbench/error.h"
#include "engine_test_util.h"

using namespace dsbench;
using namespace dsbench::engine;
using kernels::DType;

namespace {
KvCacheOptions opts(int64_t budget, AttentionMode m = AttentionMode::kMlaAbsorbed) {
  KvCacheOptions o;
  o.mode = m;
  o.dtype = DType::kF32;
  o.budget_bytes = budget;
  o.block_size = 16;
  return o;
}
RequestSpec spec(int64_t plen, int64_t max_tokens, uint32_t salt, int64_t vocab) {
  RequestSpec s;
  for (int64_t i = 0; i < plen; ++i) s.prompt.push_back(int32_t((i * 13 + salt * 7 + 3) % vocab));
  s.max_tokens = max_tokens;
  s.ignore_eos = true;
  return s;
}
}  // namespace

TEST(Scheduler, NoRequestLostOrDuplicatedAndSameTokensAsSolo) {
  auto cfg = engine_test::small_config();
  auto model = Model::synthetic(cfg, 21, DType::kF32);
  KvCache cache(cfg, opts(8 << 20));
  SchedulerOptions so;
  so.max_step_tokens = 24;  // forces chunked prefill mixed with decode rows
  so.max_running = 5;
  Scheduler sched(*model, cache, so);
  std::map<uint64_t, std::vector<int32_t>> streamed;
  std::map<uint64_t, int> finished_events;
  std::map<uint64_t, uint32_t> salt_of;
  for (uint32_t i = 0; i < 14; ++i) {
    auto s = spec(5 + (i * 7) % 40, 3 + i % 6, i, cfg.vocab_size);
    s.on_token = [&](const TokenEvent& e) {
      if (e.token >= 0) streamed[e.request_id].push_back(e.token);
      if (e.finished) ++finished_events[e.request_id];
    };
    const uint64_t id = sched.submit(s);
    salt_of[id] = i;
    if (i % 3 == 0) sched.step();  // requests join while others run
  }
  sched.run_until_idle();
  auto res = sched.take_finished();
  ASSERT_EQ(res.size(), 14u);
  std::set<uint64_t> ids;
  for (const auto& r : res) {
    EXPECT_TRUE(ids.insert(r.id).second) << "duplicate " << r.id;
    EXPECT_EQ(r.reason, FinishReason::kLength);
    const auto s = spec(5 + (salt_of[r.id] * 7) % 40, 3 + salt_of[r.id] % 6, salt_of[r.id], cfg.vocab_size);
    EXPECT_EQ(int64_t(r.output.size()), s.max_tokens);
    EXPECT_EQ(streamed[r.id], r.output);
    EXPECT_EQ(finished_events[r.id], 1);
    EXPECT_EQ(r.token_ns.size(), r.output.size());
    EXPECT_GE(r.ttft_s(), 0.0);
    // Batching must not change a request's tokens: compare with the request alone.
    KvCache solo_cache(cfg, opts(8 << 20));
    Scheduler solo(*model, solo_cache, so);
    solo.submit(s);
    solo.run_until_idle();
    EXPECT_EQ(solo.take_finished().at(0).output, r.output) << "request " << r.id;
  }
  const auto st = sched.stats();
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.kv_blocks_used, 0);  // every block returned
  EXPECT_GT(st.peak_running, 1);    // requests really shared steps
}

TEST(Scheduler, MemoryBudgetIsRespectedAndQueuedRequestsStillFinish) {
  auto cfg = engine_test::small_config();
  auto model = Model::synthetic(cfg, 22, DType::kF32);
  // Room for 8 blocks of 16 tokens in total.
  const int64_t per_token = cache_bytes_per_token(cfg, AttentionMode::kMlaAbsorbed, DType::kF32);
  KvCache cache(cfg, opts(per_token * 16 * 8));
  ASSERT_EQ(cache.pool().num_blocks(), 8);
  Scheduler sched(*model, cache);
  for (uint32_t i = 0; i < 10; ++i) sched.submit(spec(20, 10, i, cfg.vocab_size));  // 2 blocks each
  int64_t peak = 0;
  while (!sched.idle()) {
    sched.step();
    const auto st = sched.stats();
    EXPECT_LE(st.kv_blocks_used, st.kv_blocks_total);
    EXPECT_LE(st.kv_bytes_used, cache.budget_bytes());
    EXPECT_LE(st.running, 4);  // 4 x 2 blocks fill the pool; the rest wait
    peak = std::max(peak, st.kv_blocks_used);
  }
  EXPECT_GT(peak, 4);
  auto res = sched.take_finished();
  ASSERT_EQ(res.size(), 10u);
  for (const auto& r : res) EXPECT_EQ(r.reason, FinishReason::kLength);
  // A request that can never fit is rejected, not queued forever.
  uint64_t id = sched.submit(spec(200, 10, 1, cfg.vocab_size));
  sched.run_until_idle();
  res = sched.take_finished();
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].id, id);
  EXPECT_EQ(res[0].reason, FinishReason::kRejected);
}

TEST(Scheduler, CancelFreesBlocks) {
  auto cfg = engine_test::small_config();
  auto model = Model::synthetic(cfg, 23, DType::kF32);
  KvCache cache(cfg, opts(8 << 20));
  Scheduler sched(*model, cache);
  const uint64_t a = sched.submit(spec(30, 100, 1, cfg.vocab_size));
  const uint64_t b = sched.submit(spec(10, 3, 2, cfg.vocab_size));
  sched.step();
  sched.step();
  EXPECT_GT(sched.stats().kv_blocks_used, 0);
  std::thread other([&] { sched.cancel(a); });  // cancel is safe from another thread
  other.join();
  sched.run_until_idle();
  auto res = sched.take_finished();
  ASSERT_EQ(res.size(), 2u);
  for (const auto& r : res) EXPECT_EQ(r.reason, r.id == a ? FinishReason::kCancelled : FinishReason::kLength) << r.id;
  (void)b;
  EXPECT_EQ(sched.stats().kv_blocks_used, 0);
  // Out-of-range token ids are refused at submit, naming the id.
  RequestSpec bad = spec(3, 1, 1, cfg.vocab_size);
  bad.prompt[1] = int32_t(cfg.vocab_size);
  EXPECT_THROW(sched.submit(bad), UsageError);
}

TEST(Sampler, SeededDeterministicAndTopPRestricts) {
  std::vector<float> lg = {0.0f, 3.0f, 2.9f, -5.0f, 1.0f};
  EXPECT_EQ(sample_token(lg.data(), 5, {}, 0), 1);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 1.0f;
  p.seed = 99;
  std::set<int32_t> seen;
  for (uint64_t i = 0; i < 200; ++i) {
    EXPECT_EQ(sample_token(lg.data(), 5, p, i), sample_token(lg.data(), 5, p, i));
    seen.insert(sample_token(lg.data(), 5, p, i));
  }
  EXPECT_GE(seen.size(), 3u);
  p.top_p = 0.5f;  // token 1 alone holds < 0.5; tokens {1, 2} hold more
  for (uint64_t i = 0; i < 100; ++i) {
    const int32_t t = sample_token(lg.data(), 5, p, i);
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
}

TEST(Scheduler, SameSeedSameTokensWithSampling) {
  auto cfg = engine_test::small_config();
  auto model = Model::synthetic(cfg, 24, DType::kBF16);
  auto run = [&](uint64_t seed) {
    KvCache cache(cfg, opts(8 << 20));
    Scheduler sched(*model, cache);
    auto s = spec(17, 12, 5, cfg.vocab_size);
    s.sampling.temperature = 0.8f;
    s.sampling.top_p = 0.9f;
    s.sampling.seed = seed;
    sched.submit(s);
    sched.submit(spec(9, 4, 6, cfg.vocab_size));
    sched.run_until_idle();
    auto r = sched.take_finished();
    for (auto& x : r)
      if (x.prompt_tokens == 17) return x.output;
    return std::vector<int32_t>{};
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}
