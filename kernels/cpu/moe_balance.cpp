// The aux-loss-free bias update (moe_balance.h).
#include "dsbench/kernels/moe_balance.h"

namespace dsbench::kernels {

void aux_free_bias_update(const int64_t* counts, int n_experts, float gamma, float* bias) {
  if (n_experts <= 0) return;
  // Compare count * E with the total instead of count with the mean: exact in integers.
  int64_t total = 0;
  for (int e = 0; e < n_experts; ++e) total += counts[e];
  for (int e = 0; e < n_experts; ++e) {
    const int64_t scaled = counts[e] * int64_t(n_experts);
    if (scaled > total)
      bias[e] -= gamma;
    else if (scaled < total)
      bias[e] += gamma;
  }
}

}  // namespace dsbench::kernels
