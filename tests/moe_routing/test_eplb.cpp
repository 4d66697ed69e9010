// EPLB: the published example's exact output, validity of every output on random loads (every
// logical expert placed, no GPU over its slots, log2phy consistent with phy2log, logcnt sums to
// the replicas), the building blocks by hand, and bad parameters rejected.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <vector>

#include "dsbench/kernels/moe_eplb.h"
#include "dsbench/kernels/moe_metrics.h"

namespace dsbench::kernels {
namespace {

void expect_valid(const EplbPlacement& r, const std::vector<double>& w, int gpus) {
  const int L = r.layers, E = r.num_logical, P = r.num_replicas;
  ASSERT_EQ(r.phy2log.size(), size_t(L) * P);
  ASSERT_EQ(r.logcnt.size(), size_t(L) * E);
  ASSERT_EQ(r.log2phy.size(), size_t(L) * E * r.max_replicas);
  for (int l = 0; l < L; ++l) {
    std::vector<int> seen(E, 0);
    for (int p = 0; p < P; ++p) {
      const int e = r.phy2log[size_t(l) * P + p];
      ASSERT_GE(e, 0);
      ASSERT_LT(e, E);
      ++seen[e];
    }
    int sum = 0;
    for (int e = 0; e < E; ++e) {
      EXPECT_GE(seen[e], 1) << "layer " << l << " expert " << e << " not placed";
      EXPECT_EQ(seen[e], r.logcnt[size_t(l) * E + e]);
      sum += r.logcnt[size_t(l) * E + e];
      for (int k = 0; k < r.max_replicas; ++k) {
        const int p = r.log2phy[(size_t(l) * E + e) * r.max_replicas + k];
        if (k < r.logcnt[size_t(l) * E + e]) {
          ASSERT_GE(p, 0);
          EXPECT_EQ(r.phy2log[size_t(l) * P + p], e);
        } else {
          EXPECT_EQ(p, -1);
        }
      }
    }
    EXPECT_EQ(sum, P);
    // Slots per GPU are fixed by the layout (P / gpus each); the loads must add up.
    const auto loads = eplb_gpu_loads(w.data() + size_t(l) * E, r.phy2log.data() + size_t(l) * P,
                                      r.logcnt.data() + size_t(l) * E, P, gpus);
    double total = 0, want = 0;
    for (double v : loads) total += v;
    for (int e = 0; e < E; ++e) want += w[size_t(l) * E + e];
    EXPECT_NEAR(total, want, 1e-6 * want);
  }
}

TEST(Eplb, MatchesPublishedExample) {
  // deepseek-ai/EPLB README: 2 layers, 12 experts, 16 replicas, 4 groups, 2 nodes, 8 GPUs.
  const std::vector<double> w = {90, 132, 40,  61, 104, 165, 39,  4,   73,  56, 183, 86,
                                 20, 107, 104, 64, 19,  197, 187, 157, 172, 86, 16,  27};
  const EplbPlacement r = eplb_rebalance(w.data(), 2, 12, 16, 4, 2, 8);
  EXPECT_TRUE(r.hierarchical);
  EXPECT_EQ(r.phy2log, (std::vector<int32_t>{5, 6,  5, 7, 8, 4,  3, 4, 10, 9, 10, 2, 0, 1, 11, 1,
                                             7, 10, 6, 8, 6, 11, 8, 9, 2,  4, 5,  1, 5, 0, 3,  1}));
  expect_valid(r, w, 8);
}

TEST(Eplb, BalancedPackingByHand) {
  // Heaviest first into the lightest pack with room: 9->p0, 7->p1, 5->p1 (7<9), 3->p0.
  const std::vector<double> w = {3, 9, 5, 7};
  std::vector<int32_t> pack(4), rank(4);
  eplb_balanced_packing(w.data(), 4, 2, pack.data(), rank.data());
  EXPECT_EQ(pack, (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(rank, (std::vector<int32_t>{1, 0, 1, 0}));
}

TEST(Eplb, ReplicateByHand) {
  // Loads 8, 3, 2 into 5 slots: copy 0 (8 -> 4/4), then 0 again (4 > 3 -> 8/3), phy = 0 1 2 0 0.
  const std::vector<double> w = {8, 3, 2};
  std::vector<int32_t> phy2log(5), rank(5), cnt(3);
  eplb_replicate(w.data(), 3, 5, phy2log.data(), rank.data(), cnt.data());
  EXPECT_EQ(phy2log, (std::vector<int32_t>{0, 1, 2, 0, 0}));
  EXPECT_EQ(rank, (std::vector<int32_t>{0, 0, 0, 1, 2}));
  EXPECT_EQ(cnt, (std::vector<int32_t>{3, 1, 1}));
}

TEST(Eplb, ValidOnRandomSkewedLoadsBothPolicies) {
  std::mt19937_64 rng(3);
  const int L = 3, E = 256;
  std::vector<double> w(size_t(L) * E);
  for (int l = 0; l < L; ++l)
    for (int e = 0; e < E; ++e)
      w[size_t(l) * E + e] =
          1e4 / std::pow(1.0 + ((e * 37 + l * 11) % E), 1.0) + double(rng() % 50);
  for (int redundant : {0, 32, 64}) {
    const EplbPlacement h = eplb_rebalance(w.data(), L, E, E + redundant, 8, 4, 32);
    EXPECT_TRUE(h.hierarchical);
    expect_valid(h, w, 32);
  }
  // Global: groups 8 over 3 nodes does not divide.
  const EplbPlacement g = eplb_rebalance(w.data(), L, E, 288, 8, 3, 24);
  EXPECT_FALSE(g.hierarchical);
  expect_valid(g, w, 24);
}

TEST(Eplb, RedundancyImprovesSkewedBalance) {
  const int E = 64, gpus = 16;
  std::vector<double> w(E);
  for (int e = 0; e < E; ++e) w[e] = 1000.0 / (1 + e);  // Zipf(1): hot experts packed at the front
  const double before = load_stats(contiguous_gpu_loads(w.data(), E, gpus)).balancedness;
  double last = 0;
  for (int redundant : {0, 16, 32}) {
    const EplbPlacement r = eplb_rebalance(w.data(), 1, E, E + redundant, 1, 1, gpus);
    const double after =
        load_stats(eplb_gpu_loads(w.data(), r.phy2log.data(), r.logcnt.data(), E + redundant, gpus))
            .balancedness;
    EXPECT_GT(after, before);
    EXPECT_GE(after, last - 1e-12);
    last = after;
  }
  EXPECT_GT(last, 0.9);
}

TEST(Eplb, RejectsBadParameters) {
  std::vector<double> w(16, 1.0);
  EXPECT_THROW(eplb_rebalance(w.data(), 1, 16, 8, 1, 1, 4),
               std::invalid_argument);  // replicas < experts
  EXPECT_THROW(eplb_rebalance(w.data(), 1, 16, 18, 1, 1, 4), std::invalid_argument);  // 18 % 4
  EXPECT_THROW(eplb_rebalance(w.data(), 1, 16, 16, 1, 3, 4),
               std::invalid_argument);  // gpus % nodes
  EXPECT_THROW(eplb_rebalance(w.data(), 1, 16, 16, 3, 3, 3),
               std::invalid_argument);  // 16 % 3 groups
}

}  // namespace
}  // namespace dsbench::kernels
