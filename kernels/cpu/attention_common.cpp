// Flash-decoding split plan and combine, the online-softmax update, and the register-tiled fp32
// GEMM of the heads-vectorised decode path and of MLA-naive (AVX-512 when the build targets it,
// plain loops otherwise).
#include <algorithm>
#include <cmath>

#include <omp.h>

#include "attention_internal.h"
#include "simd.h"

namespace dsbench::kernels::detail {

void plan_splits(const DecodeBatch& s, int64_t min_tokens, std::vector<WorkItem>& items) {
  int64_t total = 0;
  for (int b = 0; b < s.batch; ++b) total += s.seq_lens[b];
  const int64_t threads = std::max(1, omp_get_max_threads());
  const int64_t target_items = 4 * threads;
  auto round_up = [&](int64_t n) { return (n + s.block_size - 1) / s.block_size * s.block_size; };
  const int64_t chunk =
      round_up(std::max<int64_t>(min_tokens, (total + target_items - 1) / target_items));
  items.clear();
  for (int b = 0; b < s.batch; ++b)
    for (int64_t t0 = 0; t0 < s.seq_lens[b]; t0 += chunk)
      items.push_back({b, t0, std::min<int64_t>(s.seq_lens[b], t0 + chunk)});
  // The last `threads` items go in pieces of about chunk / 8, so that the threads finish together
  // even when one core runs slower than the other (on a shared host they often differ by 20-40%
  // for minutes). Whole-chunk items at the end left the faster thread idle for up to one chunk;
  // more chunks throughout cost every item its start-up. dsv3-tiny MLA-absorbed, batch 1, both
  // variants alternating in one process, two separate runs: 16K 0.75 -> 0.68 and 0.91 -> 0.87 ms,
  // 32K 1.79 -> 1.69, 64K 3.77 -> 3.38 and 3.53 -> 3.27; dsv3-tiny MQA 2-3%; DeepSeek-V3 shapes
  // and batches of short sequences within the noise (+-3%).
  const int64_t piece = std::max<int64_t>(min_tokens, round_up(chunk / 8));
  // One thread has nothing to even out.
  if (threads == 1 || piece >= chunk || int64_t(items.size()) <= threads) return;
  static thread_local std::vector<WorkItem> tail_buf;  // reused: no allocation per call
  tail_buf.assign(items.end() - threads, items.end());
  items.resize(items.size() - size_t(threads));
  for (const WorkItem& it : tail_buf)  // in order: a sequence's items stay together
    for (int64_t t0 = it.t0; t0 < it.t1; t0 += piece)
      items.push_back({it.b, t0, std::min(it.t1, t0 + piece)});
}

void combine_splits(const std::vector<WorkItem>& items, int batch, int heads, int dim,
                    const float* m, const float* l, const float* acc, float* out) {
  // first[b] .. first[b+1]: the items of sequence b (reused buffer: no allocation per call).
  static thread_local std::vector<int64_t> first_buf;
  first_buf.assign(size_t(batch) + 1, 0);
  int64_t* first = first_buf.data();
  for (const WorkItem& it : items) ++first[it.b + 1];
  for (int b = 0; b < batch; ++b) first[b + 1] += first[b];
  // Small merges run on the calling thread: another parallel region costs more than the work
  // (and on a loaded host, a scheduler slice for the second thread).
  const bool par = int64_t(items.size()) * heads * dim > (int64_t(1) << 18);
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const int64_t i0 = first[b], i1 = first[b + 1];
      float* o = out + (int64_t(b) * heads + h) * dim;
      if (i1 == i0 + 1) {  // one split: normalise only
        const float inv = 1.0f / l[i0 * heads + h];
        const float* a = acc + (i0 * heads + h) * dim;
#pragma omp simd
        for (int d = 0; d < dim; ++d) o[d] = a[d] * inv;
        continue;
      }
      float mx = -INFINITY;
      for (int64_t i = i0; i < i1; ++i) mx = std::max(mx, m[i * heads + h]);
      float denom = 0;
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

void softmax_update(int h0, int nh, int n, float* s, int64_t ld, float* m, float* l, float* acc,
                    int dim) {
#if defined(__AVX512F__)
  const int nfull = n / 16 * 16;
  const __mmask16 tail = first_lanes(n - nfull);
  for (int h = h0; h < h0 + nh; ++h) {
    float* sh = s + int64_t(h - h0) * ld;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < nfull; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sh + i));
    if (tail) mx = _mm512_mask_max_ps(mx, tail, mx, _mm512_maskz_loadu_ps(tail, sh + nfull));
    const float mnew = std::max(m[h], _mm512_reduce_max_ps(mx));
    const float alpha = detail::exp_neg(m[h] - mnew);
    const __m512 mv = _mm512_set1_ps(mnew);
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < nfull; i += 16) {
      const __m512 p = exp_neg16(_mm512_sub_ps(_mm512_loadu_ps(sh + i), mv));
      _mm512_storeu_ps(sh + i, p);
      sum = _mm512_add_ps(sum, p);
    }
    if (tail) {
      const __m512 p = exp_neg16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, sh + nfull), mv));
      _mm512_mask_storeu_ps(sh + nfull, tail, p);
      sum = _mm512_mask_add_ps(sum, tail, sum, p);
    }
    if (alpha != 1.0f) {
      float* ah = acc + int64_t(h) * dim;
#pragma omp simd
      for (int d = 0; d < dim; ++d) ah[d] *= alpha;
    }
    l[h] = l[h] * alpha + _mm512_reduce_add_ps(sum);
    m[h] = mnew;
  }
#else
  for (int h = h0; h < h0 + nh; ++h) {
    float* sh = s + int64_t(h - h0) * ld;
    float mb = -INFINITY;
#pragma omp simd reduction(max : mb)
    for (int i = 0; i < n; ++i) mb = sh[i] > mb ? sh[i] : mb;
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
#endif
}

void init_state(int H, int dim, float* m, float* l, float* acc) {
  for (int h = 0; h < H; ++h) {
    m[h] = -INFINITY;
    l[h] = 0;
  }
  std::fill(acc, acc + int64_t(H) * dim, 0.0f);
}

// ---------------------------------------------------------------------------------------------

#if defined(__AVX512F__)
// MR rows x NV vectors of C in registers over k: per k, NV loads of B (packed, aligned), MR
// broadcasts of A. The last vector of C is masked (N tails).
template <int MR, int NV>
static void bc_tile(int K, const float* A, int64_t sai, int64_t sak, const float* B, int64_t ldb,
                    float* C, int64_t ldc, bool acc, __mmask16 last) {
  __m512 c[MR][NV];
  if (acc) {
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      DSB_UNROLL for (int j = 0; j + 1 < NV; ++j) c[i][j] = _mm512_loadu_ps(C + i * ldc + 16 * j);
      c[i][NV - 1] = _mm512_maskz_loadu_ps(last, C + i * ldc + 16 * (NV - 1));
    }
  } else {
    DSB_UNROLL for (int i = 0; i < MR; ++i) DSB_UNROLL for (int j = 0; j < NV; ++j) c[i][j] = _mm512_setzero_ps();
  }
  for (int k = 0; k < K; ++k) {
    const float* bk = B + int64_t(k) * ldb;
    const float* ak = A + int64_t(k) * sak;
    // A is the L2-resident widened chunk, read with a large stride: fetch it into L1 ahead
    // (V3 MQA 9.4 -> 8.5 ms, MLA-absorbed 38.0 -> 34.6 ms at 16K, best of 3 runs each).
    if (sak == 1) {
      if ((k & 15) == 0)
        DSB_UNROLL for (int i = 0; i < MR; ++i) asm volatile("prefetcht0 %0" : : "m"(ak[i * sai + 32]));
    } else {
      asm volatile("prefetcht0 %0" : : "m"(ak[8 * sak]));
      asm volatile("prefetcht0 %0" : : "m"(ak[8 * sak + (MR - 1) * sai]));
    }
    __m512 b[NV];
    DSB_UNROLL for (int j = 0; j < NV; ++j) b[j] = _mm512_load_ps(bk + 16 * j);  // packed
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(ak[i * sai]);
      DSB_UNROLL for (int j = 0; j < NV; ++j) c[i][j] = _mm512_fmadd_ps(a, b[j], c[i][j]);
    }
  }
  DSB_UNROLL for (int i = 0; i < MR; ++i) {
    DSB_UNROLL for (int j = 0; j + 1 < NV; ++j) _mm512_storeu_ps(C + i * ldc + 16 * j, c[i][j]);
    _mm512_mask_storeu_ps(C + i * ldc + 16 * (NV - 1), last, c[i][NV - 1]);
  }
}

using BcTile = void (*)(int, const float*, int64_t, int64_t, const float*, int64_t, float*,
                        int64_t, bool, __mmask16);
template <int MR>
static constexpr BcTile bc_row[4] = {bc_tile<MR, 1>, bc_tile<MR, 2>, bc_tile<MR, 3>,
                                     bc_tile<MR, 4>};
static constexpr const BcTile* bc_tiles[6] = {bc_row<1>, bc_row<2>, bc_row<3>,
                                              bc_row<4>, bc_row<5>, bc_row<6>};
#endif

constexpr int kBcNC = 64, kBcKC = 64;  // B blocks of 64 columns x 64 rows

#if defined(__AVX512F__)
// The blocked product both entry points share: per block of 64 columns j0 and 64 rows k0,
// block(j0, k0, kc, nv, last) returns B's block packed as [kc][64] (64-byte aligned), and the
// register tiles of 6 rows run over it.
template <class BlockFn>
void bc_blocks(int M, int N, int K, const float* A, int64_t sai, int64_t sak, float* C,
               int64_t ldc, bool accumulate, TilePrefetch* pf, BlockFn block) {
  constexpr int kMR = 6;
  for (int j0 = 0; j0 < N; j0 += kBcNC) {
    const int nc = std::min(kBcNC, N - j0);
    const int nv = (nc + 15) / 16;
    const int rem = nc - 16 * (nv - 1);
    const __mmask16 last = first_lanes(rem);
    for (int k0 = 0; k0 < K; k0 += kBcKC) {
      const int kc = std::min(kBcKC, K - k0);
      const bool acc = accumulate || k0 > 0;
      const float* bk = block(j0, k0, kc, nv, last);
      const float* a0 = A + int64_t(k0) * sak;
      for (int i0 = 0; i0 < M; i0 += kMR) {
        const int mr = std::min(kMR, M - i0);
        bc_tiles[mr - 1][nv - 1](kc, a0 + int64_t(i0) * sai, sai, sak, bk, kBcNC,
                                 C + int64_t(i0) * ldc + j0, ldc, acc, last);
        if (pf) pf->issue();
      }
    }
  }
}
#else
// Portable: the same product in register tiles of up to 6 rows x 16 columns of C (12 8-lane
// accumulators: with AVX2's 16 registers, room for the two B vectors and a broadcast), K blocked
// so that B's block stays in cache. b_row(k, j0) points at B[k][j0 .. j0 + nc), contiguous, for j0
// a multiple of kBcNC. Columns past the last full 16 take the scalar tile.
template <int MR>
void bc_tile_v8(int kc, const float* a, int64_t sai, int64_t sak, const float* const* brow, int jo,
                float* c, int64_t ldc, bool acc) {
  v8f t[MR][2];
  for (int r = 0; r < MR; ++r) t[r][0] = t[r][1] = v8f{};
  for (int k = 0; k < kc; ++k) {
    v8f b0, b1;
    load8(brow[k] + jo, b0);
    load8(brow[k] + jo + 8, b1);
    DSB_UNROLL for (int r = 0; r < MR; ++r) {
      const float ar = a[int64_t(r) * sai + int64_t(k) * sak];
      t[r][0] = t[r][0] + ar * b0;
      t[r][1] = t[r][1] + ar * b1;
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int h = 0; h < 2; ++h) {
      float* cr = c + int64_t(r) * ldc + 8 * h;
      if (acc) {
        v8f old;
        load8(cr, old);
        t[r][h] = t[r][h] + old;
      }
      store8(cr, t[r][h]);
    }
}

void bc_tile_scalar(int kc, const float* a, int64_t sak, const float* const* brow, int jo, int nj,
                    float* c, bool acc) {
  float t[16] = {};
  for (int k = 0; k < kc; ++k) {
    const float* b = brow[k] + jo;
    const float ar = a[int64_t(k) * sak];
    for (int j = 0; j < nj; ++j) t[j] += ar * b[j];
  }
  for (int j = 0; j < nj; ++j) c[j] = acc ? c[j] + t[j] : t[j];
}

template <class BRow>
void bc_blocks_portable(int M, int N, int K, const float* A, int64_t sai, int64_t sak, float* C,
                        int64_t ldc, bool accumulate, TilePrefetch* pf, BRow b_row) {
  const float* brow[kBcKC];
  for (int j0 = 0; j0 < N; j0 += kBcNC) {
    const int nc = std::min(kBcNC, N - j0);
    for (int k0 = 0; k0 < K; k0 += kBcKC) {
      const int kc = std::min(kBcKC, K - k0);
      const bool acc = accumulate || k0 > 0;
      for (int k = 0; k < kc; ++k) brow[k] = b_row(k0 + k, j0);
      for (int i0 = 0; i0 < M; i0 += 6) {
        const int mr = std::min(6, M - i0);
        const float* a0 = A + int64_t(i0) * sai + int64_t(k0) * sak;
        for (int jo = 0; jo < nc; jo += 16) {
          const int nj = std::min(16, nc - jo);
          float* c0 = C + int64_t(i0) * ldc + j0 + jo;
          if (nj == 16) {
            switch (mr) {
              case 6: bc_tile_v8<6>(kc, a0, sai, sak, brow, jo, c0, ldc, acc); break;
              case 5: bc_tile_v8<5>(kc, a0, sai, sak, brow, jo, c0, ldc, acc); break;
              case 4: bc_tile_v8<4>(kc, a0, sai, sak, brow, jo, c0, ldc, acc); break;
              case 3: bc_tile_v8<3>(kc, a0, sai, sak, brow, jo, c0, ldc, acc); break;
              case 2: bc_tile_v8<2>(kc, a0, sai, sak, brow, jo, c0, ldc, acc); break;
              default: bc_tile_v8<1>(kc, a0, sai, sak, brow, jo, c0, ldc, acc); break;
            }
          } else {
            for (int r = 0; r < mr; ++r)
              bc_tile_scalar(kc, a0 + int64_t(r) * sai, sak, brow, jo, nj, c0 + int64_t(r) * ldc,
                             acc);
          }
        }
        if (pf) pf->issue();
      }
    }
  }
}
#endif

void gemm_bc_prepacked(int M, int N, int K, const float* A, int64_t sai, int64_t sak,
                       const float* Bp, float* C, int64_t ldc, bool accumulate, TilePrefetch* pf) {
#if defined(__AVX512F__)
  bc_blocks(M, N, K, A, sai, sak, C, ldc, accumulate, pf, [&](int j0, int k0, int, int, __mmask16) {
    return Bp + (int64_t(j0 / kBcNC) * K + k0) * kBcNC;
  });
#else
  bc_blocks_portable(M, N, K, A, sai, sak, C, ldc, accumulate, pf, [&](int k, int j0) {
    return Bp + (int64_t(j0 / kBcNC) * K + k) * kBcNC;
  });
#endif
}

void gemm_bc(int M, int N, int K, const float* A, int64_t sai, int64_t sak, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate, TilePrefetch* pf) {
#if defined(__AVX512F__)
  // The B block is packed contiguously ([kc][64], zero-padded): B rows with a power-of-two
  // stride would map onto a few L1 sets and evict each other across the row tiles.
  alignas(64) static thread_local float bp[kBcKC * kBcNC];
  bc_blocks(M, N, K, A, sai, sak, C, ldc, accumulate, pf,
            [&](int j0, int k0, int kc, int nv, __mmask16 last) {
              for (int k = 0; k < kc; ++k) {
                const float* src = B + int64_t(k0 + k) * ldb + j0;
                float* dst = bp + k * kBcNC;
                for (int j = 0; j + 1 < nv; ++j) _mm512_store_ps(dst + 16 * j, _mm512_loadu_ps(src + 16 * j));
                _mm512_store_ps(dst + 16 * (nv - 1), _mm512_maskz_loadu_ps(last, src + 16 * (nv - 1)));
              }
              return static_cast<const float*>(bp);
            });
#else
  bc_blocks_portable(M, N, K, A, sai, sak, C, ldc, accumulate, pf,
                     [&](int k, int j0) { return B + int64_t(k) * ldb + j0; });
#endif
}

}  // namespace dsbench::kernels::detail
