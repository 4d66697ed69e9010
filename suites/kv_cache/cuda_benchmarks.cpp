// CUDA decode-attention benchmarks (kv_cache_cuda): inputs are generated on the device on first
// run (FlashMLA's largest shapes hold GBs of cache), timed with CUDA events and a cold L2.
#include "kv_cache/cuda_benchmarks.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>

#include "common/cuda_benchmark.h"
#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/gbench.h"
#include "dsbench/kernels/cuda/gqa_decode.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/mla_decode.h"
#include "dsbench/kernels/cuda/mla_naive.h"

namespace dsbench::suites {
namespace {

namespace k = kernels;
namespace kc = kernels::cuda;
using nlohmann::json;

constexpr int kBlock = 64;

// FlashMLA's varlen lengths: normal(mean, mean / 2), at least 1 (clamped at 4x the mean).
std::vector<int32_t> varlen_lengths(int batch, int mean, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, mean / 2.0);
  std::vector<int32_t> v(batch);
  for (auto& x : v) x = int32_t(std::clamp(d(rng), 1.0, 4.0 * mean));
  return v;
}

// A shuffled block table for `lens` over a pool of exactly the blocks needed.
struct Tables {
  std::vector<int32_t> table;
  int max_blocks = 0;
  int64_t blocks = 0;
};
Tables make_tables(const std::vector<int32_t>& lens, uint64_t seed) {
  Tables t;
  for (int32_t l : lens) {
    t.max_blocks = std::max(t.max_blocks, (l + kBlock - 1) / kBlock);
    t.blocks += (l + kBlock - 1) / kBlock;
  }
  std::vector<int32_t> ids(size_t(t.blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(seed));
  t.table.assign(lens.size() * t.max_blocks, 0);  // unused entries point at block 0
  size_t next = 0;
  for (size_t b = 0; b < lens.size(); ++b)
    for (int j = 0; j < (lens[b] + kBlock - 1) / kBlock; ++j) t.table[b * t.max_blocks + j] = ids[next++];
  return t;
}

double sum_of(const std::vector<int32_t>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

struct DeviceBatch {
  Tables t;
  std::vector<int32_t> lens;
  kc::DeviceBuffer table, dlens;
  kc::DecodeSchedule sched;
  kc::Workspace ws;
  k::DecodeBatch batch() const {
    k::DecodeBatch b;
    b.batch = int(lens.size());
    b.block_size = kBlock;
    b.block_table = table.as<int32_t>();
    b.max_blocks_per_seq = t.max_blocks;
    b.seq_lens = dlens.as<int32_t>();
    b.num_pool_blocks = t.blocks;
    return b;
  }
};
void init_batch(DeviceBatch& d, const std::vector<int32_t>& lens, uint64_t seed, int ctas) {
  d.lens = lens;
  d.t = make_tables(lens, seed);
  d.table = kc::upload(d.t.table);
  d.dlens = kc::upload(lens);
  d.sched = kc::make_decode_schedule(lens.data(), int(lens.size()), ctas);
}

// The FlashMLA core (queries absorbed): bytes and FLOPs by FlashMLA's own formulas.
Benchmark mla_absorbed(const SuiteContext& ctx, int batch, int context, int heads) {
  const uint64_t seed = ctx.seed + uint64_t(batch) * 131 + context + heads;
  const std::vector<int32_t> lens = varlen_lengths(batch, context, seed);
  const double sk = sum_of(lens);
  const int d = kc::kMlaRowDim, dv = kc::kMlaLatentDim;
  Benchmark b = cuda_benchmark(ctx, "decode_attention/mla_absorbed",
                     {{"batch", batch}, {"context", context}, {"heads", heads}, {"dtype", "bf16"},
                      {"varlen", true}, {"block_size", kBlock}, {"kernel", "latent_core"}});
  b.bytes = (sk * d + double(batch) * heads * d + double(batch) * heads * dv) * 2;
  b.flops = sk * heads * (d + dv) * 2;
  if (!b.skipped.empty()) return b;
  struct Inputs {
    DeviceBatch d;
    kc::DeviceBuffer cache, q, out;
  };
  auto in = std::make_shared<std::unique_ptr<Inputs>>();
  b.timed = [in, lens, heads, seed](benchmark::State& st) {
    if (!*in) {
      auto x = std::make_unique<Inputs>();
      init_batch(x->d, lens, seed, kc::mla_decode_ctas_per_split(heads));
      const size_t rows = size_t(x->d.t.blocks) * kBlock;
      x->cache = kc::DeviceBuffer(rows * kc::kMlaRowDim * 2);
      kc::fill_uniform_bf16(x->cache.get(), rows * kc::kMlaRowDim, seed, -1.0f, 1.0f);
      const size_t qn = lens.size() * size_t(heads) * kc::kMlaRowDim;
      x->q = kc::DeviceBuffer(qn * 2);
      kc::fill_uniform_bf16(x->q.get(), qn, seed + 1, -1.0f, 1.0f);
      x->out = kc::DeviceBuffer(lens.size() * size_t(heads) * kc::kMlaLatentDim * 4);
      *in = std::move(x);
    }
    Inputs& x = **in;
    kc::MlaLatentDecodeArgs a;
    a.seqs = x.d.batch();
    a.heads = heads;
    a.q = x.q.get();
    a.cache = x.cache.get();
    a.out = x.out.as<float>();
    a.scale = 1.0f / std::sqrt(192.0f);
    kc::mla_latent_decode(a, x.d.sched, x.d.ws);  // sizes the workspace before timing
    kc::run_cuda_benchmark(st, [&] { kc::mla_latent_decode(a, x.d.sched, x.d.ws); });
    st.counters["splits"] = x.d.sched.max_splits;
    st.counters["chunk"] = x.d.sched.chunk;
  };
  return b;
}

// MLA-naive and GQA share the MlaDecodeArgs/GqaDecodeArgs cost functions of attention.h.
Benchmark mla_naive(const SuiteContext& ctx, int batch, int context, int heads) {
  const uint64_t seed = ctx.seed + 7 * uint64_t(batch) + context;
  const std::vector<int32_t> lens = varlen_lengths(batch, context, seed);
  Benchmark b = cuda_benchmark(ctx, "decode_attention/mla_naive",
                     {{"batch", batch}, {"context", context}, {"heads", heads}, {"dtype", "bf16"},
                      {"varlen", true}, {"block_size", kBlock}});
  const int rank = 512, rope = 64, nope = 128, dv = 128;
  k::MlaDecodeArgs cost;
  cost.seqs.batch = batch;
  cost.seqs.seq_lens = lens.data();
  cost.heads = heads;
  cost.kv_lora_rank = rank;
  cost.qk_nope_head_dim = nope;
  cost.qk_rope_head_dim = rope;
  cost.v_head_dim = dv;
  const k::AttentionCost c = k::decode_attention_mla_naive_cost(cost);
  b.bytes = c.bytes();
  b.flops = c.flops;
  if (!b.skipped.empty()) return b;
  struct Inputs {
    DeviceBatch d;
    kc::DeviceBuffer cache, q_nope, q_pe, w_uk, w_uv, out;
  };
  auto in = std::make_shared<std::unique_ptr<Inputs>>();
  b.timed = [in, lens, heads, seed, rank, rope, nope, dv](benchmark::State& st) {
    const size_t B = lens.size(), H = size_t(heads);
    auto make_args = [&](Inputs& x) {
      k::MlaDecodeArgs a;
      a.seqs = x.d.batch();
      a.heads = heads;
      a.kv_lora_rank = rank;
      a.qk_nope_head_dim = nope;
      a.qk_rope_head_dim = rope;
      a.v_head_dim = dv;
      a.q_nope = x.q_nope.as<float>();
      a.q_pe = x.q_pe.as<float>();
      a.latent = k::mla_latent_view(x.cache.get(), k::DType::kBF16, kBlock, rank, rope);
      a.w_uk = x.w_uk.as<float>();
      a.w_uv = x.w_uv.as<float>();
      a.out = x.out.as<float>();
      a.scale = 1.0f / std::sqrt(float(nope + rope));
      return a;
    };
    if (!*in) {
      auto x = std::make_unique<Inputs>();
      x->d.lens = lens;
      x->d.t = make_tables(lens, seed);
      x->d.table = kc::upload(x->d.t.table);
      x->d.dlens = kc::upload(lens);
      const size_t rows = size_t(x->d.t.blocks) * kBlock;
      x->cache = kc::DeviceBuffer(rows * (rank + rope) * 2);
      kc::fill_uniform_bf16(x->cache.get(), rows * (rank + rope), seed, -1.0f, 1.0f);
      auto f32 = [](size_t n, uint64_t s, float lim) {
        kc::DeviceBuffer buf(n * 4);
        kc::fill_uniform_f32(buf.as<float>(), n, s, -lim, lim);
        return buf;
      };
      x->q_nope = f32(B * H * nope, seed + 1, 1.0f);
      x->q_pe = f32(B * H * rope, seed + 2, 1.0f);
      x->w_uk = f32(H * nope * rank, seed + 3, 0.05f);
      x->w_uv = f32(H * dv * rank, seed + 4, 0.05f);
      x->out = kc::DeviceBuffer(B * H * dv * 4);
      k::MlaDecodeArgs a = make_args(*x);
      x->d.sched = kc::make_decode_schedule(lens.data(), int(B), kc::mla_naive_ctas_per_split(a));
      *in = std::move(x);
    }
    Inputs& x = **in;
    const k::MlaDecodeArgs a = make_args(x);
    kc::decode_attention_mla_naive_cuda(a, x.d.sched, x.d.ws);
    kc::run_cuda_benchmark(st, [&] { kc::decode_attention_mla_naive_cuda(a, x.d.sched, x.d.ws); });
  };
  return b;
}

Benchmark gqa(const SuiteContext& ctx, int batch, int context, int q_heads, int kv_heads) {
  const uint64_t seed = ctx.seed + 11 * uint64_t(batch) + context + q_heads;
  const std::vector<int32_t> lens = varlen_lengths(batch, context, seed);
  const int hd = 128, vd = 128;
  Benchmark b = cuda_benchmark(ctx, "decode_attention/gqa",
                     {{"batch", batch}, {"context", context}, {"q_heads", q_heads},
                      {"kv_heads", kv_heads}, {"head_dim", hd}, {"dtype", "bf16"},
                      {"varlen", true}, {"block_size", kBlock}});
  k::GqaDecodeArgs cost;
  cost.seqs.batch = batch;
  cost.seqs.seq_lens = lens.data();
  cost.q_heads = q_heads;
  cost.kv_heads = kv_heads;
  cost.head_dim = hd;
  cost.v_head_dim = vd;
  const k::AttentionCost c = k::decode_attention_gqa_cost(cost);
  b.bytes = c.bytes();
  b.flops = c.flops;
  if (!b.skipped.empty()) return b;
  struct Inputs {
    DeviceBatch d;
    kc::DeviceBuffer pool, q, out;
  };
  auto in = std::make_shared<std::unique_ptr<Inputs>>();
  b.timed = [in, lens, q_heads, kv_heads, hd, vd, seed](benchmark::State& st) {
    const size_t B = lens.size();
    const int64_t row = k::gqa_row_elems(kv_heads, hd, vd);
    k::GqaDecodeArgs a;
    a.q_heads = q_heads;
    a.kv_heads = kv_heads;
    a.head_dim = hd;
    a.v_head_dim = vd;
    a.scale = 1.0f / std::sqrt(float(hd));
    if (!*in) {
      auto x = std::make_unique<Inputs>();
      init_batch(x->d, lens, seed, kc::gqa_decode_ctas_per_split(a));
      const size_t n = size_t(x->d.t.blocks) * kBlock * row;
      x->pool = kc::DeviceBuffer(n * 2);
      kc::fill_uniform_bf16(x->pool.get(), n, seed, -1.0f, 1.0f);
      x->q = kc::DeviceBuffer(B * q_heads * hd * 4);
      kc::fill_uniform_f32(x->q.as<float>(), B * q_heads * hd, seed + 1, -1.0f, 1.0f);
      x->out = kc::DeviceBuffer(B * q_heads * vd * 4);
      *in = std::move(x);
    }
    Inputs& x = **in;
    a.seqs = x.d.batch();
    a.q = x.q.as<float>();
    a.k = k::gqa_k_view(x.pool.get(), k::DType::kBF16, kBlock, kv_heads, hd, vd);
    a.v = k::gqa_v_view(x.pool.get(), k::DType::kBF16, kBlock, kv_heads, hd, vd);
    a.out = x.out.as<float>();
    kc::decode_attention_gqa_cuda(a, x.d.sched, x.d.ws);
    kc::run_cuda_benchmark(st, [&] { kc::decode_attention_gqa_cuda(a, x.d.sched, x.d.ws); });
  };
  return b;
}

}  // namespace

std::vector<Benchmark> kv_cache_cuda_benchmarks(const SuiteContext& ctx) {
  std::vector<Benchmark> out;
  if (ctx.quick) {
    out.push_back(mla_absorbed(ctx, 4, 512, 16));
    out.push_back(mla_naive(ctx, 2, 256, 16));
    out.push_back(gqa(ctx, 4, 512, 64, 8));
    return out;
  }
  // FlashMLA's benchmark grid at b = 128 (s_q = 1).
  for (int context : {4096, 8192, 16384, 32768})
    for (int heads : {16, 32, 64, 128}) out.push_back(mla_absorbed(ctx, 128, context, heads));
  for (int context : {1024, 4096}) out.push_back(mla_naive(ctx, 16, context, 16));
  for (int context : {4096, 16384}) {
    out.push_back(gqa(ctx, 32, context, 64, 8));   // Llama-3.3-70B-like GQA
    out.push_back(gqa(ctx, 32, context, 64, 64));  // the same as MHA
  }
  return out;
}


}  // namespace dsbench::suites
