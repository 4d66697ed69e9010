// SwiGLU (silu(gate) * up) and a stable softmax, fp32.
#include "dsbench/kernels/activation.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dsbench::kernels {
namespace {
// exp(x) for x clamped to [-87, 88]: Cody-Waite reduction by ln 2 and a degree-6 polynomial
// (~1 ulp), written without calls so `omp simd` vectorises it (std::exp stays scalar without
// fast-math).
inline float exp_clamped(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t e = (int32_t(n) + 127) << 23;
  float sc;
  std::memcpy(&sc, &e, 4);
  return p * sc;
}
}  // namespace

void silu_mul(const float* gate_up, int64_t rows, int64_t inter, int64_t ld, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * ld;
    const float* u = g + inter;
    float* o = out + r * inter;
#pragma omp simd
    for (int64_t i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + exp_clamped(-g[i])) * u[i];
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
