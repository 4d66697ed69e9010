// Aux-loss-free bias balancing: the update rule by hand, and the bar - on a Zipf(1.0) stream the
// bias cuts max/mean by at least half within the simulated steps, for DeepSeek-V3's gate and a
// small one.
#include <gtest/gtest.h>

#include <vector>

#include "dsbench/kernels/moe_balance.h"
#include "moe_routing/balancing.h"

namespace dsbench::suites::moe {
namespace {

TEST(BiasBalancing, UpdateRuleSignsByHand) {
  const std::vector<int64_t> counts = {10, 2, 4, 0};  // mean 4
  std::vector<float> bias = {0.0f, 0.0f, 0.5f, -0.1f};
  kernels::aux_free_bias_update(counts.data(), 4, 0.001f, bias.data());
  EXPECT_FLOAT_EQ(bias[0], -0.001f);  // overloaded
  EXPECT_FLOAT_EQ(bias[1], 0.001f);   // underloaded
  EXPECT_FLOAT_EQ(bias[2], 0.5f);     // exactly at the mean
  EXPECT_FLOAT_EQ(bias[3], -0.099f);
}

TEST(BiasBalancing, HalvesMaxOverMeanOnZipfStreamDeepSeekV3Gate) {
  const kernels::GateConfig g{
      256, 8, 8, 4, kernels::ScoringFunc::kSigmoid, kernels::TopkMethod::kNoAuxTc, true, 2.5f};
  BalanceSimOptions o;
  o.steps = 200;
  o.tokens_per_step = 512;
  o.pool_tokens = 4096;
  o.zipf_s = 1.0;
  const BalanceSimResult r = simulate_bias_balancing(g, o);
  ASSERT_EQ(r.with_bias.size(), 200u);
  EXPECT_GT(r.initial, 4.0);  // the stream really is skewed
  EXPECT_LE(r.final_with, 0.5 * r.initial);
  EXPECT_LE(r.final_with, 0.5 * r.final_without);
  EXPECT_GT(r.final_without, 0.8 * r.initial);  // without the bias nothing improves
}

TEST(BiasBalancing, HalvesMaxOverMeanOnZipfStreamSmallGate) {
  const kernels::GateConfig g{
      32, 4, 4, 2, kernels::ScoringFunc::kSigmoid, kernels::TopkMethod::kNoAuxTc, true, 2.5f};
  BalanceSimOptions o;
  o.steps = 500;
  o.tokens_per_step = 256;
  o.pool_tokens = 2048;
  const BalanceSimResult r = simulate_bias_balancing(g, o);
  EXPECT_LE(r.final_with, 0.5 * r.initial);
  EXPECT_LE(r.final_with, 0.5 * r.final_without);
}

TEST(BiasBalancing, ZeroGammaChangesNothing) {
  const kernels::GateConfig g{
      32, 4, 1, 1, kernels::ScoringFunc::kSigmoid, kernels::TopkMethod::kNoAuxTc, true, 1.0f};
  BalanceSimOptions o;
  o.steps = 20;
  o.tokens_per_step = 128;
  o.pool_tokens = 512;
  o.gamma = 0.0f;
  const BalanceSimResult r = simulate_bias_balancing(g, o);
  EXPECT_EQ(r.with_bias, r.without_bias);
}

}  // namespace
}  // namespace dsbench::suites::moe
