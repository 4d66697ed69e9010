// <immintrin.h> for the CPU kernels, when the build targets AVX-512.
// GCC 12's AVX-512 headers seed masked intrinsics with _mm*_undefined_*(), which -O3 reports as
// "may be used uninitialized" at every masked load (a false positive in the compiler's header,
// not in the kernels). Files that include this one turn those two warnings off.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
