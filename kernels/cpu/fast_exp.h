// exp for the CPU kernels (softmax, sigmoid gates, SwiGLU): Cody-Waite reduction x = n ln2 + r
// and a degree-6 polynomial on r, relative error ~2e-7. Written without calls so `omp simd`
// loops vectorise it (std::exp stays scalar without -ffast-math), plus a 16-lane AVX-512 form.
#pragma once

#include <cstdint>
#include <cstring>

#include "simd.h"

namespace dsbench::kernels::detail {

// exp(x) for x clamped to [-87, 88].
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // Round to nearest with the 1.5*2^23 trick (vectorises, unlike nearbyint without fast-math).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
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
  float s;
  std::memcpy(&s, &e, 4);
  return p * s;
}

// exp(x) for x <= 0 (softmax after subtracting the max).
inline float exp_neg(float x) { return fast_exp(x); }

#if defined(__AVX512F__)
// exp(x) for x <= 0, 16 lanes: the same reduction and polynomial.
inline __m512 exp_neg16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// exp(x) for x in [-87, 88] (clamped), 16 lanes: the same reduction, which holds for positive x
// too (2^n stays below the fp32 maximum up to 88).
inline __m512 exp16(__m512 x) { return exp_neg16(_mm512_min_ps(x, _mm512_set1_ps(88.0f))); }
#endif

}  // namespace dsbench::kernels::detail
