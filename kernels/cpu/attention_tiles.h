// Register tiles of the few-heads decode path over token rows (attention_gqa.cpp), shared with
// the lanes path (attention_lanes.cpp): bf16/fp32 row loads, the 16-way reduction, the score tile
// (16 dot products reduced together) and the P.V tiles (probabilities broadcast against V rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "attention_internal.h"
#include "simd.h"

namespace dsbench::kernels::detail {

constexpr int kChunk = 64;  // tokens per online-softmax step (bounded by the block size too)

// The P.V tiles' optional prefetch cursor (anything with next()): none.
struct NoPf {
  void next() {}
};

template <class T>
inline float elem_f(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) return p[i];
  else return bf16::to_float(p[i]);
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
inline __m512 load16m(__mmask16 m, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
}


// 16 vectors -> one: lane r = horizontal sum of v[r] (45 shuffles/adds for 16 sums).
DSB_ALWAYS_INLINE __m512 reduce16(const __m512* v) {
  __m512 s[8], w[4], z[2];
  DSB_UNROLL for (int k = 0; k < 8; ++k)
    s[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                         _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  DSB_UNROLL for (int k = 0; k < 4; ++k) {
    const __m512d c = _mm512_castps_pd(s[2 * k]), d = _mm512_castps_pd(s[2 * k + 1]);
    w[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(c, d)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(c, d)));
  }
  DSB_UNROLL for (int k = 0; k < 2; ++k)
    z[k] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// s[i][j] = q_i . k_j for MR heads x NT tokens (MR*NT = 16): each K vector is loaded and widened
// once for all MR heads. Tokens past nt repeat the last valid one and are not stored.
template <int MR, class T>
void score_tile(int D, const float* q, int64_t ldq, const T* k, int64_t ldk, int nt, float* s,
                int64_t lds) {
  constexpr int NT = 16 / MR;
  const T* kr[NT];
  DSB_UNROLL for (int j = 0; j < NT; ++j) kr[j] = k + int64_t(std::min(j, nt - 1)) * ldk;
  __m512 c[16];
  DSB_UNROLL for (int r = 0; r < 16; ++r) c[r] = _mm512_setzero_ps();
  int d = 0;
  for (; d + 16 <= D; d += 16) {
    __m512 kv[NT];
    DSB_UNROLL for (int j = 0; j < NT; ++j) kv[j] = load16(kr[j] + d);
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 qv = _mm512_loadu_ps(q + i * ldq + d);
      DSB_UNROLL for (int j = 0; j < NT; ++j) c[i * NT + j] = _mm512_fmadd_ps(qv, kv[j], c[i * NT + j]);
    }
  }
  if (d < D) {
    const __mmask16 m = first_lanes(D - d);
    __m512 kv[NT];
    DSB_UNROLL for (int j = 0; j < NT; ++j) kv[j] = load16m(m, kr[j] + d);
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, q + i * ldq + d);
      DSB_UNROLL for (int j = 0; j < NT; ++j) c[i * NT + j] = _mm512_fmadd_ps(qv, kv[j], c[i * NT + j]);
    }
  }
  const __m512 r = reduce16(c);
  // Row i is lanes [i*NT, i*NT + nt): a masked store places lane L at s + i*lds + L - i*NT.
  const unsigned valid = (1u << std::min(nt, NT)) - 1u;
  DSB_UNROLL for (int i = 0; i < MR; ++i)
    _mm512_mask_storeu_ps(s + i * lds - i * NT, __mmask16(valid << (i * NT)), r);
}

// acc[i][0..16*NV) += sum_t p[i][t] * v[t][0..16*NV) for MR heads; each V vector is loaded and
// widened once for all MR heads. The last vector is masked (Dv tails). pf (optional): two of its
// lines per token.
template <int MR, int NV, class T, class Pf>
void pv_tile(int n, const float* p, int64_t ldp, const T* v, int64_t ldv, float* acc, int64_t lda,
             __mmask16 last, Pf* pf) {
  __m512 c[MR][NV];
  DSB_UNROLL for (int i = 0; i < MR; ++i)
    DSB_UNROLL for (int j = 0; j < NV; ++j)
      c[i][j] = j + 1 < NV ? _mm512_loadu_ps(acc + i * lda + 16 * j)
                           : _mm512_maskz_loadu_ps(last, acc + i * lda + 16 * j);
  for (int t = 0; t < n; ++t) {
    const T* vt = v + int64_t(t) * ldv;
    __m512 b[NV];
    DSB_UNROLL for (int j = 0; j + 1 < NV; ++j) b[j] = load16(vt + 16 * j);
    b[NV - 1] = load16m(last, vt + 16 * (NV - 1));
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(p[i * ldp + t]);
      DSB_UNROLL for (int j = 0; j < NV; ++j) c[i][j] = _mm512_fmadd_ps(a, b[j], c[i][j]);
    }
    if (pf) {
      pf->next();
      pf->next();
    }
  }
  DSB_UNROLL for (int i = 0; i < MR; ++i) {
    DSB_UNROLL for (int j = 0; j + 1 < NV; ++j) _mm512_storeu_ps(acc + i * lda + 16 * j, c[i][j]);
    _mm512_mask_storeu_ps(acc + i * lda + 16 * (NV - 1), last, c[i][NV - 1]);
  }
}

constexpr int pv_max_nv(int mr) { return mr >= 8 ? 3 : 4; }

template <int MR, class T, class Pf = NoPf>
void pv_rows(int n, const float* p, int64_t ldp, const T* v, int64_t ldv, float* acc, int64_t lda,
             int Dv, Pf* pf = nullptr) {
  constexpr int NVM = pv_max_nv(MR);
  // Column blocks of at most NVM vectors, balanced (Dv = 64 with NVM = 3: 2 + 2, not 3 + 1, as
  // each block re-reads the probabilities).
  const int nvec = (Dv + 15) / 16;
  int blocks = (nvec + NVM - 1) / NVM;
  for (int e0 = 0, v0 = 0; v0 < nvec; --blocks) {
    const int nv = (nvec - v0 + blocks - 1) / blocks;
    const int ne = std::min(16 * nv, Dv - e0);
    const int rem = ne - 16 * (nv - 1);
    const __mmask16 last = first_lanes(rem);
    switch (nv) {
      case 1: pv_tile<MR, 1>(n, p, ldp, v + e0, ldv, acc + e0, lda, last, pf); break;
      case 2: pv_tile<MR, 2>(n, p, ldp, v + e0, ldv, acc + e0, lda, last, pf); break;
      case 3: pv_tile<MR, 3>(n, p, ldp, v + e0, ldv, acc + e0, lda, last, pf); break;
      default:
        if constexpr (NVM >= 4) pv_tile<MR, 4>(n, p, ldp, v + e0, ldv, acc + e0, lda, last, pf);
        break;
    }
    e0 += 16 * nv;
    v0 += nv;
  }
}
#else
// Portable: the same tiles in 8-lane vectors.
// 8 values of a K or V row as fp32 (bf16 widened by a shift).
inline void load8_f32(const float* p, v8f& x) { load8(p, x); }
inline void load8_f32(const uint16_t* p, v8f& x) {
  typedef uint16_t v8h __attribute__((vector_size(16), aligned(2), may_alias));
  x = reinterpret_cast<v8f>(__builtin_convertvector(*reinterpret_cast<const v8h*>(p), v8u) << 16);
}
// MR heads x up to 16 / MR tokens: each 8 values of a K row are widened once for all MR heads,
// and each dot product is summed across its lanes once.
template <int MR, class T>
void score_tile(int D, const float* q, int64_t ldq, const T* k, int64_t ldk, int nt, float* s,
                int64_t lds) {
  constexpr int NT = 16 / MR;
  const int d8 = D / 8 * 8;
  for (int j = 0; j < std::min(nt, NT); ++j) {
    const T* kj = k + int64_t(j) * ldk;
    v8f c[MR];
    DSB_UNROLL for (int i = 0; i < MR; ++i) c[i] = v8f{};
    for (int d = 0; d < d8; d += 8) {
      v8f x;
      load8_f32(kj + d, x);
      DSB_UNROLL for (int i = 0; i < MR; ++i) {
        v8f qv;
        load8(q + i * ldq + d, qv);
        c[i] = c[i] + qv * x;
      }
    }
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      float acc = hsum8(c[i]);
      for (int d = d8; d < D; ++d) acc += q[i * ldq + d] * elem_f(kj, d);
      s[i * lds + j] = acc;
    }
  }
}
// MR heads x 8 columns of acc in registers over the tokens: each token's 8 V values are loaded
// once for all MR heads.
template <int MR, class T, class Pf = NoPf>
void pv_rows(int n, const float* p, int64_t ldp, const T* v, int64_t ldv, float* acc, int64_t lda,
             int Dv, Pf* = nullptr) {
  int e0 = 0;
  for (; e0 + 8 <= Dv; e0 += 8) {
    v8f c[MR];
    DSB_UNROLL for (int i = 0; i < MR; ++i) load8(acc + i * lda + e0, c[i]);
    for (int t = 0; t < n; ++t) {
      v8f x;
      load8_f32(v + int64_t(t) * ldv + e0, x);
      DSB_UNROLL for (int i = 0; i < MR; ++i) c[i] = c[i] + p[i * ldp + t] * x;
    }
    DSB_UNROLL for (int i = 0; i < MR; ++i) store8(acc + i * lda + e0, c[i]);
  }
  if (e0 < Dv)
    DSB_UNROLL for (int i = 0; i < MR; ++i)
      for (int t = 0; t < n; ++t) {
        const float w = p[i * ldp + t];
        const T* vt = v + int64_t(t) * ldv;
        for (int e = e0; e < Dv; ++e) acc[i * lda + e] += w * elem_f(vt, e);
      }
}
#endif

// Largest of 8, 4, 2, 1 not above r: the head-group size of the small-G tiles.
inline int head_group(int r) { return r >= 8 ? 8 : r >= 4 ? 4 : r >= 2 ? 2 : 1; }

template <class T, class Pf = NoPf>
void pv_small(int mr, int n, const float* p, const T* v, int64_t ldv, float* acc, int Dv,
              int64_t ldp = kChunk, Pf* pf = nullptr) {
  switch (mr) {
    case 8: pv_rows<8>(n, p, ldp, v, ldv, acc, Dv, Dv, pf); break;
    case 4: pv_rows<4>(n, p, ldp, v, ldv, acc, Dv, Dv, pf); break;
    case 2: pv_rows<2>(n, p, ldp, v, ldv, acc, Dv, Dv, pf); break;
    default: pv_rows<1>(n, p, ldp, v, ldv, acc, Dv, Dv, pf); break;
  }
}

}  // namespace dsbench::kernels::detail
