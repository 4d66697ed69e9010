// SwiGLU (silu(gate) * up) and a stable softmax, fp32.
#include "dsbench/kernels/activation.h"

#include <cmath>

#include "fast_exp.h"

namespace dsbench::kernels {

void silu_mul(const float* gate_up, int64_t rows, int64_t inter, int64_t ld, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * ld;
    const float* u = g + inter;
    float* o = out + r * inter;
#pragma omp simd
    for (int64_t i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + detail::fast_exp(-g[i])) * u[i];
  }
}

// The vectorisable exp: prefill applies this to every causal score, where a scalar std::exp cost
// more than the attention GEMMs.
float online_softmax_row(float* s, int64_t n, int64_t valid, float* m, float* l) {
  valid = valid < 0 ? 0 : (valid > n ? n : valid);
  for (int64_t i = valid; i < n; ++i) s[i] = 0.0f;
  if (valid == 0) return 1.0f;  // nothing new for this row: the state stays as it is
  float mx = *m;
#pragma omp simd reduction(max : mx)
  for (int64_t i = 0; i < valid; ++i) mx = s[i] > mx ? s[i] : mx;
  // No tile yet (m = -inf): the accumulator is still zero, so its scale does not matter.
  const float alpha = *m == -INFINITY ? 0.0f : detail::exp_neg(*m - mx);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < valid; ++i) {
    s[i] = detail::exp_neg(s[i] - mx);
    sum += s[i];
  }
  *l = *l * alpha + sum;
  *m = mx;
  return alpha;
}

// One tile holding the whole row.
float softmax_inplace(float* x, int64_t n) {
  float m = -INFINITY, l = 0;
  online_softmax_row(x, n, n, &m, &l);
  const float inv = 1.0f / l;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return m;
}

}  // namespace dsbench::kernels
