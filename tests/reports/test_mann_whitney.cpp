// Mann-Whitney U: exact distribution against brute-force enumeration, known answers, ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsbench/reports/mann_whitney.h"

namespace dsbench::reports {
namespace {

// Permutation p-value by enumerating every split of the pooled sample (two-sided, by |U - mean|).
double brute_force_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  const size_t n1 = a.size(), n = pooled.size();
  auto u_of = [&](const std::vector<bool>& in_a) {
    double u = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!in_a[i]) continue;
      for (size_t j = 0; j < n; ++j) {
        if (in_a[j]) continue;
        u += pooled[i] > pooled[j] ? 1.0 : pooled[i] == pooled[j] ? 0.5 : 0.0;
      }
    }
    return u;
  };
  std::vector<bool> observed(n, false);
  std::fill(observed.begin(), observed.begin() + long(n1), true);
  const double mean = double(n1) * double(n - n1) / 2.0;
  const double obs = std::fabs(u_of(observed) - mean);
  std::vector<bool> mask(n, false);
  std::fill(mask.end() - long(n1), mask.end(), true);
  long total = 0, extreme = 0;
  do {
    ++total;
    if (std::fabs(u_of(mask) - mean) >= obs - 1e-9) ++extreme;
  } while (std::next_permutation(mask.begin(), mask.end()));
  return double(extreme) / double(total);
}

TEST(MannWhitney, CompleteSeparationOfFiveKnownAnswer) {
  // U = 0 with 5 vs 5: p = 2 / C(10, 5) = 2 / 252.
  auto r = mann_whitney_u({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 0.0);
  EXPECT_NEAR(r.p_value, 2.0 / 252.0, 1e-12);
}

TEST(MannWhitney, TenVersusTenReachesAlphaOnePercent) {
  std::vector<double> a, b;
  for (int i = 0; i < 10; ++i) {
    a.push_back(1.0 + 0.01 * i);
    b.push_back(1.2 + 0.01 * i);
  }
  auto r = mann_whitney_u(a, b);
  EXPECT_NEAR(r.p_value, 2.0 / 184756.0, 1e-12);  // C(20, 10) = 184756
  EXPECT_LT(r.p_value, 0.01);
  // One overlap still clears alpha = 0.01 comfortably.
  std::swap(a[9], b[0]);
  EXPECT_LT(mann_whitney_u(a, b).p_value, 0.001);
}

TEST(MannWhitney, ExactMatchesEnumerationWithoutTies) {
  std::vector<double> a = {1.1, 2.3, 3.7, 4.2, 5.9, 6.1};
  std::vector<double> b = {3.0, 4.5, 7.7, 8.1, 9.3};
  auto r = mann_whitney_u(a, b);
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 6.0);
  EXPECT_NEAR(r.p_value, brute_force_p(a, b), 1e-12);
  // And symmetric in the order of the samples.
  EXPECT_NEAR(mann_whitney_u(b, a).p_value, r.p_value, 1e-12);
}

TEST(MannWhitney, NormalApproximationWithTiesTracksThePermutationTest) {
  std::vector<double> a = {1, 2, 2, 3, 3, 3, 5, 6};
  std::vector<double> b = {2, 3, 4, 4, 5, 6, 6, 7};
  auto r = mann_whitney_u(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_NEAR(r.p_value, brute_force_p(a, b), 0.02);
}

TEST(MannWhitney, IdenticalAndEmptySamplesGiveNoEvidence) {
  EXPECT_DOUBLE_EQ(mann_whitney_u({2, 2, 2}, {2, 2, 2}).p_value, 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_u({}, {1, 2}).p_value, 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_u({1, 2, 3}, {1, 2, 3}).p_value, 1.0);
}

TEST(MannWhitney, ExactPSumsToOneAcrossTheDistribution) {
  // p(U <= min) at the centre is 1; at the extremes it is 2 / C(n1+n2, n1).
  EXPECT_NEAR(mann_whitney_exact_p(12.5, 5, 5), 1.0, 1e-12);
  EXPECT_NEAR(mann_whitney_exact_p(0, 3, 4), 2.0 / 35.0, 1e-12);
  EXPECT_NEAR(mann_whitney_exact_p(12, 3, 4), 2.0 / 35.0, 1e-12);
}

}  // namespace
}  // namespace dsbench::reports
