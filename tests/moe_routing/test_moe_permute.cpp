// Token permutation: the plan is a stable counting sort, dispatch round-trips every row exactly,
// combine applies the routing weights (exact for dyadic weights), dropped slots are skipped.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "dsbench/kernels/moe_permute.h"

namespace dsbench::kernels {
namespace {

std::vector<int32_t> random_ids(int64_t n, int k, int E, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids(n * k);
  for (int64_t t = 0; t < n; ++t) {
    // k distinct experts per token
    std::vector<int> pool(E);
    for (int e = 0; e < E; ++e) pool[e] = e;
    for (int j = 0; j < k; ++j) {
      std::uniform_int_distribution<int> d(j, E - 1);
      std::swap(pool[j], pool[d(rng)]);
      ids[t * k + j] = pool[j];
    }
  }
  return ids;
}

TEST(MoePermute, PlanIsStableCountingSort) {
  const std::vector<int32_t> ids = {2, 0, 1, 2, 0, 1};  // 3 tokens, top-2, 3 experts
  MoePermutation p;
  moe_permute_plan(ids.data(), 3, 2, 3, &p);
  EXPECT_EQ(p.counts, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(p.offsets, (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(p.row_token, (std::vector<int32_t>{0, 2, 1, 2, 0, 1}));
  EXPECT_EQ(p.slot_row, (std::vector<int64_t>{4, 0, 2, 5, 1, 3}));
}

TEST(MoePermute, DispatchRoundTripsExactlyAtScale) {
  const int64_t n = 70000, hidden = 24;  // above the parallel threshold
  const int k = 8, E = 256;
  const auto ids = random_ids(n, k, E, 3);
  MoePermutation p;
  moe_permute_plan(ids.data(), n, k, E, &p);
  ASSERT_EQ(p.rows(), n * k);
  std::vector<float> x(n * hidden);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);
  std::vector<float> out(p.rows() * hidden, std::nanf(""));  // poisoned
  moe_dispatch(p, x.data(), hidden * sizeof(float), out.data());
  for (int64_t t = 0; t < n; ++t)
    for (int j = 0; j < k; ++j) {
      const int64_t r = p.slot_row[t * k + j];
      ASSERT_GE(r, p.offsets[ids[t * k + j]]);
      ASSERT_LT(r, p.offsets[ids[t * k + j] + 1]);
      ASSERT_EQ(std::memcmp(out.data() + r * hidden, x.data() + t * hidden, hidden * sizeof(float)),
                0);
    }
  // Rows within an expert keep token order.
  for (int e = 0; e < E; ++e)
    for (int64_t r = p.offsets[e] + 1; r < p.offsets[e + 1]; ++r)
      ASSERT_LT(p.row_token[r - 1], p.row_token[r]);
}

TEST(MoePermute, CombineOfIdentityExpertsReturnsTokens) {
  const int64_t n = 500, hidden = 64;
  const int k = 4, E = 32;
  const auto ids = random_ids(n, k, E, 9);
  MoePermutation p;
  moe_permute_plan(ids.data(), n, k, E, &p);
  // Integer-valued tokens (few mantissa bits) so every partial sum of dyadic weights is exact.
  std::vector<float> x(n * hidden);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> ud(-1000, 1000);
  for (auto& v : x) v = float(ud(rng));
  std::vector<float> eo(p.rows() * hidden);
  moe_dispatch(p, x.data(), hidden * sizeof(float), eo.data());
  // Dyadic weights summing to 1: the weighted sum of identical rows is exact.
  std::vector<float> w(n * k);
  for (int64_t t = 0; t < n; ++t) {
    w[t * k + 0] = 0.5f;
    w[t * k + 1] = 0.25f;
    w[t * k + 2] = 0.125f;
    w[t * k + 3] = 0.125f;
  }
  std::vector<float> y(n * hidden, std::nanf(""));
  moe_combine(p, eo.data(), w.data(), hidden, y.data());
  EXPECT_EQ(std::memcmp(y.data(), x.data(), y.size() * sizeof(float)), 0);
  // Scaling by a routed_scaling_factor of 2.5 after normalisation scales the output.
  for (auto& v : w) v *= 2.5f;
  moe_combine(p, eo.data(), w.data(), hidden, y.data());
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], 2.5f * x[i], 1e-5f * (1 + std::abs(x[i])));
}

TEST(MoePermute, CombineBf16MatchesFloat64Reference) {
  const int64_t n = 300, hidden = 96;
  const int k = 6, E = 64;
  const auto ids = random_ids(n, k, E, 4);
  MoePermutation p;
  moe_permute_plan(ids.data(), n, k, E, &p);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<bf16> eo(p.rows() * hidden);
  for (auto& v : eo) v = bf16(nd(rng));
  std::vector<float> w(n * k);
  std::uniform_real_distribution<float> ud(0, 1);
  for (auto& v : w) v = ud(rng);
  std::vector<bf16> y(n * hidden);
  moe_combine(p, eo.data(), w.data(), hidden, y.data());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < hidden; ++h) {
      double ref = 0, mag = 0;
      for (int j = 0; j < k; ++j) {
        const double v = double(float(eo[p.slot_row[t * k + j] * hidden + h]));
        ref += w[t * k + j] * v;
        mag += std::abs(w[t * k + j] * v);
      }
      ASSERT_NEAR(float(y[t * hidden + h]), ref, rel_tolerance(DType::kBF16) * mag + 1e-6);
    }
}

TEST(MoePermute, DroppedSlotsGetNoRowAndBadIdsThrow) {
  std::vector<int32_t> ids = {0, -1, 1, 0};
  MoePermutation p;
  moe_permute_plan(ids.data(), 2, 2, 2, &p);
  EXPECT_EQ(p.rows(), 3);
  EXPECT_EQ(p.slot_row[1], -1);
  std::vector<float> eo = {1, 2, 3}, w = {1, 100, 1, 1}, y(2);
  moe_combine(p, eo.data(), w.data(), 1, y.data());
  EXPECT_FLOAT_EQ(y[0], 1.0f);  // row of token 0 in expert 0
  ids[3] = 2;
  EXPECT_THROW(moe_permute_plan(ids.data(), 2, 2, 2, &p), std::invalid_argument);
}

}  // namespace
}  // namespace dsbench::kernels
