// Flash-decoding split plan and combine, and the two small fp32 GEMMs of the MLA kernels
// (register-tiled AVX-512 when the build targets it, plain loops otherwise).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12's AVX-512 headers seed masked intrinsics with _mm*_undefined_*(), which -O3 reports as
// "may be used uninitialized" (a false positive in the header, not in this code).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "attention_internal.h"

namespace dsbench::kernels::detail {

std::vector<WorkItem> plan_splits(const DecodeBatch& s, int64_t min_tokens, int ways) {
  int64_t total = 0;
  for (int b = 0; b < s.batch; ++b) total += s.seq_lens[b];
  const int64_t target_items =
      std::max<int64_t>(1, 4 * int64_t(std::max(1, omp_get_max_threads())) / std::max(1, ways));
  int64_t chunk = std::max<int64_t>(min_tokens, (total + target_items - 1) / target_items);
  chunk = (chunk + s.block_size - 1) / s.block_size * s.block_size;
  std::vector<WorkItem> items;
  for (int b = 0; b < s.batch; ++b)
    for (int64_t t0 = 0; t0 < s.seq_lens[b]; t0 += chunk)
      items.push_back({b, t0, std::min<int64_t>(s.seq_lens[b], t0 + chunk)});
  return items;
}

void combine_splits(const std::vector<WorkItem>& items, int batch, int heads, int dim,
                    const float* m, const float* l, const float* acc, float* out) {
  // first[b] .. first[b+1]: the items of sequence b.
  std::vector<int64_t> first(size_t(batch) + 1, 0);
  for (const WorkItem& it : items) ++first[size_t(it.b) + 1];
  for (int b = 0; b < batch; ++b) first[size_t(b) + 1] += first[size_t(b)];
  // Small merges run on the calling thread: another parallel region costs more than the work
  // (and on a loaded host, a scheduler slice for the second thread).
  const bool par = int64_t(items.size()) * heads * dim > (int64_t(1) << 18);
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const int64_t i0 = first[size_t(b)], i1 = first[size_t(b) + 1];
      float mx = -INFINITY;
      for (int64_t i = i0; i < i1; ++i) mx = std::max(mx, m[i * heads + h]);
      float denom = 0;
      float* o = out + (int64_t(b) * heads + h) * dim;
      for (int d = 0; d < dim; ++d) o[d] = 0;
      for (int64_t i = i0; i < i1; ++i) {
        const float w = std::exp(m[i * heads + h] - mx);
        denom += w * l[i * heads + h];
        const float* a = acc + (i * heads + h) * dim;
#pragma omp simd
        for (int d = 0; d < dim; ++d) o[d] += w * a[d];
      }
      const float inv = 1.0f / denom;
#pragma omp simd
      for (int d = 0; d < dim; ++d) o[d] *= inv;
    }
  }
}

// Online-softmax update of heads [h0, h0+nh) with scores s[h][0..n) (row stride ld): turns s
// into probabilities, rescales acc rows (width dim) and updates m, l.
void softmax_update(int h0, int nh, int n, float* s, int64_t ld, float* m, float* l, float* acc,
                    int dim) {
  for (int h = h0; h < h0 + nh; ++h) {
    float* sh = s + int64_t(h - h0) * ld;
    float mb = -INFINITY;
    for (int i = 0; i < n; ++i) mb = std::max(mb, sh[i]);
    const float mnew = std::max(m[h], mb);
    const float alpha = detail::exp_neg(m[h] - mnew);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; ++i) {
      const float p = detail::exp_neg(sh[i] - mnew);
      sh[i] = p;
      sum += p;
    }
    if (alpha != 1.0f) {
      float* ah = acc + int64_t(h) * dim;
#pragma omp simd
      for (int d = 0; d < dim; ++d) ah[d] *= alpha;
    }
    l[h] = l[h] * alpha + sum;
    m[h] = mnew;
  }
}

void init_state(int H, int dim, float* m, float* l, float* acc) {
  for (int h = 0; h < H; ++h) {
    m[h] = -INFINITY;
    l[h] = 0;
  }
  std::fill(acc, acc + int64_t(H) * dim, 0.0f);
}

// ---------------------------------------------------------------------------------------------
// The B operand of both GEMMs may be fp32 or bf16 (read straight from the cache, converted in
// registers), so no conversion pass writes and re-reads the rows.

template <class T>
inline float elem_f(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) return p[i];
  else return bf16::to_float(p[i]);
}

template <class T>
static void gemm_nt_scalar(int i0, int i1, int j0, int j1, int K, const float* A, int64_t lda,
                           const T* B, int64_t ldb, float* C, int64_t ldc, float alpha) {
  for (int i = i0; i < i1; ++i)
    for (int j = j0; j < j1; ++j) {
      const float* a = A + i * lda;
      const T* b = B + j * ldb;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int k = 0; k < K; ++k) s += a[k] * elem_f(b, k);
      C[i * ldc + j] = alpha * s;
    }
}

template <class T>
static void gemm_nn_rows(int i0, int i1, int j0, int j1, int K, const float* A, int64_t lda,
                         const T* B, int64_t ldb, float* C, int64_t ldc) {
  for (int i = i0; i < i1; ++i) {
    float* c = C + i * ldc;
    for (int k = 0; k < K; ++k) {
      const float a = A[i * lda + k];
      const T* b = B + k * ldb;
#pragma omp simd
      for (int j = j0; j < j1; ++j) c[j] += a * elem_f(b, j);
    }
  }
}

#if defined(__AVX512F__)
template <class T>
inline __m512 load16(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_loadu_ps(p);
  } else {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
}
template <class T>
inline __m512 load16_tail(__mmask16 m, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
}

// MR rows x 4 columns of C: 4*MR accumulators along K, then a transpose-add reduction.
template <int MR, class T>
static void nt_tile(int K, const float* a0, int64_t lda, const T* b0, int64_t ldb, float* c0,
                    int64_t ldc, float alpha) {
  const int K16 = K / 16 * 16;
  const __mmask16 tail = __mmask16((1u << (K - K16)) - 1u);
  __m512 c[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) c[i][j] = _mm512_setzero_ps();
  for (int k = 0; k < K16; k += 16) {
    __m512 a[MR], b[4];
    for (int i = 0; i < MR; ++i) a[i] = _mm512_loadu_ps(a0 + i * lda + k);
    for (int j = 0; j < 4; ++j) b[j] = load16(b0 + j * ldb + k);
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) c[i][j] = _mm512_fmadd_ps(a[i], b[j], c[i][j]);
  }
  if (tail) {
    __m512 a[MR], b[4];
    for (int i = 0; i < MR; ++i) a[i] = _mm512_maskz_loadu_ps(tail, a0 + i * lda + K16);
    for (int j = 0; j < 4; ++j) b[j] = load16_tail(tail, b0 + j * ldb + K16);
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) c[i][j] = _mm512_fmadd_ps(a[i], b[j], c[i][j]);
  }
  for (int i = 0; i < MR; ++i) {
    __m128 r[4];
    for (int j = 0; j < 4; ++j) {
      const __m512 hi = _mm512_shuffle_f32x4(c[i][j], c[i][j], _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(c[i][j]), _mm512_castps512_ps256(hi));
      r[j] = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    }
    const __m128 s = _mm_hadd_ps(_mm_hadd_ps(r[0], r[1]), _mm_hadd_ps(r[2], r[3]));
    _mm_storeu_ps(c0 + i * ldc, _mm_mul_ps(s, _mm_set1_ps(alpha)));
  }
}

// MR rows x 64 columns of C held in registers over the whole K loop.
template <int MR, class T>
static void nn_tile(int K, const float* a0, int64_t lda, const T* b0, int64_t ldb, float* c0,
                    int64_t ldc) {
  __m512 c[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) c[i][j] = _mm512_loadu_ps(c0 + i * ldc + 16 * j);
  for (int k = 0; k < K; ++k) {
    const T* bk = b0 + int64_t(k) * ldb;
    __m512 b[4];
    for (int j = 0; j < 4; ++j) b[j] = load16(bk + 16 * j);
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(a0[i * lda + k]);
      for (int j = 0; j < 4; ++j) c[i][j] = _mm512_fmadd_ps(a, b[j], c[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) _mm512_storeu_ps(c0 + i * ldc + 16 * j, c[i][j]);
}
#endif

template <class T>
static void gemm_nt_t(int M, int N, int K, const float* A, int64_t lda, const T* B, int64_t ldb,
                      float* C, int64_t ldc, float alpha) {
#if defined(__AVX512F__)
  const int N4 = N / 4 * 4;
  for (int j0 = 0; j0 < N4; j0 += 4) {
    const T* b0 = B + int64_t(j0) * ldb;
    int i0 = 0;
    for (; i0 + 4 <= M; i0 += 4)
      nt_tile<4>(K, A + int64_t(i0) * lda, lda, b0, ldb, C + int64_t(i0) * ldc + j0, ldc, alpha);
    const float* a0 = A + int64_t(i0) * lda;
    float* c0 = C + int64_t(i0) * ldc + j0;
    switch (M - i0) {
      case 3: nt_tile<3>(K, a0, lda, b0, ldb, c0, ldc, alpha); break;
      case 2: nt_tile<2>(K, a0, lda, b0, ldb, c0, ldc, alpha); break;
      case 1: nt_tile<1>(K, a0, lda, b0, ldb, c0, ldc, alpha); break;
      default: break;
    }
  }
  if (N4 < N) gemm_nt_scalar(0, M, N4, N, K, A, lda, B, ldb, C, ldc, alpha);
#else
  gemm_nt_scalar(0, M, 0, N, K, A, lda, B, ldb, C, ldc, alpha);
#endif
}

template <class T>
static void gemm_nn_t(int M, int N, int K, const float* A, int64_t lda, const T* B, int64_t ldb,
                      float* C, int64_t ldc) {
#if defined(__AVX512F__)
  const int N64 = N / 64 * 64;
  for (int j0 = 0; j0 < N64; j0 += 64) {
    int i0 = 0;
    for (; i0 + 4 <= M; i0 += 4)
      nn_tile<4>(K, A + int64_t(i0) * lda, lda, B + j0, ldb, C + int64_t(i0) * ldc + j0, ldc);
    const float* a0 = A + int64_t(i0) * lda;
    float* c0 = C + int64_t(i0) * ldc + j0;
    switch (M - i0) {
      case 3: nn_tile<3>(K, a0, lda, B + j0, ldb, c0, ldc); break;
      case 2: nn_tile<2>(K, a0, lda, B + j0, ldb, c0, ldc); break;
      case 1: nn_tile<1>(K, a0, lda, B + j0, ldb, c0, ldc); break;
      default: break;
    }
  }
  if (N64 < N) gemm_nn_rows(0, M, N64, N, K, A, lda, B, ldb, C, ldc);
#else
  gemm_nn_rows(0, M, 0, N, K, A, lda, B, ldb, C, ldc);
#endif
}

void gemm_nt(int M, int N, int K, const float* A, int64_t lda, const void* B, DType bdt,
             int64_t ldb, float* C, int64_t ldc, float alpha) {
  if (bdt == DType::kF32)
    gemm_nt_t(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, alpha);
  else
    gemm_nt_t(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, alpha);
}

void gemm_nn_acc(int M, int N, int K, const float* A, int64_t lda, const void* B, DType bdt,
                 int64_t ldb, float* C, int64_t ldc) {
  if (bdt == DType::kF32)
    gemm_nn_t(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc);
  else
    gemm_nn_t(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc);
}

}  // namespace dsbench::kernels::detail
