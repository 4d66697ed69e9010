// "Standard MoE, top-2 of 16" against "DeepSeekMoE, top-8 of 256" at equal active parameters
// (each standard expert is 4x a fine-grained one): expert combinations, balance under the same
// Zipf skew, and dispatch traffic.
#pragma once

#include <cstdint>

#include "dsbench/kernels/moe_gate.h"
#include "dsbench/registry.h"

namespace dsbench::suites::moe {

// C(n, k) in float64 (exact below 2^53).
double n_choose_k(int n, int k);
// Number of k-expert sets a group-limited gate can produce: experts in n_group equal groups, at
// most topk_group groups per token (inclusion-exclusion over the groups used).
double group_limited_combinations(int n_experts, int k, int n_group, int topk_group);

kernels::GateConfig standard_top2_of_16();
kernels::GateConfig deepseek_top8_of_256();

struct ComparisonOptions {
  double zipf_s = 1.0;
  int64_t tokens = 8192;
  int64_t hidden = 7168;
  double elem_bytes = 2;
  int balance_steps = 300;  // aux-free balancing run for each; 0 skips
  int64_t tokens_per_step = 512;
  float gamma = 0.001f;
  uint64_t seed = 1234;
};

// samples: [DeepSeekMoE max/mean under the skew, no balancing]. Counters and data hold every
// figure for both designs (docs/suites/moe_routing.md).
Measurement measure_comparison(const ComparisonOptions& o);

}  // namespace dsbench::suites::moe
