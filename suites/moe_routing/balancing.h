// Aux-loss-free bias balancing over a simulated token stream (docs/moe_routing.md, "Balancing
// model"): the same batches routed with and without the correction bias, max/mean per step.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/kernels/moe_balance.h"
#include "dsbench/kernels/moe_gate.h"

namespace dsbench::suites::moe {

struct BalanceSimOptions {
  int steps = 1000;
  int64_t tokens_per_step = 1024;
  int64_t pool_tokens = 8192;  // distinct token affinity vectors each step samples from
  float gamma = kernels::kDefaultBiasGamma;
  double zipf_s = 1.0;
  double noise = 1.0;  // Gumbel scale on top of log-popularity
  uint64_t seed = 1234;
};

struct BalanceSimResult {
  std::vector<double> with_bias;     // max/mean per step, bias updated after each step
  std::vector<double> without_bias;  // max/mean per step, same batches, no bias
  std::vector<double> bias_spread;   // max(bias) - min(bias) after each step
  double initial = 0;                // mean max/mean of the first 5% of steps without bias
  double final_with = 0;             // mean over the last 10% of steps
  double final_without = 0;
  std::vector<float> final_bias;
};

BalanceSimResult simulate_bias_balancing(const kernels::GateConfig& gate,
                                         const BalanceSimOptions& o);

}  // namespace dsbench::suites::moe
