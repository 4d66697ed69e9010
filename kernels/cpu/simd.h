// <immintrin.h> for the CPU kernels, when the build targets AVX-512.
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
#endif
