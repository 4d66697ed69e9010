// <immintrin.h> for the CPU kernels, when the build targets AVX-512; otherwise the portable tiles'
// vector types.
// GCC 12's AVX-512 headers seed masked intrinsics with _mm*_undefined_*(), which -O3 reports as
// "may be used uninitialized" at every masked load (a false positive in the compiler's header,
// not in the kernels). Files that include this one turn those two warnings off.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cstdint>

namespace dsbench::kernels::detail {
// The mask of the first n of 16 lanes (n below 0 or above 16 clamped): a vector's valid lanes at
// the end of a row.
inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}
}  // namespace dsbench::kernels::detail
#else
#include <cstdint>

namespace dsbench::kernels::detail {
// The portable tiles' 8-lane vectors (GCC/Clang vector types, which the compiler maps onto AVX2,
// SSE or NEON registers).
typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
// Unaligned loads and stores of 8 lanes. Going through memcpy instead made GCC copy the bytes to
// the stack in 16-byte pieces and read them back as one 32-byte vector, a store-forwarding stall
// per load (the lanes P.V ran 10x slower than its FMAs allow).
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(4), may_alias));
typedef uint32_t v8u_unaligned __attribute__((vector_size(32), aligned(4), may_alias));
inline void load8(const float* p, v8f& x) { x = *reinterpret_cast<const v8f_unaligned*>(p); }
inline void load8(const void* p, v8u& x) { x = *static_cast<const v8u_unaligned*>(p); }
inline void store8(float* p, const v8f& x) { *reinterpret_cast<v8f_unaligned*>(p) = x; }
// The sum of the 8 lanes, pairwise.
inline float hsum8(const v8f& x) {
  return ((x[0] + x[4]) + (x[1] + x[5])) + ((x[2] + x[6]) + (x[3] + x[7]));
}
// 8 words of bf16 pairs widened to fp32, as the AVX-512 tiles do with a shift and a mask: the low
// half of each word is the pair's even element, the high half its odd one. (By reference: a
// 32-byte vector passed by value changes the calling convention where AVX is off, which GCC warns
// about.)
inline void widen_pairs(const v8u& u, v8f& even, v8f& odd) {
  even = reinterpret_cast<v8f>(u << 16);
  odd = reinterpret_cast<v8f>(u & 0xFFFF0000u);
}
}  // namespace dsbench::kernels::detail
#endif
