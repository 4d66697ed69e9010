// Gated activations for the FFN/expert MLPs: out = silu(gate) * up (SwiGLU, DeepSeek "silu").
#pragma once

#include <cstdint>

namespace dsbench::kernels {

// gate_up: [rows, 2*inter] with gate in the first inter columns and up in the second (the engine
// fuses gate_proj and up_proj into one GEMM), row stride ld. out: [rows, inter] dense.
void silu_mul(const float* gate_up, int64_t rows, int64_t inter, int64_t ld, float* out);

// Softmax in place over n values, numerically stable; returns the max (for tests).
float softmax_inplace(float* x, int64_t n);

// One online-softmax step of a score row (flash attention over key tiles). s[0..n): this tile's
// scores, of which the first `valid` count (causal limit; the rest become 0). Turns them into
// exp(s - m_new) in place, updates the running max *m (-inf before the first tile) and sum *l,
// and returns the factor by which the row's output accumulated so far must be scaled.
float online_softmax_row(float* s, int64_t n, int64_t valid, float* m, float* l);

}  // namespace dsbench::kernels
