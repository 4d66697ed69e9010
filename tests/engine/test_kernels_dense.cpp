// Dense math kernels of the engine against float64 references: GEMM (own and BLAS paths, fp32 and
// bf16 weights, ragged shapes), RMSNorm, RoPE/YaRN frequencies, SwiGLU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "dsbench/kernels/activation.h"
#include "dsbench/kernels/gemm.h"
#include "dsbench/kernels/norm.h"
#include "dsbench/kernels/rope.h"

using namespace dsbench::kernels;

namespace {
struct GemmCase {
  int64_t m, n, k;
};

void check_gemm(DType dt, GemmPath path, GemmCase c) {
  std::mt19937 rng(uint32_t(c.m * 131 + c.n * 7 + c.k));
  std::uniform_real_distribution<float> u(-1, 1);
  // Padded strides everywhere: a kernel that assumes ld == k reads the wrong rows.
  const int64_t ldx = c.k + 3, ldy = c.n + 5, ldw = c.k + 7;
  std::vector<float> x(size_t(c.m * ldx)), wf(size_t(c.n * ldw));
  for (auto& v : x) v = u(rng);
  for (auto& v : wf) v = u(rng);
  std::vector<uint16_t> wb(wf.size());
  for (size_t i = 0; i < wf.size(); ++i) wb[i] = bf16::from_float(wf[i]);
  WeightView w{dt == DType::kF32 ? static_cast<const void*>(wf.data()) : wb.data(), dt, c.n, c.k, ldw};
  std::vector<float> y(size_t(c.m * ldy), std::nanf(""));  // poisoned
  std::vector<double> ref(size_t(c.m * c.n));
  gemm_xwt(x.data(), c.m, ldx, w, y.data(), ldy, false, path);
  gemm_xwt_ref(x.data(), c.m, ldx, w, ref.data());
  double worst = 0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      const double r = ref[size_t(i * c.n + j)], g = y[size_t(i * ldy + j)];
      worst = std::max(worst, std::abs(g - r) / (std::sqrt(double(c.k)) * 1.0));
    }
  // Weights are exact in both paths (bf16 widened exactly); only fp32 accumulation order differs.
  EXPECT_LT(worst, 1e-5) << "m=" << c.m << " n=" << c.n << " k=" << c.k;
  // Accumulate mode adds onto y.
  std::vector<float> y2(size_t(c.m * ldy), 1.0f);
  gemm_xwt(x.data(), c.m, ldx, w, y2.data(), ldy, true, path);
  EXPECT_NEAR(y2[0], 1.0 + ref[0], 1e-4);
}
}  // namespace

TEST(Gemm, OwnAndBlasMatchReference) {
  for (DType dt : {DType::kF32, DType::kBF16})
    for (GemmPath p : {GemmPath::kOwn, GemmPath::kBlas, GemmPath::kAuto})
      for (GemmCase c : {GemmCase{1, 37, 64}, GemmCase{1, 50, 70}, GemmCase{1, 64, 512}, GemmCase{3, 64, 70}, GemmCase{5, 130, 33}, GemmCase{17, 9, 512},
                         GemmCase{16, 40, 64}, GemmCase{64, 100, 96}})
        check_gemm(dt, p, c);
}

// The kPanel16 layout: packing keeps every element (panel16_at reads it back), and both paths
// over packed weights equal the float64 reference, for ragged n (a partial last panel), odd k
// (the unpaired last column), every small-m tile shape and the grouped entry point. A row-range
// view starting at a panel boundary is a matrix of its own.
TEST(Gemm, Panel16LayoutMatchesReference) {
  for (GemmCase c : {GemmCase{1, 37, 64}, GemmCase{2, 50, 71}, GemmCase{3, 64, 512}, GemmCase{4, 200, 33},
                     GemmCase{5, 130, 96}, GemmCase{6, 48, 64}, GemmCase{7, 16, 9}, GemmCase{16, 160, 512},
                     GemmCase{17, 9, 100}, GemmCase{32, 96, 64}, GemmCase{33, 100, 65}, GemmCase{128, 64, 512}}) {
    std::mt19937 rng(uint32_t(c.m * 131 + c.n * 7 + c.k));
    std::uniform_real_distribution<float> u(-1, 1);
    const int64_t ldx = c.k + 3, ldy = c.n + 5;
    std::vector<float> x(size_t(c.m * ldx));
    std::vector<uint16_t> rows(size_t(c.n * c.k));
    for (auto& v : x) v = u(rng);
    for (auto& v : rows) v = bf16::from_float(u(rng));
    std::vector<uint16_t> packed(size_t(panel16_elems(c.n, c.k)), 0xFFFF);
    pack_panel16(rows.data(), c.n, c.k, c.k, packed.data());
    for (int64_t r = 0; r < c.n; ++r)
      for (int64_t kk = 0; kk < c.k; ++kk)
        ASSERT_EQ(panel16_at(packed.data(), c.k, r, kk), rows[size_t(r * c.k + kk)]) << r << "," << kk;
    const WeightView wr{rows.data(), DType::kBF16, c.n, c.k, c.k};
    const WeightView wp{packed.data(), DType::kBF16, c.n, c.k, panel16_stride(c.k), WeightLayout::kPanel16};
    std::vector<double> ref(size_t(c.m * c.n));
    gemm_xwt_ref(x.data(), c.m, ldx, wr, ref.data());
    for (int mode = 0; mode < 3; ++mode) {
      std::vector<float> y(size_t(c.m * ldy), std::nanf(""));
      if (mode == 2) {
        GemmProblem g{x.data(), c.m, ldx, wp, y.data(), ldy, false};
        gemm_xwt_grouped(&g, 1);
      } else {
        gemm_xwt(x.data(), c.m, ldx, wp, y.data(), ldy, false, mode == 0 ? GemmPath::kOwn : GemmPath::kBlas);
      }
      double worst = 0;
      for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < c.n; ++j)
          worst = std::max(worst, std::abs(y[size_t(i * ldy + j)] - ref[size_t(i * c.n + j)]) / std::sqrt(double(c.k)));
        for (int64_t j = c.n; j < ldy; ++j) EXPECT_TRUE(std::isnan(y[size_t(i * ldy + j)])) << "wrote past n";
      }
      EXPECT_LT(worst, 1e-5) << "mode " << mode << " m=" << c.m << " n=" << c.n << " k=" << c.k;
    }
    // Accumulate adds onto y.
    std::vector<float> y2(size_t(c.m * ldy), 1.0f);
    gemm_xwt(x.data(), c.m, ldx, wp, y2.data(), ldy, true);
    EXPECT_NEAR(y2[0], 1.0 + ref[0], 1e-4);
    // Rows [16, n) as a view of their own.
    if (c.n > 16) {
      WeightView sub = wp;
      sub.data = packed.data() + panel16_stride(c.k);
      sub.n = c.n - 16;
      std::vector<float> y3(size_t(c.m * ldy));
      gemm_xwt(x.data(), c.m, ldx, sub, y3.data(), ldy);
      EXPECT_NEAR(y3[0], ref[16], 1e-4 * std::sqrt(double(c.k)));
    }
  }
  // A packed view must be bf16 with the panel stride.
  std::vector<uint16_t> p(size_t(panel16_elems(16, 8)));
  std::vector<float> x(8), y(16);
  EXPECT_THROW(gemm_xwt(x.data(), 1, 8, WeightView{p.data(), DType::kF32, 16, 8, panel16_stride(8), WeightLayout::kPanel16},
                        y.data(), 16),
               std::invalid_argument);
  EXPECT_THROW(gemm_xwt(x.data(), 1, 8, WeightView{p.data(), DType::kBF16, 16, 8, 8, WeightLayout::kPanel16}, y.data(), 16),
               std::invalid_argument);
}

TEST(RmsNorm, MatchesReference) {
  const int64_t dim = 77;
  std::vector<float> x(2 * dim), w(dim), y(2 * dim);
  for (int64_t i = 0; i < 2 * dim; ++i) x[size_t(i)] = std::sin(double(i)) * 3;
  for (int64_t i = 0; i < dim; ++i) w[size_t(i)] = 0.5f + float(i) / dim;
  rms_norm(x.data(), 2, dim, dim, w.data(), 1e-6f, y.data(), dim);
  for (int r = 0; r < 2; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += double(x[size_t(r * dim + i)]) * x[size_t(r * dim + i)];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
    for (int64_t i = 0; i < dim; ++i)
      EXPECT_NEAR(y[size_t(r * dim + i)], x[size_t(r * dim + i)] * inv * w[size_t(i)], 1e-5);
  }
}

TEST(Rope, PlainFrequenciesAndRotation) {
  RopeParams p;
  p.dim = 8;
  p.theta = 10000;
  auto f = rope_inv_freq(p);
  ASSERT_EQ(f.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(f[size_t(i)], 1.0 / std::pow(10000.0, 2.0 * i / 8), 1e-7);
  std::vector<float> v = {1, 0, 1, 0, 0, 1, 0, 1};
  rope_apply(v.data(), 1, 8, 8, 3, f.data());
  EXPECT_NEAR(v[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(v[1], std::sin(3.0), 1e-6);
  // A rotation keeps each pair's norm.
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(std::hypot(v[size_t(2 * i)], v[size_t(2 * i + 1)]), 1.0, 1e-6);
}

TEST(Rope, AnglesThenRotateMatchDoubleReferenceAtLongPositions) {
  // The engine computes each position's cos/sin once per forward (rope_angles) and rotates q and k
  // with them (rope_rotate). At 128K positions the angle reaches 1e5 radians: an fp32 angle would
  // be off by ~4e-3 rad, far outside the tolerance below.
  RopeParams p;
  p.dim = 64;
  p.yarn = true;
  p.factor = 40;
  const auto f = rope_inv_freq(p);
  std::vector<float> a(3 * 80), cs(32), sn(32);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.37f * float(i)) + 0.1f;
  for (int64_t pos : {0, 1, 4095, 131071}) {
    std::vector<float> got = a, applied = a;
    rope_angles(64, pos, f.data(), cs.data(), sn.data());
    rope_rotate(got.data(), 3, 80, 64, cs.data(), sn.data());
    rope_apply(applied.data(), 3, 80, 64, pos, f.data());
    for (int h = 0; h < 3; ++h)
      for (int i = 0; i < 32; ++i) {
        const double ang = double(pos) * double(f[size_t(i)]);
        const double x = a[size_t(h * 80 + 2 * i)], y = a[size_t(h * 80 + 2 * i + 1)];
        EXPECT_NEAR(got[size_t(h * 80 + 2 * i)], x * std::cos(ang) - y * std::sin(ang), 2e-6) << pos;
        EXPECT_NEAR(got[size_t(h * 80 + 2 * i + 1)], x * std::sin(ang) + y * std::cos(ang), 2e-6) << pos;
      }
    EXPECT_EQ(got, applied) << "rope_apply is rope_angles then rope_rotate, pos " << pos;
    // The 16 values after each head's 64 (stride 80) are not rope dims and stay as they were.
    for (int h = 0; h < 3; ++h)
      for (int i = 64; i < 80; ++i) ASSERT_EQ(got[size_t(h * 80 + i)], a[size_t(h * 80 + i)]);
  }
  std::vector<float> wide(1026, 1.0f), wf(513, 1.0f);
  EXPECT_THROW(rope_apply(wide.data(), 1, 1026, 1026, 1, wf.data()), std::invalid_argument);
}

TEST(Rope, YarnBlendsLowAndHighFrequencies) {
  // DeepSeek-V3: dim 64, theta 1e4, factor 40, original 4096, beta 32/1.
  RopeParams p;
  p.dim = 64;
  p.yarn = true;
  p.factor = 40;
  p.original_max_position = 4096;
  auto f = rope_inv_freq(p);
  RopeParams q = p;
  q.yarn = false;
  auto g = rope_inv_freq(q);
  // correction dims: low = floor(64*ln(4096/(32*2pi))/(2 ln 1e4)) = 10, high = ceil(...beta 1...) = 23.
  EXPECT_FLOAT_EQ(f[0], g[0]);                 // fast dims extrapolate (unchanged)
  EXPECT_FLOAT_EQ(f[10], g[10]);
  EXPECT_NEAR(f[31], g[31] / 40, 1e-12);       // slow dims interpolate (divided by factor)
  EXPECT_NEAR(f[23], g[23] / 40, 1e-12);
  EXPECT_LT(f[16], g[16]);
  EXPECT_GT(f[16], g[16] / 40);
}

TEST(Activation, SiluMulAndSoftmax) {
  std::vector<float> gu = {1.0f, -2.0f, 3.0f, 0.5f};  // inter 2: gate {1,-2}, up {3,0.5}
  std::vector<float> out(2);
  silu_mul(gu.data(), 1, 2, 4, out.data());
  EXPECT_NEAR(out[0], 1.0 / (1 + std::exp(-1.0)) * 3, 1e-6);
  EXPECT_NEAR(out[1], -2.0 / (1 + std::exp(2.0)) * 0.5, 1e-6);
  // Vectorised exp over the whole range, saturating ends included: relative error ~1e-7.
  const int64_t inter = 2001;
  std::vector<float> wide(size_t(2 * inter));
  std::vector<float> o(static_cast<size_t>(inter));
  for (int64_t i = 0; i < inter; ++i) {
    wide[size_t(i)] = -100.0f + 0.1f * float(i);
    wide[size_t(inter + i)] = 1.5f;
  }
  silu_mul(wide.data(), 1, inter, 2 * inter, o.data());
  for (int64_t i = 0; i < inter; ++i) {
    const double g = wide[size_t(i)], want = g / (1.0 + std::exp(-g)) * 1.5;
    EXPECT_NEAR(o[size_t(i)], want, 2e-6 * std::max(1e-30, std::abs(want)) + 1e-30) << "gate " << g;
  }
  std::vector<float> s = {1000, 1000, 999};
  softmax_inplace(s.data(), 3);
  EXPECT_NEAR(s[0] + s[1] + s[2], 1.0, 1e-6);
  EXPECT_NEAR(s[0], s[1], 1e-7);
}

// Two tiles through the online softmax equal one softmax over the valid scores; masked entries
// (past `valid`) become 0 and a tile with nothing valid leaves the state alone.
TEST(Activation, OnlineSoftmaxRowMatchesOneShot) {
  std::vector<float> all = {0.5f, -1.0f, 3.0f, 2.0f, -4.0f, 7.0f, 1.0f};  // 7 valid of 8 keys
  // float64 softmax over the 7 valid scores.
  std::vector<double> want(7);
  double z = 0;
  for (int i = 0; i < 7; ++i) z += (want[size_t(i)] = std::exp(double(all[size_t(i)]) - 7.0));
  for (double& w : want) w /= z;
  float m = -INFINITY, l = 0;
  std::vector<float> t1(all.begin(), all.begin() + 4), t2 = {-4.0f, 7.0f, 1.0f, 100.0f};
  EXPECT_EQ(online_softmax_row(t1.data(), 4, 4, &m, &l), 0.0f);  // first tile: nothing to rescale
  EXPECT_EQ(m, 3.0f);
  const float alpha = online_softmax_row(t2.data(), 4, 3, &m, &l);
  EXPECT_EQ(m, 7.0f);
  EXPECT_NEAR(alpha, std::exp(3.0 - 7.0), 1e-7);
  EXPECT_EQ(t2[3], 0.0f);  // past the causal limit
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(t1[size_t(i)] * alpha / l, want[size_t(i)], 1e-6) << i;
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(t2[size_t(i)] / l, want[size_t(4 + i)], 1e-6) << i;
  std::vector<float> t3 = {5.0f, 6.0f};
  const float m0 = m, l0 = l;
  EXPECT_EQ(online_softmax_row(t3.data(), 2, -3, &m, &l), 1.0f);
  EXPECT_EQ(m, m0);
  EXPECT_EQ(l, l0);
  EXPECT_EQ(t3[0], 0.0f);
  EXPECT_EQ(t3[1], 0.0f);
}
