// Decode-attention kernels against float64 references: GQA/MHA/MQA, MLA-naive, MLA-absorbed, over
// scattered paged layouts with varying sequence lengths; malformed arguments rejected.
#include <cmath>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "dsbench/kernels/attention.h"
#include "kv_cache/decode_inputs.h"

namespace dsbench::suites {
namespace {

using kernels::DType;

double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

struct GqaCase {
  GqaShape shape;
  DType dt;
  std::vector<int32_t> lens;
  int block_size;
};

class GqaTest : public ::testing::TestWithParam<GqaCase> {};

TEST_P(GqaTest, MatchesFloat64Reference) {
  const GqaCase& c = GetParam();
  DecodeInputs in = DecodeInputs::make_gqa(c.shape, c.dt, c.lens, c.block_size, 2, 42);
  // Both K layouts where the lanes one applies (the same pool read as either).
  const bool lanes = kernels::gqa_lanes_supported(c.dt, c.block_size, c.shape.head_dim);
  for (int layout = 0; layout < (lanes ? 2 : 1); ++layout)
    for (int copy = 0; copy < 2; ++copy) {
      kernels::GqaDecodeArgs a = in.gqa_args(copy, layout == 1);
      std::fill(in.out().begin(), in.out().end(), NAN);  // poisoned before every checked run
      kernels::decode_attention_gqa(a);
      std::vector<double> ref(in.out().size());
      kernels::decode_attention_gqa_reference(a, ref.data());
      // Storage rounding is in the inputs both sides read, so fp32 math bounds the error.
      EXPECT_LT(rel_err(in.out(), ref), kernels::rel_tolerance(DType::kF32))
          << "copy " << copy << (layout ? " lanes" : " blocked");
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GqaTest,
    ::testing::Values(
        GqaCase{{8, 8, 96, 64}, DType::kBF16, {1000, 37, 64, 1}, 64},     // MHA, tiny heads
        GqaCase{{8, 2, 96, 64}, DType::kBF16, {513, 129}, 64},            // GQA
        GqaCase{{8, 1, 96, 64}, DType::kF32, {700, 3}, 16},               // MQA, small blocks
        GqaCase{{12, 4, 40, 24}, DType::kF32, {300, 299, 1}, 32},         // odd dims: tails
        GqaCase{{6, 3, 128, 128}, DType::kBF16, {2000}, 64},              // long, 1 sequence
        GqaCase{{4, 4, 192, 128}, DType::kBF16, {90, 200}, 64},           // MLA-naive-like dims
        GqaCase{{24, 2, 48, 32}, DType::kBF16, {150, 70}, 32},            // 12 q per kv head
        // dsv3-tiny's MQA shape in bf16 (8-head tiles, a 37-token and a 5-token sequence for
        // the token tails), and 12 heads per kv head at D = 64 (an 8-head and a 4-head group)
        GqaCase{{8, 1, 96, 64}, DType::kBF16, {1000, 37, 5}, 64},
        GqaCase{{24, 2, 64, 32}, DType::kBF16, {150, 70}, 32},
        // 16k q heads per kv head: the heads-vectorised path, with D/Dv/head tails
        GqaCase{{32, 1, 72, 40}, DType::kBF16, {300, 65}, 64},
        GqaCase{{96, 2, 40, 24}, DType::kF32, {130, 1}, 16},
        // lanes K tiles: 2-head groups (G = 6 = 4 + 2) and single heads over 128-token blocks
        // (64-token steps at both halves of a block), tails of 1, 17 and 33 tokens
        GqaCase{{12, 2, 34, 20}, DType::kBF16, {161, 17, 33, 1}, 128},
        GqaCase{{3, 3, 62, 16}, DType::kBF16, {300, 97}, 32},
        // long enough that the work plan cuts its last items into pieces (one sequence split
        // across items and pieces, then a batch whose last sequences are cut)
        GqaCase{{8, 1, 96, 64}, DType::kBF16, {5000}, 64},
        GqaCase{{8, 2, 96, 64}, DType::kF32, {900, 3100, 2500}, 64}));

struct MlaCase {
  MlaShape shape;
  DType dt;
  std::vector<int32_t> lens;
  int block_size;
};

class MlaTest : public ::testing::TestWithParam<MlaCase> {};

TEST_P(MlaTest, NaiveAndAbsorbedMatchReferenceAndEachOther) {
  const MlaCase& c = GetParam();
  DecodeInputs in = DecodeInputs::make_mla(c.shape, c.dt, c.lens, c.block_size, 1, 7);
  kernels::MlaDecodeArgs a = in.mla_args(0);
  std::vector<double> ref(in.out().size());
  kernels::decode_attention_mla_reference(a, ref.data());
  std::fill(in.out().begin(), in.out().end(), NAN);
  kernels::decode_attention_mla_naive(a);
  const std::vector<float> naive = in.out();
  std::fill(in.out().begin(), in.out().end(), NAN);
  kernels::decode_attention_mla_absorbed(a);
  const std::vector<float> absorbed = in.out();
  EXPECT_LT(rel_err(naive, ref), kernels::rel_tolerance(DType::kF32));
  EXPECT_LT(rel_err(absorbed, ref), kernels::rel_tolerance(DType::kF32));
  // The two MLA forms are the same function: they agree to fp32 accuracy.
  std::vector<double> naive_d(naive.begin(), naive.end());
  EXPECT_LT(rel_err(absorbed, naive_d), 1e-5);
  // The absorbed kernel over the same pool read as lane groups (MLA-naive reads rows only).
  if (kernels::mla_lanes_supported(c.dt, c.block_size, c.shape.kv_lora_rank, c.shape.qk_rope_head_dim)) {
    kernels::MlaDecodeArgs al = in.mla_args(0, true);
    std::vector<double> ref_l(in.out().size());
    kernels::decode_attention_mla_reference(al, ref_l.data());
    std::fill(in.out().begin(), in.out().end(), NAN);
    kernels::decode_attention_mla_absorbed(al);
    EXPECT_LT(rel_err(in.out(), ref_l), kernels::rel_tolerance(DType::kF32)) << "lanes latent";
    EXPECT_THROW(kernels::decode_attention_mla_naive(al), std::invalid_argument);
  }
}

// One logical bf16 latent cache rewritten from rows into lane groups: the absorbed kernel reads
// the same rows from both (few heads: lanes tiles and lane-wise P.V; 16+ heads: the GEMM path).
TEST(MlaLayouts, LanesLatentMatchesRows) {
  for (int heads : {1, 3, 8, 12, 16}) {
    const MlaShape sh{heads, 64, 16, 16, 24};
    // Sequences of 1, 31, 33 and 700 tokens: tails inside a lane block, a group, and chunks of
    // 256 over several 64-token blocks.
    DecodeInputs in = DecodeInputs::make_mla(sh, DType::kBF16, {700, 33, 1, 31}, 64, 1, 13);
    kernels::MlaDecodeArgs rows = in.mla_args(0, false);
    const uint16_t* src = static_cast<const uint16_t*>(rows.latent.base);
    std::vector<uint16_t> re(size_t(in.cache().capacity_bytes() / 2), 0x7fc0);  // NaN padding
    kernels::MlaDecodeArgs lanes = rows;
    lanes.latent = kernels::mla_latent_view_lanes(re.data(), DType::kBF16, 64, sh.kv_lora_rank, sh.qk_rope_head_dim);
    const int row = sh.kv_lora_rank + sh.qk_rope_head_dim;
    for (int64_t b = 0; b < rows.seqs.num_pool_blocks; ++b)
      for (int t = 0; t < 64; ++t)
        for (int i = 0; i < row; ++i)
          re[size_t(kernels::paged_elem_offset(lanes.latent, int32_t(b), t, 0, i))] =
              src[kernels::paged_elem_offset(rows.latent, int32_t(b), t, 0, i)];
    // Slots past each sequence's end hold NaN in the lanes copy: they must not reach the output.
    const int32_t* table = rows.seqs.block_table;
    for (int s = 0; s < rows.seqs.batch; ++s) {
      const int len = rows.seqs.seq_lens[s];
      const int32_t last = table[int64_t(s) * rows.seqs.max_blocks_per_seq + (len - 1) / 64];
      for (int t = (len - 1) % 64 + 1; t < 64; ++t)
        for (int i = 0; i < row; ++i)
          re[size_t(kernels::paged_elem_offset(lanes.latent, last, t, 0, i))] = 0x7fc0;
    }
    kernels::decode_attention_mla_absorbed(rows);
    const std::vector<float> out_rows = in.out();
    std::fill(in.out().begin(), in.out().end(), NAN);
    kernels::decode_attention_mla_absorbed(lanes);
    std::vector<double> ref(out_rows.begin(), out_rows.end());
    EXPECT_LT(rel_err(in.out(), ref), 1e-6) << heads << " heads";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MlaTest,
    ::testing::Values(
        MlaCase{{8, 128, 64, 32, 64}, DType::kF32, {1000, 37, 300}, 64},   // dsv3-tiny
        MlaCase{{8, 128, 64, 32, 64}, DType::kBF16, {257, 64}, 64},
        MlaCase{{6, 48, 24, 8, 40}, DType::kF32, {130, 1, 77}, 16},        // odd: tails, H % 4
        MlaCase{{48, 48, 24, 8, 40}, DType::kBF16, {200, 3}, 32},          // 48 heads: tails
        MlaCase{{16, 512, 128, 64, 128}, DType::kBF16, {150}, 64},         // DeepSeek-V3 dims
        // 4 or more sequences: W_UK/W_UV applied per head to all of them in one product
        MlaCase{{8, 128, 64, 32, 64}, DType::kBF16, {40, 1, 129, 64, 7}, 16},
        MlaCase{{16, 512, 128, 64, 128}, DType::kF32, {20, 70, 3, 9, 1, 33, 64}, 32},
        // the work plan's last items cut into pieces (see GqaTest)
        MlaCase{{8, 128, 64, 32, 64}, DType::kBF16, {4500}, 64},
        MlaCase{{8, 128, 64, 32, 64}, DType::kF32, {700, 3000, 2100}, 64}));

// An engine that applies W_UK and W_UV itself passes q_latent and takes out_latent; composed by
// hand with the same weights, that equals the whole absorbed kernel and the float64 reference.
TEST(MlaLatentInterface, LatentInAndOutComposeToTheFullKernel) {
  const MlaShape sh{8, 128, 64, 32, 64};
  DecodeInputs in = DecodeInputs::make_mla(sh, DType::kBF16, {300, 65, 1}, 64, 1, 11);
  kernels::MlaDecodeArgs a = in.mla_args(0);
  const int B = a.seqs.batch, H = a.heads, R = a.kv_lora_rank, P = a.qk_rope_head_dim;
  const int Dn = a.qk_nope_head_dim, V = a.v_head_dim;
  std::vector<double> ref(in.out().size());
  kernels::decode_attention_mla_reference(a, ref.data());
  std::vector<float> q_lat(size_t(B) * H * (R + P)), o_lat(size_t(B) * H * R, NAN);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      float* q = q_lat.data() + (size_t(b) * H + h) * (R + P);
      for (int c = 0; c < R; ++c) {
        double s = 0;
        for (int d = 0; d < Dn; ++d)
          s += double(a.q_nope[(size_t(b) * H + h) * Dn + d]) * a.w_uk[(size_t(h) * Dn + d) * R + c];
        q[c] = float(s);
      }
      for (int p = 0; p < P; ++p) q[R + p] = a.q_pe[(size_t(b) * H + h) * P + p];
    }
  kernels::MlaDecodeArgs lat = a;
  lat.q_nope = nullptr;
  lat.w_uk = nullptr;
  lat.w_uv = nullptr;
  lat.out = nullptr;
  lat.q_latent = q_lat.data();
  lat.out_latent = o_lat.data();
  kernels::decode_attention_mla_absorbed(lat);
  std::vector<float> out(in.out().size());
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int e = 0; e < V; ++e) {
        double s = 0;
        for (int c = 0; c < R; ++c)
          s += double(a.w_uv[(size_t(h) * V + e) * R + c]) * o_lat[(size_t(b) * H + h) * R + c];
        out[(size_t(b) * H + h) * V + size_t(e)] = float(s);
      }
  EXPECT_LT(rel_err(out, ref), kernels::rel_tolerance(DType::kF32));
  // Without q_latent the weights are required, and named.
  lat.q_latent = nullptr;
  EXPECT_THROW(kernels::decode_attention_mla_absorbed(lat), std::invalid_argument);
}

// The benchmark caches' contents: uniform in [-1, 1), different in every block and for every seed,
// the same for the same seed, and a bf16 cache holds exactly the bf16 rounding of the fp32 cache's
// values (so the two kernels read the same keys).
TEST(DecodeInputsFill, UniformPerBlockSeededAndBf16IsTheRoundedFp32) {
  const GqaShape s{8, 2, 64, 64};
  const std::vector<int32_t> lens = {500, 200};
  DecodeInputs f = DecodeInputs::make_gqa(s, DType::kF32, lens, 64, 1, 7);
  DecodeInputs f2 = DecodeInputs::make_gqa(s, DType::kF32, lens, 64, 1, 7);
  DecodeInputs g = DecodeInputs::make_gqa(s, DType::kF32, lens, 64, 1, 8);
  DecodeInputs h = DecodeInputs::make_gqa(s, DType::kBF16, lens, 64, 1, 7);
  const int64_t n = f.cache().num_blocks() * f.cache().block_bytes() / 4;
  const auto* a = reinterpret_cast<const float*>(f.cache().data());
  const auto* a2 = reinterpret_cast<const float*>(f2.cache().data());
  const auto* b = reinterpret_cast<const float*>(g.cache().data());
  const auto* hb = reinterpret_cast<const uint16_t*>(h.cache().data());
  ASSERT_EQ(h.cache().num_blocks() * h.cache().block_bytes() / 2, n);
  double sum = 0, sq = 0;
  int64_t same_seed_diff = 0, other_seed_same = 0, bf16_mismatch = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_GE(a[i], -1.0f);
    ASSERT_LT(a[i], 1.0f);
    sum += a[i];
    sq += double(a[i]) * a[i];
    same_seed_diff += a[i] != a2[i];
    other_seed_same += a[i] == b[i];
    bf16_mismatch += hb[i] != kernels::bf16::from_float(a[i]);
  }
  EXPECT_EQ(same_seed_diff, 0);
  EXPECT_LT(other_seed_same, n / 1000);
  EXPECT_EQ(bf16_mismatch, 0);
  EXPECT_LT(std::abs(sum / double(n)), 0.01);
  EXPECT_NEAR(sq / double(n), 1.0 / 3.0, 0.01);  // the variance of U(-1, 1)
  // No block repeats the first one.
  const int64_t per_block = f.cache().block_bytes() / 4;
  for (int64_t blk = 1; blk < f.cache().num_blocks(); ++blk) {
    int64_t equal = 0;
    for (int64_t i = 0; i < per_block; ++i) equal += a[i] == a[blk * per_block + i];
    EXPECT_LT(equal, per_block / 100) << "block " << blk;
  }
}

// bf16 storage against the fp32 values it came from: the per-dtype bound of dtype.h.
TEST(AttentionDtype, Bf16CacheWithinBf16BoundOfFp32Cache) {
  const GqaShape s{8, 2, 64, 64};
  const std::vector<int32_t> lens = {500, 200};
  DecodeInputs f = DecodeInputs::make_gqa(s, DType::kF32, lens, 64, 1, 3);
  DecodeInputs h = DecodeInputs::make_gqa(s, DType::kBF16, lens, 64, 1, 3);
  kernels::decode_attention_gqa(f.gqa_args(0));
  kernels::decode_attention_gqa(h.gqa_args(0, false));  // the fp32 cache's layout: same keys
  std::vector<double> fd(f.out().begin(), f.out().end());
  const double e = rel_err(h.out(), fd);
  EXPECT_LT(e, kernels::rel_tolerance(DType::kBF16));
  EXPECT_GT(e, 0.0);  // the bf16 cache really is rounded
}

// Scores that climb by more than the lazy-rescale margin (8) over a sequence force the running
// max up several times; scores that fall never do; a slow climb stays within the margin and runs
// on a stale max. Every case must still match the float64 reference. All q heads share one
// direction u and K row t is ramp(t) * u + noise, so every head sees the ramp.
TEST(GqaSoftmax, ClimbingAndFallingScoresMatchFloat64Reference) {
  for (int q_heads : {32, 8}) {  // the heads-vectorised path and the register-tile path
    for (double top : {60.0, -60.0, 6.0}) {
      const int hd = 64, vd = 32, len = 700, bs = 64;
      DecodeInputs in = DecodeInputs::make_gqa({q_heads, 1, hd, vd}, DType::kF32, {len}, bs, 1, 9);
      kernels::GqaDecodeArgs a = in.gqa_args(0);
      std::vector<float> u(hd);
      for (int d = 0; d < hd; ++d) u[size_t(d)] = float((d % 3) - 1) * 0.25f + 0.05f;
      double uu = 0;
      for (float x : u) uu += double(x) * x;
      float* q = const_cast<float*>(a.q);
      for (int h = 0; h < q_heads; ++h)
        for (int d = 0; d < hd; ++d) q[h * hd + d] = u[size_t(d)];
      float* pool = static_cast<float*>(const_cast<void*>(a.k.base));
      for (int t = 0; t < len; ++t) {
        const double ramp = (top >= 0 ? double(t) / len : 1.0 - double(t) / len) * std::fabs(top);
        float* row = pool + int64_t(a.seqs.block_table[t / bs]) * a.k.block_stride + (t % bs) * a.k.token_stride;
        for (int d = 0; d < hd; ++d)
          row[d] = float(ramp / (uu * a.scale) * u[size_t(d)] + 0.01 * std::sin(double(t * hd + d)));
      }
      std::fill(in.out().begin(), in.out().end(), NAN);
      kernels::decode_attention_gqa(a);
      std::vector<double> ref(in.out().size());
      kernels::decode_attention_gqa_reference(a, ref.data());
      EXPECT_LT(rel_err(in.out(), ref), kernels::rel_tolerance(DType::kF32))
          << q_heads << " heads, scores up to " << top;
    }
  }
}

// The suite's caches are head-major per block (vLLM's layout); the engine's mha_cache keeps token
// rows. The same logical cache in both layouts gives the same output, value for value.
TEST(GqaLayouts, HeadMajorBlocksMatchTokenRows) {
  const int kvh = 2, hd = 32, vd = 24, bs = 16;
  DecodeInputs in = DecodeInputs::make_gqa({8, kvh, hd, vd}, DType::kF32, {100, 37}, bs, 1, 5);
  kernels::GqaDecodeArgs blocked = in.gqa_args(0);
  const int64_t row = kernels::gqa_row_elems(kvh, hd, vd), blocks = blocked.seqs.num_pool_blocks;
  const float* src = static_cast<const float*>(blocked.k.base);
  std::vector<float> rows(size_t(blocks * bs * row), NAN);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < bs; ++t)
      for (int64_t h = 0; h < kvh; ++h) {
        for (int64_t i = 0; i < hd; ++i)
          rows[size_t(b * bs * row + t * row + h * hd + i)] = src[b * bs * row + h * bs * hd + t * hd + i];
        for (int64_t i = 0; i < vd; ++i)
          rows[size_t(b * bs * row + t * row + kvh * hd + h * vd + i)] =
              src[b * bs * row + kvh * bs * hd + h * bs * vd + t * vd + i];
      }
  // The blocked views address exactly what the copy read.
  EXPECT_EQ(kernels::gqa_v_view_blocked(src, DType::kF32, bs, kvh, hd, vd).base, blocked.v.base);
  kernels::GqaDecodeArgs token_rows = blocked;
  token_rows.k = kernels::gqa_k_view(rows.data(), DType::kF32, bs, kvh, hd, vd);
  token_rows.v = kernels::gqa_v_view(rows.data(), DType::kF32, bs, kvh, hd, vd);
  std::vector<float> out_rows(in.out().size(), NAN);
  token_rows.out = out_rows.data();
  kernels::decode_attention_gqa(blocked);
  kernels::decode_attention_gqa(token_rows);
  ASSERT_EQ(in.out().size(), out_rows.size());
  for (size_t i = 0; i < out_rows.size(); ++i) ASSERT_EQ(in.out()[i], out_rows[i]) << i;
}

// The lanes K layout: element (slot, i) of a (block, head) at group (slot / 32), pair (i / 2),
// lane (slot % 32), half (i % 2). Known offsets, and a bijection onto the block's K rows.
TEST(GqaLayouts, LanesOffsetsAreAPermutationOfTheBlockedRows) {
  const int kvh = 2, hd = 6, vd = 4, bs = 64;
  std::vector<uint16_t> pool(8);
  const kernels::PagedView v = kernels::gqa_k_view_lanes(pool.data(), DType::kBF16, bs, kvh, hd, vd);
  EXPECT_EQ(kernels::paged_elem_offset(v, 0, 0, 0, 1), 1);
  EXPECT_EQ(kernels::paged_elem_offset(v, 0, 1, 0, 0), 2);
  EXPECT_EQ(kernels::paged_elem_offset(v, 0, 0, 0, 2), 64);
  EXPECT_EQ(kernels::paged_elem_offset(v, 0, 31, 0, 5), 2 * 64 + 31 * 2 + 1);
  EXPECT_EQ(kernels::paged_elem_offset(v, 0, 32, 0, 0), 32 * hd);
  EXPECT_EQ(kernels::paged_elem_offset(v, 0, 0, 1, 0), int64_t(bs) * hd);
  const int64_t row = kernels::gqa_row_elems(kvh, hd, vd);
  EXPECT_EQ(kernels::paged_elem_offset(v, 3, 0, 0, 0), 3 * row * bs);
  std::vector<int> hits(size_t(kvh) * bs * hd, 0);
  for (int h = 0; h < kvh; ++h)
    for (int t = 0; t < bs; ++t)
      for (int i = 0; i < hd; ++i) {
        const int64_t o = kernels::paged_elem_offset(v, 0, t, h, i);
        ASSERT_GE(o, 0);
        ASSERT_LT(o, int64_t(hits.size()));
        ++hits[size_t(o)];
      }
  for (int n : hits) EXPECT_EQ(n, 1);
}

// One logical bf16 K cache rewritten from head-major rows into lane groups: the kernels read the
// same keys from both, so the outputs agree to rounding (the score sums run in another order).
TEST(GqaLayouts, LanesKeysMatchBlockedRows) {
  const int kvh = 2, hd = 40, vd = 24, bs = 64;
  for (int q_heads : {2, 8, 16, 32}) {  // 1- and 4-head groups, 8-head tiles, the large-G path
    DecodeInputs in = DecodeInputs::make_gqa({q_heads, kvh, hd, vd}, DType::kBF16, {300, 37}, bs, 1, 9);
    kernels::GqaDecodeArgs blocked = in.gqa_args(0, false);
    const int64_t blocks = blocked.seqs.num_pool_blocks;
    const uint16_t* src = static_cast<const uint16_t*>(blocked.k.base);
    const size_t pool_elems = size_t(in.cache().capacity_bytes() / 2);
    std::vector<uint16_t> re(src, src + pool_elems);  // V unchanged
    kernels::GqaDecodeArgs lanes = blocked;
    lanes.k = kernels::gqa_k_view_lanes(re.data(), DType::kBF16, bs, kvh, hd, vd);
    lanes.v.base = static_cast<const uint8_t*>(blocked.v.base) - static_cast<const uint8_t*>(blocked.k.base) +
                   reinterpret_cast<const uint8_t*>(re.data());
    for (int64_t b = 0; b < blocks; ++b)
      for (int t = 0; t < bs; ++t)
        for (int h = 0; h < kvh; ++h)
          for (int i = 0; i < hd; ++i)
            re[size_t(kernels::paged_elem_offset(lanes.k, int32_t(b), t, h, i))] =
                src[kernels::paged_elem_offset(blocked.k, int32_t(b), t, h, i)];
    std::vector<float> out_lanes(in.out().size(), NAN);
    lanes.out = out_lanes.data();
    kernels::decode_attention_gqa(blocked);
    kernels::decode_attention_gqa(lanes);
    std::vector<double> ref(out_lanes.begin(), out_lanes.end());
    EXPECT_LT(rel_err(in.out(), ref), 1e-6) << q_heads << " q heads";
  }
}

TEST(AttentionValidate, RejectsMalformedArguments) {
  DecodeInputs in = DecodeInputs::make_gqa({8, 2, 32, 32}, DType::kBF16, {100}, 64, 1, 1);
  auto expect_bad = [&](auto mutate, const char* field) {
    kernels::GqaDecodeArgs a = in.gqa_args(0);
    mutate(a);
    try {
      kernels::decode_attention_gqa(a);
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  expect_bad([](kernels::GqaDecodeArgs& a) { a.kv_heads = 3; }, "kv_heads");
  expect_bad([](kernels::GqaDecodeArgs& a) { a.q = nullptr; }, "q");
  expect_bad([](kernels::GqaDecodeArgs& a) { a.head_dim = 0; }, "head_dim");
  expect_bad([](kernels::GqaDecodeArgs& a) { a.seqs.batch = 0; }, "seqs.batch");
  expect_bad([](kernels::GqaDecodeArgs& a) { a.k.dtype = DType::kFP8E4M3; }, "k.dtype");
  std::vector<int32_t> long_len = {100000};
  expect_bad([&](kernels::GqaDecodeArgs& a) { a.seqs.seq_lens = long_len.data(); }, "seq_lens");
  std::vector<int32_t> zero_len = {0};
  expect_bad([&](kernels::GqaDecodeArgs& a) { a.seqs.seq_lens = zero_len.data(); }, "seq_lens");
  std::vector<int32_t> bad_table = {5, 999999};
  expect_bad([&](kernels::GqaDecodeArgs& a) { a.seqs.block_table = bad_table.data(); }, "block_table");
  expect_bad([](kernels::GqaDecodeArgs& a) { a.k.lanes = 16; }, "k.lanes");
  expect_bad([](kernels::GqaDecodeArgs& a) { a.v.lanes = kernels::kKeyLanes; }, "v.lanes");
  expect_bad([](kernels::GqaDecodeArgs& a) {
    a.k.lanes = kernels::kKeyLanes;
    a.head_dim = a.v_head_dim = 31;
  }, "k.lanes");
  {
    DecodeInputs f = DecodeInputs::make_gqa({8, 2, 32, 32}, DType::kF32, {100}, 64, 1, 1);
    kernels::GqaDecodeArgs a = f.gqa_args(0);
    EXPECT_EQ(a.k.lanes, 0);  // the suite keeps fp32 caches in rows
    a.k.lanes = kernels::kKeyLanes;
    EXPECT_THROW(kernels::decode_attention_gqa(a), std::invalid_argument);
  }
  {
    DecodeInputs s16 = DecodeInputs::make_gqa({8, 2, 32, 32}, DType::kBF16, {100}, 16, 1, 1);
    kernels::GqaDecodeArgs a = s16.gqa_args(0, false);
    a.k.lanes = kernels::kKeyLanes;  // 16-token blocks hold no whole lane group
    EXPECT_THROW(kernels::decode_attention_gqa(a), std::invalid_argument);
  }

  DecodeInputs m = DecodeInputs::make_mla({4, 32, 16, 8, 16}, DType::kF32, {50}, 64, 1, 1);
  kernels::MlaDecodeArgs ma = m.mla_args(0);
  ma.w_uk = nullptr;
  EXPECT_THROW(kernels::decode_attention_mla_absorbed(ma), std::invalid_argument);
  ma = m.mla_args(0);
  ma.latent.token_stride = 10;
  EXPECT_THROW(kernels::decode_attention_mla_naive(ma), std::invalid_argument);
  ma = m.mla_args(0);
  ma.latent.lanes = kernels::kKeyLanes;  // an fp32 latent
  EXPECT_THROW(kernels::decode_attention_mla_absorbed(ma), std::invalid_argument);
  DecodeInputs odd = DecodeInputs::make_mla({4, 31, 16, 9, 16}, DType::kBF16, {50}, 64, 1, 1);
  ma = odd.mla_args(0);
  ma.latent.lanes = kernels::kKeyLanes;  // an odd row
  try {
    kernels::decode_attention_mla_absorbed(ma);
    ADD_FAILURE() << "accepted a lanes latent with an odd row";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("latent.lanes"), std::string::npos) << e.what();
  }
}

TEST(AttentionCost, CountsBytesAndFlops) {
  const std::vector<int32_t> lens = {1000, 24};
  kernels::GqaDecodeArgs g;
  g.seqs.batch = 2;
  g.seqs.seq_lens = lens.data();
  g.q_heads = 64;
  g.kv_heads = 8;
  g.head_dim = g.v_head_dim = 128;
  g.k.dtype = g.v.dtype = DType::kBF16;
  const auto c = kernels::decode_attention_gqa_cost(g);
  EXPECT_DOUBLE_EQ(c.cache_bytes, 1024.0 * 8 * 256 * 2);
  EXPECT_DOUBLE_EQ(c.flops, 2.0 * 1024 * 64 * 256);
  kernels::MlaDecodeArgs m;
  m.seqs.batch = 2;
  m.seqs.seq_lens = lens.data();
  m.heads = 128;
  m.kv_lora_rank = 512;
  m.qk_nope_head_dim = 128;
  m.qk_rope_head_dim = 64;
  m.v_head_dim = 128;
  m.latent.dtype = DType::kBF16;
  const auto a = kernels::decode_attention_mla_absorbed_cost(m);
  EXPECT_DOUBLE_EQ(a.cache_bytes, 1024.0 * 576 * 2);
  // FlashMLA's formula for the attention part: sum(s_k) * h_q * (d + dv) * 2.
  EXPECT_DOUBLE_EQ(a.flops - 2.0 * 2 * 128 * 256 * 512, 1024.0 * 128 * (576 + 512) * 2);
}

}  // namespace
}  // namespace dsbench::suites
