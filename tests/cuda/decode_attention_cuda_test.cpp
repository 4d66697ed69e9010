// CUDA decode attention (MLA-absorbed, MLA-naive, MHA/GQA/MQA) against the float64 CPU
// references of attention.h, over a shuffled paged cache with varlen sequences and several splits.
#include <cstring>
#include <vector>

#include "cuda_test_util.h"
#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/gqa_decode.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/mla_decode.h"
#include "dsbench/kernels/cuda/mla_naive.h"
#include "dsbench/kernels/paged_cache.h"

namespace kc = dsbench::kernels::cuda;
namespace k = dsbench::kernels;
using dsbench::test::max_rel_error;
using dsbench::test::random_floats;

namespace {

// A paged pool with `lens` sequences, scattered blocks, rows of `row_elems` bf16 or fp32 values.
struct PagedFixture {
  k::PagedKvCache cache;
  std::vector<int32_t> table, lens;
  int max_blocks = 0;
  PagedFixture(const std::vector<int>& seq_lens, int64_t row_elems, k::DType dt, uint64_t seed,
               int block = 64)
      : cache(pool_blocks(seq_lens, block) + 3, row_elems * k::dtype_bytes(dt), block) {
    cache.shuffle_free_list(seed);
    std::vector<int32_t> ids;
    for (int len : seq_lens) {
      int32_t s = cache.add_sequence();
      cache.append_tokens(s, len);
      ids.push_back(s);
      max_blocks = std::max<int>(max_blocks, (len + block - 1) / block);
    }
    table.assign(seq_lens.size() * max_blocks, -1);
    lens.assign(seq_lens.size(), 0);
    cache.fill_tables(ids.data(), int(ids.size()), max_blocks, table.data(), lens.data());
    // Every row of the pool, used or not, gets finite random values.
    std::vector<float> v = random_floats(size_t(cache.num_blocks()) * block * row_elems, seed + 1);
    if (dt == k::DType::kBF16) {
      auto* p = reinterpret_cast<k::bf16*>(cache.data());
      for (size_t i = 0; i < v.size(); ++i) p[i] = k::bf16(v[i]);
    } else {
      std::memcpy(cache.data(), v.data(), v.size() * sizeof(float));
    }
  }
  static int64_t pool_blocks(const std::vector<int>& lens, int block) {
    int64_t n = 0;
    for (int l : lens) n += (l + block - 1) / block;
    return n;
  }
};

struct DeviceBatch {
  kc::DeviceBuffer pool, table, lens;
  explicit DeviceBatch(const PagedFixture& f)
      : pool(size_t(f.cache.capacity_bytes())), table(kc::upload(f.table)), lens(kc::upload(f.lens)) {
    kc::copy_to_device(pool.get(), f.cache.data(), size_t(f.cache.capacity_bytes()));
  }
  k::DecodeBatch batch(const PagedFixture& f) const {
    k::DecodeBatch b;
    b.batch = int(f.lens.size());
    b.block_size = f.cache.block_size();
    b.block_table = table.as<int32_t>();
    b.max_blocks_per_seq = f.max_blocks;
    b.seq_lens = lens.as<int32_t>();
    b.num_pool_blocks = f.cache.num_blocks();
    return b;
  }
};

// Small SM count forces several splits per sequence, so the combine step is exercised.
kc::DecodeSchedule many_splits(const PagedFixture& f, int ctas) {
  return kc::decode_schedule_for_sms(f.lens.data(), int(f.lens.size()), ctas, 1000);
}

struct MlaShapes {
  int heads;
  std::vector<int> lens;
};

void run_mla(const MlaShapes& sh, bool naive) {
  const int rank = 512, rope = 64, nope = 128, dv = 128, B = int(sh.lens.size()), H = sh.heads;
  PagedFixture f(sh.lens, rank + rope, k::DType::kBF16, 7 + H);
  auto q_nope = random_floats(size_t(B) * H * nope, 11);
  auto q_pe = random_floats(size_t(B) * H * rope, 12);
  auto w_uk = random_floats(size_t(H) * nope * rank, 13, -0.05f, 0.05f);
  auto w_uv = random_floats(size_t(H) * dv * rank, 14, -0.05f, 0.05f);

  k::MlaDecodeArgs host;
  host.seqs.batch = B;
  host.seqs.block_size = 64;
  host.seqs.block_table = f.table.data();
  host.seqs.max_blocks_per_seq = f.max_blocks;
  host.seqs.seq_lens = f.lens.data();
  host.seqs.num_pool_blocks = f.cache.num_blocks();
  host.heads = H;
  host.kv_lora_rank = rank;
  host.qk_nope_head_dim = nope;
  host.qk_rope_head_dim = rope;
  host.v_head_dim = dv;
  host.q_nope = q_nope.data();
  host.q_pe = q_pe.data();
  host.latent = k::mla_latent_view(f.cache.data(), k::DType::kBF16, 64, rank, rope);
  host.w_uk = w_uk.data();
  host.w_uv = w_uv.data();
  host.scale = 1.0f / std::sqrt(float(nope + rope));
  std::vector<double> want(size_t(B) * H * dv);
  k::decode_attention_mla_reference(host, want.data());

  DeviceBatch d(f);
  auto dq_nope = kc::upload(q_nope), dq_pe = kc::upload(q_pe);
  auto dw_uk = kc::upload(w_uk), dw_uv = kc::upload(w_uv);
  kc::DeviceBuffer dout(want.size() * sizeof(float));
  kc::memset_device(dout.get(), 0xff, dout.bytes());  // poison: NaN unless written
  k::MlaDecodeArgs dev = host;
  dev.seqs = d.batch(f);
  dev.q_nope = dq_nope.as<float>();
  dev.q_pe = dq_pe.as<float>();
  dev.w_uk = dw_uk.as<float>();
  dev.w_uv = dw_uv.as<float>();
  dev.latent = k::mla_latent_view(d.pool.get(), k::DType::kBF16, 64, rank, rope);
  dev.out = dout.as<float>();
  kc::Workspace ws;
  if (naive) {
    kc::decode_attention_mla_naive_cuda(dev, many_splits(f, kc::mla_naive_ctas_per_split(dev)), ws);
  } else {
    kc::decode_attention_mla_absorbed_cuda(dev, many_splits(f, kc::mla_decode_ctas_per_split(H)),
                                           ws);
  }
  kc::device_synchronize();
  auto got = kc::download<float>(dout.get(), want.size());
  EXPECT_LE(max_rel_error(got, want), k::rel_tolerance(k::DType::kBF16))
      << (naive ? "naive" : "absorbed") << " heads=" << H;
}

}  // namespace

TEST(CudaDecodeAttention, ScheduleCoversEveryToken) {
  std::vector<int32_t> lens = {1, 300, 16384, 40000};
  for (int sms : {1, 132, 1000}) {
    kc::DecodeSchedule s = kc::decode_schedule_for_sms(lens.data(), 4, 1, sms);
    EXPECT_EQ(s.chunk % 64, 0);
    EXPECT_GE(s.chunk, 256);
    EXPECT_EQ(s.max_seq_len, 40000);
    EXPECT_GE(int64_t(s.max_splits) * s.chunk, 40000);
    EXPECT_LT(int64_t(s.max_splits - 1) * s.chunk, 40000);
  }
  // FlashMLA's shape on an H100-class part: several splits per sequence for h_q = 16.
  std::vector<int32_t> flash(128, 16384);
  kc::DecodeSchedule s = kc::decode_schedule_for_sms(flash.data(), 128, 1, 132);
  EXPECT_GT(s.max_splits, 1);
  EXPECT_THROW(kc::decode_schedule_for_sms(nullptr, 1, 1, 1), std::invalid_argument);
  std::vector<int32_t> zero = {0};
  EXPECT_THROW(kc::decode_schedule_for_sms(zero.data(), 1, 1, 1), std::invalid_argument);
}

TEST(CudaDecodeAttention, MlaAbsorbedMatchesReference) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  run_mla({16, {1, 100, 333, 64, 700}}, false);
  run_mla({20, {257, 31}}, false);  // a partial second head group
}

TEST(CudaDecodeAttention, MlaNaiveMatchesReference) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  run_mla({4, {1, 100, 333, 700}}, true);
}

TEST(CudaDecodeAttention, MlaLatentCoreMatchesFloat64) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  const int H = 16, D = 576, DV = 512;
  std::vector<int> lens = {5, 640, 1000};
  const int B = int(lens.size());
  PagedFixture f(lens, D, k::DType::kBF16, 21);
  auto qf = random_floats(size_t(B) * H * D, 22);
  std::vector<k::bf16> qb(qf.size());
  for (size_t i = 0; i < qf.size(); ++i) qb[i] = k::bf16(qf[i]);
  const float scale = 0.0625f;
  // float64 reference from the same bf16 inputs.
  std::vector<double> want(size_t(B) * H * DV, 0.0);
  const auto* pool = reinterpret_cast<const k::bf16*>(f.cache.data());
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < H; ++h) {
      std::vector<double> s(lens[b]);
      double mx = -INFINITY;
      for (int t = 0; t < lens[b]; ++t) {
        const k::bf16* row =
            pool + (size_t(f.table[b * f.max_blocks + t / 64]) * 64 + t % 64) * D;
        double acc = 0;
        for (int c = 0; c < D; ++c) acc += double(float(qb[(size_t(b) * H + h) * D + c])) * float(row[c]);
        s[t] = acc * scale;
        mx = std::max(mx, s[t]);
      }
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int t = 0; t < lens[b]; ++t) {
        const k::bf16* row =
            pool + (size_t(f.table[b * f.max_blocks + t / 64]) * 64 + t % 64) * D;
        for (int c = 0; c < DV; ++c) want[(size_t(b) * H + h) * DV + c] += s[t] / sum * float(row[c]);
      }
    }
  }
  DeviceBatch d(f);
  auto dq = kc::upload(qb);
  kc::DeviceBuffer dout(want.size() * sizeof(float)), dlse(size_t(B) * H * sizeof(float));
  kc::memset_device(dout.get(), 0xff, dout.bytes());
  kc::MlaLatentDecodeArgs a;
  a.seqs = d.batch(f);
  a.heads = H;
  a.q = dq.get();
  a.cache = d.pool.get();
  a.out = dout.as<float>();
  a.lse = dlse.as<float>();
  a.scale = scale;
  kc::Workspace ws;
  kc::mla_latent_decode(a, many_splits(f, 1), ws);
  kc::device_synchronize();
  auto got = kc::download<float>(dout.get(), want.size());
  EXPECT_LE(max_rel_error(got, want), k::rel_tolerance(k::DType::kBF16));
}

TEST(CudaDecodeAttention, GqaMhaMqaMatchReference) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  struct Case {
    int qh, kvh, hd, vd;
    k::DType dt;
  };
  for (Case c : {Case{8, 8, 128, 128, k::DType::kBF16}, Case{16, 2, 128, 128, k::DType::kBF16},
                 Case{10, 1, 64, 96, k::DType::kF32}, Case{6, 3, 192, 128, k::DType::kF32}}) {
    std::vector<int> lens = {1, 77, 600, 129};
    const int B = int(lens.size());
    const int64_t row = k::gqa_row_elems(c.kvh, c.hd, c.vd);
    PagedFixture f(lens, row, c.dt, 31 + c.qh);
    auto q = random_floats(size_t(B) * c.qh * c.hd, 32);
    k::GqaDecodeArgs host;
    host.seqs.batch = B;
    host.seqs.block_size = 64;
    host.seqs.block_table = f.table.data();
    host.seqs.max_blocks_per_seq = f.max_blocks;
    host.seqs.seq_lens = f.lens.data();
    host.seqs.num_pool_blocks = f.cache.num_blocks();
    host.q_heads = c.qh;
    host.kv_heads = c.kvh;
    host.head_dim = c.hd;
    host.v_head_dim = c.vd;
    host.q = q.data();
    host.k = k::gqa_k_view(f.cache.data(), c.dt, 64, c.kvh, c.hd, c.vd);
    host.v = k::gqa_v_view(f.cache.data(), c.dt, 64, c.kvh, c.hd, c.vd);
    host.scale = 1.0f / std::sqrt(float(c.hd));
    std::vector<double> want(size_t(B) * c.qh * c.vd);
    k::decode_attention_gqa_reference(host, want.data());

    DeviceBatch d(f);
    auto dq = kc::upload(q);
    kc::DeviceBuffer dout(want.size() * sizeof(float));
    kc::memset_device(dout.get(), 0xff, dout.bytes());
    k::GqaDecodeArgs dev = host;
    dev.seqs = d.batch(f);
    dev.q = dq.as<float>();
    dev.k = k::gqa_k_view(d.pool.get(), c.dt, 64, c.kvh, c.hd, c.vd);
    dev.v = k::gqa_v_view(d.pool.get(), c.dt, 64, c.kvh, c.hd, c.vd);
    dev.out = dout.as<float>();
    kc::Workspace ws;
    kc::decode_attention_gqa_cuda(dev, many_splits(f, kc::gqa_decode_ctas_per_split(dev)), ws);
    kc::device_synchronize();
    auto got = kc::download<float>(dout.get(), want.size());
    const double tol = c.dt == k::DType::kF32 ? 1e-4 : k::rel_tolerance(c.dt);
    EXPECT_LE(max_rel_error(got, want), tol) << "qh=" << c.qh << " kvh=" << c.kvh;
  }
}

TEST(CudaDecodeAttention, RejectsUnsupportedShapes) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  k::MlaDecodeArgs a;  // everything missing
  kc::Workspace ws;
  kc::DecodeSchedule s{256, 1, 10};
  EXPECT_THROW(kc::decode_attention_mla_absorbed_cuda(a, s, ws), std::invalid_argument);
  k::GqaDecodeArgs g;
  EXPECT_THROW(kc::decode_attention_gqa_cuda(g, s, ws), std::invalid_argument);
}

TEST(CudaDecodeAttention, CpuOnlyBuildThrows) {
  if (dsbench::kernels::cuda_built()) GTEST_SKIP() << "CUDA build";
  EXPECT_THROW(kc::DeviceBuffer(16), std::runtime_error);
  kc::Workspace ws;
  EXPECT_THROW(ws.get(16), std::runtime_error);
}
