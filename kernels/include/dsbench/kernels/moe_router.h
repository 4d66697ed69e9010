// The router's first half: gate logits = hidden states x W_gate^T (fp32, through BLAS). The gate
// itself (moe_gate.h) turns logits into top-k ids and weights.
#pragma once

#include <cstdint>

namespace dsbench::kernels {

// x: [n_tokens, hidden] row-major; w_gate: [n_experts, hidden] row-major; logits: [n_tokens,
// n_experts] (overwritten).
void moe_router_logits(const float* x, const float* w_gate, int64_t n_tokens, int64_t hidden,
                       int n_experts, float* logits);

}  // namespace dsbench::kernels
