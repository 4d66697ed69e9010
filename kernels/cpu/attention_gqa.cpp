// CPU decode attention for MHA/GQA/MQA over a paged K/V cache, and the decode core it shares with
// MLA-absorbed. Every cached row is read once, straight from the pool:
//  - few q heads per kv head (MHA, GQA, MQA and MLA with up to 15 heads): register tiles serve all
//    q heads of a kv head from one load (and one bf16 widening) of each K/V vector; the scores
//    come from 16 dot products reduced together, P.V accumulates in registers;
//  - many q heads per kv head (a multiple of 16): a chunk of rows is widened once into an
//    L1/L2-resident fp32 buffer and both products are GEMMs vectorised over the heads
//    (S^T = K Q^T, O^T += V^T P^T), with the online softmax vectorised over heads too.
// Sequences are split into block-aligned items (flash-decoding) merged by combine_splits; small
// problems run on the calling thread.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <type_traits>

#include "attention_internal.h"
#include "simd.h"

namespace dsbench::kernels {

namespace detail {

namespace {

constexpr int kChunk = 64;  // tokens per online-softmax step (bounded by the block size too)

template <class T>
inline float elem_f(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) return p[i];
  else return bf16::to_float(p[i]);
}

// The lanes path's tiles inlined into their item loop (measured 2-4% faster than calls).
#if defined(__GNUC__)
#define DSB_LANES_INLINE inline __attribute__((always_inline))
#else
#define DSB_LANES_INLINE inline
#endif

// Lines of the next step's rows, prefetched a few per iteration of the lanes score tiles (a burst
// of hundreds of prefetches stalls the core): first the K range, then the V rows.
struct PfCursor {
  const char* k = nullptr;
  const char* k_end = nullptr;
  const char* v = nullptr;  // current V row
  int64_t v_stride = 0, v_bytes = 0, v_off = 0;
  int v_rows = 0;
  bool empty() const { return k >= k_end && v_rows <= 0; }
  void next() {
    if (k < k_end) {
      prefetch_line(k);
      k += 64;
    } else if (v_rows > 0) {
      prefetch_line(v + v_off);
      v_off += 64;
      if (v_off >= v_bytes) {
        v_off = 0;
        v += v_stride;
        --v_rows;
      }
    }
  }
};

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
inline __m512 reduce16(const __m512* v) {
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
    const __mmask16 m = __mmask16((1u << (D - d)) - 1u);
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
// widened once for all MR heads. The last vector is masked (Dv tails).
template <int MR, int NV, class T>
void pv_tile(int n, const float* p, int64_t ldp, const T* v, int64_t ldv, float* acc, int64_t lda,
             __mmask16 last) {
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
  }
  DSB_UNROLL for (int i = 0; i < MR; ++i) {
    DSB_UNROLL for (int j = 0; j + 1 < NV; ++j) _mm512_storeu_ps(acc + i * lda + 16 * j, c[i][j]);
    _mm512_mask_storeu_ps(acc + i * lda + 16 * (NV - 1), last, c[i][NV - 1]);
  }
}

// Scores from a lanes K layout (kKeyLanes): s[i][j] = q_i . k_j for MR heads x 16*NG tokens.
// Each 64-byte load holds dims (2p, 2p+1) of 16 tokens; a shift and a mask widen them, and each
// feeds MR full-width FMAs with broadcast queries: no horizontal sums, and 16*NG tokens share
// every broadcast. k: the tile's first token, at the start of a lane group (ldk = head_dim).
// Tokens past nt are computed from whatever the block holds there and not stored.
template <int MR, int NG>
DSB_LANES_INLINE void lanes_score_tile(int D, const float* q, const uint16_t* k, int64_t ldk, int nt, float* s,
                      int64_t lds, PfCursor* pf, int per) {
  // Few accumulators: even and odd dims in separate ones, so the FMA chains stay short.
  constexpr bool kSplit = MR * NG <= 8;
  constexpr int NA = kSplit ? 2 : 1;
  __m512 c[NA][NG][MR];
  DSB_UNROLL for (int a = 0; a < NA; ++a)
    DSB_UNROLL for (int j = 0; j < NG; ++j)
      DSB_UNROLL for (int i = 0; i < MR; ++i) c[a][j][i] = _mm512_setzero_ps();
  const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
  const uint16_t* kj[NG];
  DSB_UNROLL for (int j = 0; j < NG; ++j) kj[j] = k + (j / 2) * int64_t(kKeyLanes) * ldk + (j % 2) * 32;
  for (int p = 0; p < D / 2; ++p) {
    __m512 e[NG], o[NG];
    DSB_UNROLL for (int j = 0; j < NG; ++j) {
      const __m512i w = _mm512_loadu_si512(kj[j] + int64_t(p) * (2 * kKeyLanes));
      e[j] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
      o[j] = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
    }
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 qe = _mm512_set1_ps(q[i * D + 2 * p]), qo = _mm512_set1_ps(q[i * D + 2 * p + 1]);
      DSB_UNROLL for (int j = 0; j < NG; ++j) {
        c[0][j][i] = _mm512_fmadd_ps(qe, e[j], c[0][j][i]);
        c[NA - 1][j][i] = _mm512_fmadd_ps(qo, o[j], c[NA - 1][j][i]);
      }
    }
    if (pf)
      for (int r = 0; r < per; ++r) pf->next();
  }
  DSB_UNROLL for (int j = 0; j < NG; ++j) {
    const int valid = std::clamp(nt - 16 * j, 0, 16);
    if (valid == 0) break;
    const __mmask16 m = valid == 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1u);
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      __m512 r = c[0][j][i];
      if constexpr (kSplit) r = _mm512_add_ps(r, c[1][j][i]);
      _mm512_mask_storeu_ps(s + i * lds + 16 * j, m, r);
    }
  }
}

constexpr int pv_max_nv(int mr) { return mr >= 8 ? 3 : 4; }

template <int MR, class T>
void pv_rows(int n, const float* p, int64_t ldp, const T* v, int64_t ldv, float* acc, int64_t lda,
             int Dv) {
  constexpr int NVM = pv_max_nv(MR);
  // Column blocks of at most NVM vectors, balanced (Dv = 64 with NVM = 3: 2 + 2, not 3 + 1, as
  // each block re-reads the probabilities).
  const int nvec = (Dv + 15) / 16;
  int blocks = (nvec + NVM - 1) / NVM;
  for (int e0 = 0, v0 = 0; v0 < nvec; --blocks) {
    const int nv = (nvec - v0 + blocks - 1) / blocks;
    const int ne = std::min(16 * nv, Dv - e0);
    const int rem = ne - 16 * (nv - 1);
    const __mmask16 last = rem == 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1u);
    switch (nv) {
      case 1: pv_tile<MR, 1>(n, p, ldp, v + e0, ldv, acc + e0, lda, last); break;
      case 2: pv_tile<MR, 2>(n, p, ldp, v + e0, ldv, acc + e0, lda, last); break;
      case 3: pv_tile<MR, 3>(n, p, ldp, v + e0, ldv, acc + e0, lda, last); break;
      default:
        if constexpr (NVM >= 4) pv_tile<MR, 4>(n, p, ldp, v + e0, ldv, acc + e0, lda, last);
        break;
    }
    e0 += 16 * nv;
    v0 += nv;
  }
}
#else
// Portable: the same loops without register tiling.
template <int MR, class T>
void score_tile(int D, const float* q, int64_t ldq, const T* k, int64_t ldk, int nt, float* s,
                int64_t lds) {
  constexpr int NT = 16 / MR;
  for (int j = 0; j < std::min(nt, NT); ++j)
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      float acc = 0;
      for (int d = 0; d < D; ++d) acc += q[i * ldq + d] * elem_f(k + int64_t(j) * ldk, d);
      s[i * lds + j] = acc;
    }
}
template <int MR, class T>
void pv_rows(int n, const float* p, int64_t ldp, const T* v, int64_t ldv, float* acc, int64_t lda,
             int Dv) {
  DSB_UNROLL for (int i = 0; i < MR; ++i)
    for (int t = 0; t < n; ++t) {
      const float w = p[i * ldp + t];
      for (int e = 0; e < Dv; ++e) acc[i * lda + e] += w * elem_f(v + int64_t(t) * ldv, e);
    }
}
#endif

// Largest of 8, 4, 2, 1 not above r: the head-group size of the small-G tiles.
inline int head_group(int r) { return r >= 8 ? 8 : r >= 4 ? 4 : r >= 2 ? 2 : 1; }

// Rows of the (chunk, kv head) step computed next: prefetched a few at a time, spread over the
// score tiles of the current step (a burst of hundreds of prefetches stalls the core instead).
struct PfRows {
  const char* k = nullptr;
  const char* v = nullptr;  // null: V lies inside the K row
  int64_t k_stride = 0, v_stride = 0, k_bytes = 0, v_bytes = 0;
  int n = 0;
};

inline void prefetch_range(const char* p, int64_t bytes) {
  const uintptr_t r = reinterpret_cast<uintptr_t>(p);
  for (uintptr_t a = r & ~uintptr_t(63); a < r + uintptr_t(bytes); a += 64)
    prefetch_line(reinterpret_cast<const void*>(a));
}

inline void prefetch_some(const PfRows& pf, int i0, int i1) {
  for (int i = i0; i < std::min(i1, pf.n); ++i) {
    prefetch_range(pf.k + i * pf.k_stride, pf.k_bytes);
    if (pf.v) prefetch_range(pf.v + i * pf.v_stride, pf.v_bytes);
  }
}

template <class TK>
void scores_small(int mr, int D, const float* q, const TK* k, int64_t ldk, int n, float* s,
                  const PfRows* pf) {
  const int nt = 16 / mr;
  for (int i = 0; i < n; i += nt) {
    if (pf) prefetch_some(*pf, i, i + nt);
    const TK* ki = k + int64_t(i) * ldk;
    const int left = n - i;
    switch (mr) {
      case 8: score_tile<8>(D, q, D, ki, ldk, left, s + i, kChunk); break;
      case 4: score_tile<4>(D, q, D, ki, ldk, left, s + i, kChunk); break;
      case 2: score_tile<2>(D, q, D, ki, ldk, left, s + i, kChunk); break;
      default: score_tile<1>(D, q, D, ki, ldk, left, s + i, kChunk); break;
    }
  }
  if (pf && pf->n > n) prefetch_some(*pf, n, pf->n);
}

#if defined(__AVX512F__)
// Tokens per lanes score tile for a head group of mr.
constexpr int lanes_tile_tokens(int mr) { return mr >= 8 ? 32 : 64; }

template <int MR>
DSB_LANES_INLINE void lanes_tile_n(int D, const float* q, const uint16_t* k, int64_t ldk, int left, float* s, int64_t lds,
                  PfCursor* pf, int per) {
  constexpr int NGM = lanes_tile_tokens(MR) / 16;
  if (left <= 16) lanes_score_tile<MR, 1>(D, q, k, ldk, left, s, lds, pf, per);
  else if (left <= 32 || NGM == 2) lanes_score_tile<MR, 2>(D, q, k, ldk, left, s, lds, pf, per);
  else if constexpr (NGM == 4) lanes_score_tile<MR, 4>(D, q, k, ldk, left, s, lds, pf, per);
}

// Scores of one step from a lanes K layout; k is the step's first token (a lane-group start).
// s[i][t], row stride lds. pf (optional) is spread over the tiles' iterations.
DSB_LANES_INLINE void scores_lanes(int mr, int D, const float* q, const uint16_t* k, int64_t ldk, int n, float* s, int64_t lds,
                  PfCursor* pf, int64_t pf_lines) {
  const int tt = lanes_tile_tokens(mr);
  const int64_t iters = int64_t((n + tt - 1) / tt) * (D / 2);
  const int per = pf ? int((pf_lines + iters - 1) / std::max<int64_t>(iters, 1)) : 0;
  for (int i = 0; i < n; i += tt) {
    const uint16_t* ki = k + int64_t(i) * ldk;  // i is a multiple of 32: a lane-group start
    const int left = n - i;
    switch (mr) {
      case 8: lanes_tile_n<8>(D, q, ki, ldk, left, s + i, lds, pf, per); break;
      case 4: lanes_tile_n<4>(D, q, ki, ldk, left, s + i, lds, pf, per); break;
      case 2: lanes_tile_n<2>(D, q, ki, ldk, left, s + i, lds, pf, per); break;
      default: lanes_tile_n<1>(D, q, ki, ldk, left, s + i, lds, pf, per); break;
    }
  }
  if (pf)
    while (!pf->empty()) pf->next();
}
#else
// Portable: each score read element by element from the lane groups.
void scores_lanes(int mr, int D, const float* q, const uint16_t* k, int64_t ldk, int n, float* s, int64_t lds,
                  PfCursor* pf, int64_t) {
  for (int i = 0; i < mr; ++i)
    for (int t = 0; t < n; ++t) {
      const uint16_t* g = k + int64_t(t / kKeyLanes) * kKeyLanes * ldk + (t % kKeyLanes) * 2;
      float acc = 0;
      for (int d = 0; d < D; ++d) acc += q[i * D + d] * bf16::to_float(g[(d / 2) * (2 * kKeyLanes) + d % 2]);
      s[i * lds + t] = acc;
    }
  if (pf)
    while (!pf->empty()) pf->next();
}
#endif

// One lane block of a chunk: 16 tokens of a lanes K group (its first token's pair 0), how many of
// them are valid, and their offset in the chunk's score rows (a multiple of 16).
struct LaneBlock {
  const uint16_t* k;
  int valid;
  int t;
};

// Tokens per chunk of the lanes MLA path: one online-softmax step, and one 16-way reduction per
// dim pair and head group.
constexpr int kVkChunk = 256;

#if defined(__AVX512F__)
// accp[p][2i + e] += sum over the chunk of P[i][t] * V[t][2p + e] for NH <= 8 heads, where V is the
// first Dv dims of a lanes K. For each dim pair, every lane block's 16 probabilities multiply its
// 16 tokens' widened values lane by lane (plain loads, no broadcasts); the 2*NH accumulators are
// reduced to 16 sums once per chunk. Lanes past a block's valid tokens are masked on both sides.
template <int NH>
DSB_LANES_INLINE void pv_lanes(int Dv, const float* P, int64_t ldp, const LaneBlock* blk, int nblk, float* accp) {
  const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
  for (int p = 0; p < Dv / 2; ++p) {
    __m512 a[16];
    DSB_UNROLL for (int r = 0; r < 16; ++r) a[r] = _mm512_setzero_ps();
    for (int b = 0; b < nblk; ++b) {
      const LaneBlock& lb = blk[b];
      const uint16_t* vk = lb.k + int64_t(p) * (2 * kKeyLanes);
      const float* pb = P + lb.t;
      if (lb.valid >= 16) {  // plain loads: a masked load costs an extra vector µop
        const __m512i w = _mm512_loadu_si512(vk);
        const __m512 e = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        const __m512 o = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
        DSB_UNROLL for (int i = 0; i < NH; ++i) {
          const __m512 pi = _mm512_loadu_ps(pb + i * ldp);
          a[2 * i] = _mm512_fmadd_ps(pi, e, a[2 * i]);
          a[2 * i + 1] = _mm512_fmadd_ps(pi, o, a[2 * i + 1]);
        }
      } else {
        const __mmask16 mk = __mmask16((1u << lb.valid) - 1u);
        const __m512i w = _mm512_maskz_loadu_epi32(mk, vk);
        const __m512 e = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        const __m512 o = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
        DSB_UNROLL for (int i = 0; i < NH; ++i) {
          const __m512 pi = _mm512_maskz_loadu_ps(mk, pb + i * ldp);
          a[2 * i] = _mm512_fmadd_ps(pi, e, a[2 * i]);
          a[2 * i + 1] = _mm512_fmadd_ps(pi, o, a[2 * i + 1]);
        }
      }
    }
    float* ap = accp + int64_t(p) * 16;
    _mm512_storeu_ps(ap, _mm512_add_ps(_mm512_loadu_ps(ap), reduce16(a)));
  }
}

DSB_LANES_INLINE void pv_lanes_n(int nh, int Dv, const float* P, int64_t ldp, const LaneBlock* blk, int nblk, float* accp) {
  switch (nh) {
    case 8: pv_lanes<8>(Dv, P, ldp, blk, nblk, accp); break;
    case 7: pv_lanes<7>(Dv, P, ldp, blk, nblk, accp); break;
    case 6: pv_lanes<6>(Dv, P, ldp, blk, nblk, accp); break;
    case 5: pv_lanes<5>(Dv, P, ldp, blk, nblk, accp); break;
    case 4: pv_lanes<4>(Dv, P, ldp, blk, nblk, accp); break;
    case 3: pv_lanes<3>(Dv, P, ldp, blk, nblk, accp); break;
    case 2: pv_lanes<2>(Dv, P, ldp, blk, nblk, accp); break;
    default: pv_lanes<1>(Dv, P, ldp, blk, nblk, accp); break;
  }
}
#else
void pv_lanes_n(int nh, int Dv, const float* P, int64_t ldp, const LaneBlock* blk, int nblk, float* accp) {
  for (int p = 0; p < Dv / 2; ++p)
    for (int i = 0; i < nh; ++i)
      for (int e = 0; e < 2; ++e) {
        float sum = 0;
        for (int b = 0; b < nblk; ++b)
          for (int j = 0; j < blk[b].valid; ++j)
            sum += P[i * ldp + blk[b].t + j] *
                   bf16::to_float(blk[b].k[int64_t(p) * (2 * kKeyLanes) + 2 * j + e]);
        accp[p * 16 + 2 * i + e] += sum;
      }
}
#endif

template <class T>
void pv_small(int mr, int n, const float* p, const T* v, int64_t ldv, float* acc, int Dv,
              int64_t ldp = kChunk) {
  switch (mr) {
    case 8: pv_rows<8>(n, p, ldp, v, ldv, acc, Dv, Dv); break;
    case 4: pv_rows<4>(n, p, ldp, v, ldv, acc, Dv, Dv); break;
    case 2: pv_rows<2>(n, p, ldp, v, ldv, acc, Dv, Dv); break;
    default: pv_rows<1>(n, p, ldp, v, ldv, acc, Dv, Dv); break;
  }
}

// Tokens [t, ...) of a sequence up to the end of its block, the item and kChunk.
struct Step {
  int32_t blk;
  int s0, n;
};
inline Step step_at(const DecodeCore& c, const int32_t* table, int64_t t, int64_t t1) {
  const int bs = c.seqs->block_size;
  Step s{table[t / bs], int(t % bs), 0};
  s.n = int(std::min<int64_t>({int64_t(kChunk), bs - s.s0, t1 - t}));
  return s;
}

// Bytes the small-G path prefetches ahead of the rows it computes on (at least one step): the
// hardware prefetchers cover most of a block; farther software prefetch measured slower (MHA
// rows evicted from L2 before use).
#ifndef DSBENCH_PF_KIB
#define DSBENCH_PF_KIB 32
#endif
constexpr int64_t kPfBytes = int64_t(DSBENCH_PF_KIB) << 10;

inline void prefetch_step(const DecodeCore& c, const Step& s, int hk) {
  prefetch_rows(c.k, s.blk, s.s0, hk, s.n, c.D);
  if (!c.v_in_k) prefetch_rows(c.v, s.blk, s.s0, hk, s.n, c.Dv);
}

// Few q heads per kv head: register tiles straight from the cache. q: [Hkv*G, D] (scaled).
template <class TK, class TV>
void small_item(const DecodeCore& c, const WorkItem& it, const WorkItem* next, const float* q, float* m,
                float* l, float* acc, float* s) {
  const int Hkv = c.Hkv, G = c.G, D = c.D, Dv = c.Dv;
  const int64_t mb = c.seqs->max_blocks_per_seq;
  const int32_t* table = c.seqs->block_table + int64_t(it.b) * mb;
  const int64_t ldk = c.k.token_stride, ldv = c.v_in_k ? ldk : c.v.token_stride;
  init_state(Hkv * G, Dv, m, l, acc);
  // Software prefetch runs about kPfBytes ahead, in (chunk, kv head) steps (blocks are scattered,
  // so the hardware prefetcher cannot cross into the next block itself).
  const int64_t step_bytes = int64_t(kChunk) * (int64_t(D) * int64_t(sizeof(TK)) +
                                                (c.v_in_k ? 0 : int64_t(Dv) * int64_t(sizeof(TV))));
  const int pf_steps = int(std::max<int64_t>(1, kPfBytes / step_bytes));
  // The step pf_steps ahead: (chunk at tpf, kv head hpf) of this item, then of the next item this
  // thread runs (its first steps would otherwise start cold: a short item, such as a sequence of a
  // few hundred tokens, is mostly first steps).
  const int32_t* tpf_table = table;
  int64_t tpf = it.t0, tpf_end = it.t1;
  int hpf = 0;
  auto pf_advance = [&](int64_t n) {
    if (++hpf < Hkv) return;
    hpf = 0;
    tpf += n;
    if (tpf >= tpf_end && next && tpf_table == table) {
      tpf_table = c.seqs->block_table + int64_t(next->b) * mb;
      tpf = next->t0;
      tpf_end = next->t1;
    }
  };
  for (int j = 0; j < pf_steps && tpf < tpf_end; ++j) pf_advance(step_at(c, tpf_table, tpf, tpf_end).n);
  for (int64_t t = it.t0; t < it.t1;) {
    const Step st = step_at(c, table, t, it.t1);
    for (int hk = 0; hk < Hkv; ++hk) {
      const bool pf_on = tpf < tpf_end;
      PfRows pf;
      if (pf_on) {
        const Step sp = step_at(c, tpf_table, tpf, tpf_end);
        pf.k = static_cast<const char*>(row_ptr(c.k, sp.blk, sp.s0, hpf));
        pf.k_stride = c.k.token_stride * int64_t(sizeof(TK));
        pf.k_bytes = int64_t(D) * int64_t(sizeof(TK));
        if (!c.v_in_k) {
          pf.v = static_cast<const char*>(row_ptr(c.v, sp.blk, sp.s0, hpf));
          pf.v_stride = c.v.token_stride * int64_t(sizeof(TV));
          pf.v_bytes = int64_t(Dv) * int64_t(sizeof(TV));
        }
        pf.n = sp.n;
        pf_advance(sp.n);
      }
      const TK* kb = static_cast<const TK*>(row_ptr(c.k, st.blk, st.s0, hk));
      const TV* vb = c.v_in_k ? reinterpret_cast<const TV*>(kb)
                              : static_cast<const TV*>(row_ptr(c.v, st.blk, st.s0, hk));
      const float* qh = q + int64_t(hk) * G * D;
      for (int g0 = 0; g0 < G;) {
        const int mr = head_group(G - g0);
        scores_small<TK>(mr, D, qh + int64_t(g0) * D, kb, ldk, st.n, s + g0 * kChunk,
                         pf_on && g0 == 0 ? &pf : nullptr);
        g0 += mr;
      }
      softmax_update(hk * G, G, st.n, s, kChunk, m, l, acc, Dv);
      for (int g0 = 0; g0 < G;) {
        const int mr = head_group(G - g0);
        pv_small(mr, st.n, s + g0 * kChunk, vb, ldv, acc + int64_t(hk * G + g0) * Dv, Dv);
        g0 += mr;
      }
    }
    t += st.n;
  }
}

// Online softmax over S^T [n][G] (heads contiguous), vectorised over heads: probabilities in
// place, m/l updated, the O^T rows [Dv][G] rescaled.
constexpr float kLazyMax = 8.0f;  // e^8 ~ 3e3

void softmax_t(int n, int G, int Dv, float* st, float* m, float* l, float* acc_t) {
#if defined(__AVX512F__)
  for (int g0 = 0; g0 < G; g0 += 16) {
    const __m512 mold = _mm512_loadu_ps(m + g0);
    __m512 cmax = _mm512_set1_ps(-INFINITY);
    for (int t = 0; t < n; ++t) cmax = _mm512_max_ps(cmax, _mm512_loadu_ps(st + int64_t(t) * G + g0));
    // Lazy rescaling: a head keeps its running max until a score exceeds it by more than
    // kLazyMax, so the O^T rows (Dv x 16 values, strided) are rescaled only on those rare steps
    // instead of whenever any of the 16 heads sees a new max. Probabilities then reach up to
    // e^kLazyMax, far from fp32 overflow; l and acc use the same max, so the result is unchanged.
    const __mmask16 raise =
        _mm512_cmp_ps_mask(cmax, _mm512_add_ps(mold, _mm512_set1_ps(kLazyMax)), _CMP_GT_OQ);
    const __m512 mx = _mm512_mask_mov_ps(mold, raise, _mm512_max_ps(mold, cmax));
    const __m512 alpha = exp_neg16(_mm512_sub_ps(mold, mx));
    __m512 sum = _mm512_setzero_ps();
    for (int t = 0; t < n; ++t) {
      float* p = st + int64_t(t) * G + g0;
      const __m512 e = exp_neg16(_mm512_sub_ps(_mm512_loadu_ps(p), mx));
      _mm512_storeu_ps(p, e);
      sum = _mm512_add_ps(sum, e);
    }
    _mm512_storeu_ps(l + g0, _mm512_fmadd_ps(_mm512_loadu_ps(l + g0), alpha, sum));
    _mm512_storeu_ps(m + g0, mx);
    if (raise != 0)
      for (int e = 0; e < Dv; ++e) {
        float* a = acc_t + int64_t(e) * G + g0;
        _mm512_storeu_ps(a, _mm512_mul_ps(_mm512_loadu_ps(a), alpha));
      }
  }
#else
  for (int g = 0; g < G; ++g) {
    float mx = m[g];
    for (int t = 0; t < n; ++t) mx = std::max(mx, st[int64_t(t) * G + g]);
    const float alpha = exp_neg(m[g] - mx);
    float sum = 0;
    for (int t = 0; t < n; ++t) {
      float& p = st[int64_t(t) * G + g];
      p = exp_neg(p - mx);
      sum += p;
    }
    l[g] = l[g] * alpha + sum;
    m[g] = mx;
    for (int e = 0; e < Dv; ++e) acc_t[int64_t(e) * G + g] *= alpha;
  }
#endif
}

// Few q heads per kv head over a lanes K (kKeyLanes), in chunks of up to kVkChunk tokens: the
// lanes tiles score a chunk's steps (one per block it touches), one online-softmax step covers the
// chunk, then P.V: from V rows (GQA/MQA, the row tiles) or, when V is the first Dv dims of the K
// row (MLA-absorbed's latent, one kv head), by pv_lanes per head group of up to 8.
// scratch: scores [G][kVkChunk], then (V in K) the lane accumulators [groups][Dv/2][16] and G
// softmax factors.
template <class TV>
void small_item_lanes(const DecodeCore& c, const WorkItem& it, const WorkItem* next, const float* q,
                      float* m, float* l, float* acc, float* scratch) {
  const int Hkv = c.Hkv, G = c.G, D = c.D, Dv = c.Dv, bs = c.seqs->block_size;
  const int64_t mb = c.seqs->max_blocks_per_seq, ldk = c.k.token_stride;
  const int64_t ldv = c.v_in_k ? ldk : c.v.token_stride;
  const int32_t* table = c.seqs->block_table + int64_t(it.b) * mb;
  const int ngr = (G + 7) / 8;
  float* S = scratch;
  float* accp = S + int64_t(G) * kVkChunk;
  float* alpha = accp + int64_t(ngr) * (Dv / 2) * 16;
  init_state(Hkv * G, Dv, m, l, acc);
  if (c.v_in_k) std::fill(accp, accp + int64_t(ngr) * (Dv / 2) * 16, 0.0f);
  // The K (and V) lines of the step of kv head hk starting at token tt of (tb, t1): K rounded to
  // whole lane groups.
  auto range = [&](const int32_t* tb, int64_t tt, int64_t t1, int hk, PfCursor& pc) {
    const int s0 = int(tt % bs);
    const int64_t sn = std::min<int64_t>(bs - s0, t1 - tt);
    const int32_t blk = tb[tt / bs];
    pc.k = static_cast<const char*>(row_ptr(c.k, blk, s0, hk));
    pc.k_end = pc.k + (sn + kKeyLanes - 1) / kKeyLanes * kKeyLanes * ldk * int64_t(sizeof(uint16_t));
    if (!c.v_in_k) {
      const bool contiguous = c.v.token_stride == Dv;
      pc.v = static_cast<const char*>(row_ptr(c.v, blk, s0, hk));
      pc.v_stride = c.v.token_stride * int64_t(sizeof(TV));
      pc.v_bytes = int64_t(Dv) * int64_t(sizeof(TV)) * (contiguous ? sn : 1);
      pc.v_rows = contiguous ? 1 : int(sn);
    }
  };
  struct ChunkStep {
    int32_t blk;
    int s0, n, off;
  };
  ChunkStep steps[kVkChunk / kKeyLanes];
  LaneBlock blks[kVkChunk / 16];
  for (int64_t t = it.t0; t < it.t1;) {
    const int64_t t_end = std::min<int64_t>(it.t1, t + kVkChunk);
    int n = 0, ns = 0;
    while (t + n < t_end) {  // steps start at lane-group boundaries: items and chunks are aligned
      const int64_t tt = t + n;
      const int s0 = int(tt % bs);
      const int sn = int(std::min<int64_t>(bs - s0, t_end - tt));
      steps[ns++] = {table[tt / bs], s0, sn, n};
      n += sn;
    }
    for (int hk = 0; hk < Hkv; ++hk) {
      const float* qh = q + int64_t(hk) * G * D;
      int nb = 0;
      for (int j = 0; j < ns; ++j) {
        const ChunkStep& st = steps[j];
        const uint16_t* kb = static_cast<const uint16_t*>(row_ptr(c.k, st.blk, st.s0, hk));
        // Blocks are scattered: prefetch the next step's rows (the next kv head, chunk or item).
        PfCursor pc;
        if (j + 1 < ns) range(table, t + steps[j + 1].off, t_end, hk, pc);
        else if (hk + 1 < Hkv) range(table, t, t_end, hk + 1, pc);
        else if (t_end < it.t1) range(table, t_end, std::min<int64_t>(it.t1, t_end + kVkChunk), 0, pc);
        else if (next) range(c.seqs->block_table + int64_t(next->b) * mb, next->t0, next->t1, 0, pc);
        const int64_t lines = (pc.k_end - pc.k) / 64 + int64_t(pc.v_rows) * ((pc.v_bytes + 63) / 64);
        for (int g0 = 0; g0 < G;) {
          const int mr = head_group(G - g0);
          scores_lanes(mr, D, qh + int64_t(g0) * D, kb, ldk, st.n, S + int64_t(g0) * kVkChunk + st.off, kVkChunk,
                       g0 == 0 && lines > 0 ? &pc : nullptr, lines);
          g0 += mr;
        }
        if (c.v_in_k)
          for (int i = 0; i < st.n; i += 16)
            blks[nb++] = {kb + int64_t(i / kKeyLanes) * kKeyLanes * ldk + 2 * (i % kKeyLanes),
                          std::min(16, st.n - i), st.off + i};
      }
      if (!c.v_in_k) {
        softmax_update(hk * G, G, n, S, kVkChunk, m, l, acc, Dv);
        for (int j = 0; j < ns; ++j) {
          const ChunkStep& st = steps[j];
          const TV* vb = static_cast<const TV*>(row_ptr(c.v, st.blk, st.s0, hk));
          for (int g0 = 0; g0 < G;) {
            const int mr = head_group(G - g0);
            pv_small(mr, st.n, S + int64_t(g0) * kVkChunk + st.off, vb, ldv, acc + int64_t(hk * G + g0) * Dv, Dv,
                     kVkChunk);
            g0 += mr;
          }
        }
        continue;
      }
      // V in K (one kv head): alpha[h] receives each head's rescale factor.
      std::fill(alpha, alpha + G, 1.0f);
      softmax_update(0, G, n, S, kVkChunk, m, l, alpha, 1);
      for (int gi = 0; gi < ngr; ++gi) {
        const int h0 = 8 * gi, nh = std::min(8, G - h0);
        float* ap = accp + int64_t(gi) * (Dv / 2) * 16;
        bool rescale = false;
        float av[16];
        for (int r = 0; r < 16; ++r) {
          av[r] = r / 2 < nh ? alpha[h0 + r / 2] : 1.0f;
          rescale = rescale || av[r] != 1.0f;
        }
        if (rescale)
          for (int p = 0; p < Dv / 2; ++p)
            for (int r = 0; r < 16; ++r) ap[p * 16 + r] *= av[r];
        pv_lanes_n(nh, Dv, S + int64_t(h0) * kVkChunk, kVkChunk, blks, nb, ap);
      }
    }
    t = t_end;
  }
  if (!c.v_in_k) return;
  for (int gi = 0; gi < ngr; ++gi) {
    const int h0 = 8 * gi, nh = std::min(8, G - h0);
    const float* ap = accp + int64_t(gi) * (Dv / 2) * 16;
    for (int i = 0; i < nh; ++i)
      for (int p = 0; p < Dv / 2; ++p) {
        acc[int64_t(h0 + i) * Dv + 2 * p] = ap[p * 16 + 2 * i];
        acc[int64_t(h0 + i) * Dv + 2 * p + 1] = ap[p * 16 + 2 * i + 1];
      }
  }
}

// Kt[d][t] = fp32 of element d of token t, t < n, from a lanes K group start g (row length ldk).
void load_lanes_t(const uint16_t* g, int64_t ldk, int n, int D, float* kt) {
  for (int t0 = 0; t0 < n; t0 += kKeyLanes) {
    const uint16_t* grp = g + int64_t(t0) * ldk;
    const int nt = std::min(kKeyLanes, n - t0);
    for (int p = 0; p < D / 2; ++p) {
      const uint16_t* src = grp + int64_t(p) * (2 * kKeyLanes);
      uint32_t* e = reinterpret_cast<uint32_t*>(kt + int64_t(2 * p) * kChunk + t0);
      uint32_t* o = reinterpret_cast<uint32_t*>(kt + int64_t(2 * p + 1) * kChunk + t0);
#pragma omp simd
      for (int t = 0; t < nt; ++t) {
        e[t] = uint32_t(src[2 * t]) << 16;
        o[t] = uint32_t(src[2 * t + 1]) << 16;
      }
    }
  }
}

// Many q heads per kv head: each chunk of rows widened once, then GEMMs over all heads.
// qt: per kv head Q^T [D][G] packed for gemm_bc_prepacked (scaled). scratch: kf [kChunk][D],
// vf [kChunk][Dv], st [kChunk][G]; acc_t: [Hkv][Dv][G]. Writes acc [Hkv*G][Dv].
void large_item(const DecodeCore& c, const WorkItem& it, const float* qt, float* m, float* l,
                float* acc, float* scratch, float* acc_t) {
  const int Hkv = c.Hkv, G = c.G, D = c.D, Dv = c.Dv;
  float* kf = scratch;
  float* vf = kf + int64_t(kChunk) * D;
  float* st = vf + int64_t(kChunk) * Dv;
  const int32_t* table = c.seqs->block_table + int64_t(it.b) * c.seqs->max_blocks_per_seq;
  for (int h = 0; h < Hkv * G; ++h) {
    m[h] = -INFINITY;
    l[h] = 0;
  }
  std::fill(acc_t, acc_t + int64_t(Hkv) * Dv * G, 0.0f);
  for (int hk = 0; hk < Hkv; ++hk) prefetch_step(c, step_at(c, table, it.t0, it.t1), hk);
  for (int64_t t = it.t0; t < it.t1;) {
    const Step s = step_at(c, table, t, it.t1);
    for (int hk = 0; hk < Hkv; ++hk) {
      if (hk + 1 < Hkv) prefetch_step(c, s, hk + 1);
      else if (t + s.n < it.t1) prefetch_step(c, step_at(c, table, t + s.n, it.t1), 0);
      // Kf [n][D], or Kf^T [D][kChunk] from a lanes K layout (each pair load is 2 rows of it).
      int64_t kf_si = D, kf_sk = 1;
      if (c.k.lanes) {
        load_lanes_t(static_cast<const uint16_t*>(row_ptr(c.k, s.blk, s.s0, hk)), c.k.token_stride,
                     s.n, D, kf);
        kf_si = 1;
        kf_sk = kChunk;
      } else {
        for (int i = 0; i < s.n; ++i)
          load_f32(row_ptr(c.k, s.blk, s.s0 + i, hk), c.k.dtype, D, kf + int64_t(i) * D);
      }
      // V^T [Dv][n] as gemm_bc's A: the first Dv rows of Kf^T (lanes) or columns of Kf.
      const float* vsrc = kf;
      int64_t v_si = c.k.lanes ? kChunk : 1, v_sk = c.k.lanes ? 1 : D;
      if (!c.v_in_k) {  // GQA: V rows of their own
        for (int i = 0; i < s.n; ++i)
          load_f32(row_ptr(c.v, s.blk, s.s0 + i, hk), c.v.dtype, Dv, vf + int64_t(i) * Dv);
        vsrc = vf;
        v_si = 1;
        v_sk = Dv;
      }
      float* at = acc_t + int64_t(hk) * Dv * G;
      // S^T [n][G] = Kf [n][D] . Q^T [D][G]
      gemm_bc_prepacked(s.n, G, D, kf, kf_si, kf_sk, qt + int64_t(hk) * packed_b_elems(G, D), st, G,
                        false);
      softmax_t(s.n, G, Dv, st, m + hk * G, l + hk * G, at);
      // O^T [Dv][G] += Vf^T [Dv][n] . P^T [n][G]
      gemm_bc(Dv, G, s.n, vsrc, v_si, v_sk, st, G, at, G, true);
    }
    t += s.n;
  }
  for (int hk = 0; hk < Hkv; ++hk)
    for (int g = 0; g < G; ++g) {
      float* o = acc + int64_t(hk * G + g) * Dv;
      const float* a = acc_t + int64_t(hk) * Dv * G + g;
      for (int e = 0; e < Dv; ++e) o[e] = a[int64_t(e) * G];
    }
}

template <class TK, class TV>
void run_items(const DecodeCore& c, const std::vector<WorkItem>& items, const float* qp, float* m,
               float* l, float* acc, bool par) {
  const int Hq = c.Hkv * c.G, D = c.D, Dv = c.Dv;
  const int64_t n_items = int64_t(items.size());
  const bool large = core_large_g(c);
  const bool lanes = !large && c.k.lanes;
  const size_t scratch_n = large   ? size_t(kChunk) * (D + Dv + c.G)
                           : lanes ? size_t(c.G) * (kVkChunk + 1) + size_t((c.G + 7) / 8) * (Dv / 2) * 16
                                   : size_t(c.G) * kChunk;
  const int64_t q_per_seq = core_q_per_seq(c);
  // Items are claimed dynamically, one ahead: a thread knows the item it runs next, so the small-G
  // path prefetches into it.
  std::atomic<int64_t> claim{0};
#pragma omp parallel if (par)
  {
    float* scratch = workspace(7, scratch_n);
    float* acc_t = large ? workspace(6, size_t(Hq) * Dv) : nullptr;
    int64_t i = claim.fetch_add(1, std::memory_order_relaxed);
    while (i < n_items) {
      const int64_t nx = claim.fetch_add(1, std::memory_order_relaxed);
      const WorkItem& it = items[size_t(i)];
      const float* q = qp + int64_t(it.b) * q_per_seq;
      if (large)
        large_item(c, it, q, m + i * Hq, l + i * Hq, acc + i * Hq * Dv, scratch, acc_t);
      else if (lanes)
        small_item_lanes<TV>(c, it, nx < n_items ? &items[size_t(nx)] : nullptr, q, m + i * Hq, l + i * Hq,
                             acc + i * Hq * Dv, scratch);
      else
        small_item<TK, TV>(c, it, nx < n_items ? &items[size_t(nx)] : nullptr, q, m + i * Hq, l + i * Hq,
                           acc + i * Hq * Dv, scratch);
      i = nx;
    }
  }
}

}  // namespace

const float* core_prepare_q(const DecodeCore& c, const float* q, int64_t ldq, float scale) {
  const int B = c.seqs->batch, Hkv = c.Hkv, G = c.G, Hq = Hkv * G, D = c.D;
  float* qp = workspace(3, size_t(B) * size_t(core_q_per_seq(c)));
  if (core_large_g(c)) {
    const int64_t per = packed_b_elems(G, D);
    for (int b = 0; b < B; ++b)
      for (int hk = 0; hk < Hkv; ++hk) {
        float* dst = qp + (int64_t(b) * Hkv + hk) * per;
        std::fill(dst, dst + per, 0.0f);
        for (int g = 0; g < G; ++g) {
          const float* src = q + (int64_t(b) * Hq + hk * G + g) * ldq;
          float* col = dst + int64_t(g / 64) * D * 64 + g % 64;
          for (int d = 0; d < D; ++d) col[int64_t(d) * 64] = scale * src[d];
        }
      }
  } else {
    for (int64_t r = 0; r < int64_t(B) * Hq; ++r)
      for (int d = 0; d < D; ++d) qp[r * D + d] = scale * q[r * ldq + d];
  }
  return qp;
}

void decode_core(const DecodeCore& c, const float* qp, float* out) {
  static thread_local std::vector<WorkItem> items_buf;  // this thread's: no allocation per call
  std::vector<WorkItem>& items = items_buf;
  plan_splits(*c.seqs, 256, items);
  const int Hq = c.Hkv * c.G, Dv = c.Dv;
  const int64_t n_items = int64_t(items.size());
  float* m = workspace(0, size_t(n_items * Hq));
  float* l = workspace(1, size_t(n_items * Hq));
  float* acc = workspace(2, size_t(n_items * Hq * Dv));
  int64_t tokens = 0;
  for (int b = 0; b < c.seqs->batch; ++b) tokens += c.seqs->seq_lens[b];
  // One thread when the work is tiny (~tens of microseconds): a parallel region costs more.
  const bool par = n_items > 1 && tokens * Hq * (c.D + Dv) > (int64_t(1) << 19);
  const bool kbf = c.k.dtype == DType::kBF16;
  const bool vbf = (c.v_in_k ? c.k.dtype : c.v.dtype) == DType::kBF16;
  if (kbf && vbf) run_items<uint16_t, uint16_t>(c, items, qp, m, l, acc, par);
  else if (kbf) run_items<uint16_t, float>(c, items, qp, m, l, acc, par);
  else if (vbf) run_items<float, uint16_t>(c, items, qp, m, l, acc, par);
  else run_items<float, float>(c, items, qp, m, l, acc, par);
  combine_splits(items, c.seqs->batch, Hq, Dv, m, l, acc, out);
}

}  // namespace detail

void decode_attention_gqa(const GqaDecodeArgs& a) {
  validate(a);
  detail::DecodeCore c;
  c.seqs = &a.seqs;
  c.Hkv = a.kv_heads;
  c.G = a.q_heads / a.kv_heads;
  c.D = a.head_dim;
  c.Dv = a.v_head_dim;
  c.k = a.k;
  c.v = a.v;
  const float* qp = detail::core_prepare_q(c, a.q, a.head_dim, a.scale);
  detail::decode_core(c, qp, a.out);
}

}  // namespace dsbench::kernels
