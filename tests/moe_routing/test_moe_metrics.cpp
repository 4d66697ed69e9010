// Load metrics on known distributions: uniform gives 1, one-hot gives the maximum; capacity
// drops, EP rank loads, node fan-out and dispatch bytes by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dsbench/kernels/moe_metrics.h"

namespace dsbench::kernels {
namespace {

TEST(MoeMetrics, UniformLoadIsPerfectlyBalanced) {
  const std::vector<double> load(256, 40.0);
  const LoadStats s = load_stats(load);
  EXPECT_DOUBLE_EQ(s.max_over_mean, 1.0);
  EXPECT_DOUBLE_EQ(s.max_vio, 0.0);
  EXPECT_DOUBLE_EQ(s.cv, 0.0);
  EXPECT_NEAR(s.norm_entropy, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(s.balancedness, 1.0);
}

TEST(MoeMetrics, OneHotLoadIsMaximallyImbalanced) {
  std::vector<double> load(64, 0.0);
  load[17] = 1000;
  const LoadStats s = load_stats(load);
  EXPECT_DOUBLE_EQ(s.max_over_mean, 64.0);
  EXPECT_DOUBLE_EQ(s.max_vio, 63.0);
  EXPECT_NEAR(s.cv, std::sqrt(63.0), 1e-9);
  EXPECT_NEAR(s.norm_entropy, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(s.balancedness, 1.0 / 64);
}

TEST(MoeMetrics, KnownSmallCase) {
  const std::vector<double> load = {1, 2, 3, 6};
  const LoadStats s = load_stats(load);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.max_over_mean, 2.0);
  EXPECT_DOUBLE_EQ(s.balancedness, 0.5);
  EXPECT_NEAR(s.cv, std::sqrt((4 + 1 + 0 + 9) / 4.0) / 3.0, 1e-12);
  double h = 0;
  for (double v : load) h -= v / 12 * std::log(v / 12);
  EXPECT_NEAR(s.norm_entropy, h / std::log(4.0), 1e-12);
}

TEST(MoeMetrics, CapacityDrops) {
  const std::vector<int64_t> counts = {10, 2, 2, 2};     // 16 slots, mean 4
  EXPECT_EQ(capacity_drops(counts.data(), 4, 1.0), 6);   // capacity 4
  EXPECT_EQ(capacity_drops(counts.data(), 4, 1.25), 5);  // capacity 5
  EXPECT_EQ(capacity_drops(counts.data(), 4, 2.0), 2);   // capacity 8
  const std::vector<int64_t> even = {4, 4, 4, 4};
  EXPECT_EQ(capacity_drops(even.data(), 4, 1.0), 0);
}

TEST(MoeMetrics, EpRankLoadIsContiguous) {
  std::vector<int64_t> counts(16);
  for (int e = 0; e < 16; ++e) counts[e] = e;
  const auto r = ep_rank_load(counts.data(), 16, 8);
  ASSERT_EQ(r.size(), 8u);
  EXPECT_DOUBLE_EQ(r[0], 0 + 1);
  EXPECT_DOUBLE_EQ(r[7], 14 + 15);
  EXPECT_THROW(ep_rank_load(counts.data(), 16, 3), std::invalid_argument);
}

TEST(MoeMetrics, FanoutAndDispatchBytes) {
  // 16 experts, 4 nodes of 4, EP 8 (2 experts per rank). Token 0: experts 0,1 -> 1 node, 1 rank.
  // Token 1: 0, 4, 8, 12 -> 4 nodes, 4 ranks. Token 2: 0, 2 -> 1 node, 2 ranks.
  const std::vector<int32_t> ids = {0, 1, -1, -1, 0, 4, 8, 12, 0, 2, -1, -1};
  const FanoutStats f = token_fanout(ids.data(), 3, 4, 16, 4, 8);
  EXPECT_DOUBLE_EQ(f.mean_nodes, 2.0);
  EXPECT_EQ(f.max_nodes, 4);
  EXPECT_DOUBLE_EQ(f.mean_ranks, 7.0 / 3);
  EXPECT_EQ(f.nodes_histogram, (std::vector<int64_t>{0, 2, 0, 0, 1}));
  const DispatchBytes b = dispatch_bytes_per_token(f, 4, 7168, 2);
  EXPECT_DOUBLE_EQ(b.naive, 4 * 7168 * 2.0);
  EXPECT_DOUBLE_EQ(b.per_node, 2 * 7168 * 2.0);
  EXPECT_DOUBLE_EQ(b.per_rank, 7.0 / 3 * 7168 * 2);
}

TEST(MoeMetrics, CountsIgnoreDroppedSlots) {
  const std::vector<int32_t> ids = {0, 1, 1, -1};
  std::vector<int64_t> c(2, 0);
  count_expert_tokens(ids.data(), 2, 2, 2, c.data());
  EXPECT_EQ(c, (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace dsbench::kernels
