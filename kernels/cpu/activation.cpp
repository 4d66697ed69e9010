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

float softmax_inplace(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float s = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    s += x[i];
  }
  const float inv = 1.0f / s;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return mx;
}

}  // namespace dsbench::kernels
