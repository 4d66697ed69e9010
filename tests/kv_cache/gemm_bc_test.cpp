// The decode kernels' register-tiled fp32 product (gemm_bc, gemm_bc_prepacked) against a float64
// reference, over shapes whose rows, columns and depth end in every kind of tail of its tiles
// (6 rows, 16 and 64 columns, 64 deep), with A read either way round and C accumulated or not.
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include <gtest/gtest.h>

// An internal routine of the CPU kernels, tested through its own header.
#include "../../kernels/cpu/attention_internal.h"

namespace dsbench::kernels::detail {
namespace {

struct Product {
  int M, N, K;
  bool a_transposed, accumulate, prepacked;
};

double max_rel_err(const Product& p, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t ldb = p.N + 3, ldc = p.N + 5;
  std::vector<float> A(size_t(p.M) * p.K), B(size_t(p.K) * ldb), C(size_t(p.M) * ldc);
  for (auto& x : A) x = u(rng);
  for (auto& x : B) x = u(rng);
  for (auto& x : C) x = u(rng);
  // A as [M][K] (sai = K, sak = 1) or stored transposed as [K][M] (sai = 1, sak = M).
  const int64_t sai = p.a_transposed ? 1 : p.K, sak = p.a_transposed ? p.M : 1;
  std::vector<double> ref(C.size());
  for (int i = 0; i < p.M; ++i)
    for (int j = 0; j < p.N; ++j) {
      double s = p.accumulate ? C[size_t(i) * ldc + j] : 0.0;
      for (int k = 0; k < p.K; ++k) s += double(A[i * sai + k * sak]) * B[size_t(k) * ldb + j];
      ref[size_t(i) * ldc + j] = s;
    }
  std::vector<float> out = C;
  if (p.prepacked) {
    const int64_t n = packed_b_elems(p.N, p.K);
    float* bp = static_cast<float*>(std::aligned_alloc(64, size_t(n) * 4));
    for (int64_t e = 0; e < n; ++e) {
      const int64_t blk = e / (int64_t(p.K) * 64), k = e / 64 % p.K, j = blk * 64 + e % 64;
      bp[e] = j < p.N ? B[size_t(k) * ldb + j] : 0.0f;
    }
    gemm_bc_prepacked(p.M, p.N, p.K, A.data(), sai, sak, bp, out.data(), ldc, p.accumulate);
    std::free(bp);
  } else {
    gemm_bc(p.M, p.N, p.K, A.data(), sai, sak, B.data(), ldb, out.data(), ldc, p.accumulate);
  }
  double worst = 0;
  for (int i = 0; i < p.M; ++i) {
    for (int j = 0; j < p.N; ++j) {
      const double r = ref[size_t(i) * ldc + j];
      worst = std::max(worst, std::abs(out[size_t(i) * ldc + j] - r) / (std::abs(r) + 1.0));
    }
    // The columns between N and ldc are not C's: left as they were.
    for (int j = p.N; j < ldc; ++j)
      if (out[size_t(i) * ldc + j] != C[size_t(i) * ldc + j]) return INFINITY;
  }
  return worst;
}

TEST(GemmBc, MatchesFloat64OverEveryTileTail) {
  uint32_t seed = 1;
  int cases = 0;
  for (int M : {1, 5, 6, 7, 13})
    for (int N : {1, 15, 16, 17, 64, 70, 130})
      for (int K : {1, 63, 64, 65, 130})
        for (bool at : {false, true})
          for (bool acc : {false, true})
            for (bool pre : {false, true}) {
              const Product p{M, N, K, at, acc, pre};
              const double e = max_rel_err(p, seed++);
              ASSERT_LT(e, 1e-5) << "M " << M << " N " << N << " K " << K << " A^T " << at
                                 << " accumulate " << acc << " prepacked " << pre;
              ++cases;
            }
  EXPECT_EQ(cases, 5 * 7 * 5 * 8);
}

}  // namespace
}  // namespace dsbench::kernels::detail
