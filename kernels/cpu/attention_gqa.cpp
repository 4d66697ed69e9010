// CPU decode attention for MHA/GQA/MQA over a paged K/V cache, and the decode core it shares with
// MLA-absorbed. Every cached row is read once, straight from the pool:
//  - few q heads per kv head (MHA, GQA, MQA and MLA with up to 15 heads): register tiles
//    (attention_tiles.h) serve all q heads of a kv head from one load (and one bf16 widening) of
//    each K/V vector; the scores come from 16 dot products reduced together, P.V accumulates in
//    registers. A K cache in lane groups takes the lanes path instead (attention_lanes.cpp);
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
#include "attention_tiles.h"
#include "simd.h"

namespace dsbench::kernels {

namespace detail {

namespace {

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

// The K (and V, unless it lies in K) rows of step s for kv head hk, as token rows.
inline PfRows step_rows(const DecodeCore& c, const Step& s, int hk) {
  PfRows r;
  r.k = static_cast<const char*>(row_ptr(c.k, s.blk, s.s0, hk));
  r.k_stride = c.k.token_stride * dtype_bytes(c.k.dtype);
  r.k_bytes = int64_t(c.D) * dtype_bytes(c.k.dtype);
  if (!c.v_in_k) {
    r.v = static_cast<const char*>(row_ptr(c.v, s.blk, s.s0, hk));
    r.v_stride = c.v.token_stride * dtype_bytes(c.v.dtype);
    r.v_bytes = int64_t(c.Dv) * dtype_bytes(c.v.dtype);
  }
  r.n = s.n;
  return r;
}

// Bytes the small-G path prefetches ahead of the rows it computes on (at least one step): the
// hardware prefetchers cover most of a block; farther software prefetch measured slower (MHA
// rows evicted from L2 before use).
#ifndef DSBENCH_PF_KIB
#define DSBENCH_PF_KIB 32
#endif
constexpr int64_t kPfBytes = int64_t(DSBENCH_PF_KIB) << 10;

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
        pf = step_rows(c, sp, hpf);
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
  for (int64_t t = it.t0; t < it.t1;) {
    const Step s = step_at(c, table, t, it.t1);
    for (int hk = 0; hk < Hkv; ++hk) {
      // The rows of the next (step, kv head) of this item are prefetched a few lines after each
      // register tile of this one's products. (Prefetched in one burst at the start of a step,
      // 40 KB for DeepSeek-V3 MQA, they stalled the core on its fill buffers.)
      // (A lanes K is not in token rows: no prefetch there.)
      const bool last_head = hk + 1 == Hkv;
      const int64_t tn = last_head ? t + s.n : t;
      PfRows next;
      if (!c.k.lanes && tn < it.t1)
        next = step_rows(c, step_at(c, table, tn, it.t1), last_head ? 0 : hk + 1);
      TilePrefetch pf(next, gemm_bc_tiles(s.n, G, D) + gemm_bc_tiles(Dv, G, s.n));
      TilePrefetch* pfp = next.n > 0 ? &pf : nullptr;
      // Kf [n][D], or Kf^T [D][kChunk] from a lanes K layout (each pair load is 2 rows of it).
      int64_t kf_si = D, kf_sk = 1;
      if (c.k.lanes) {
        load_lanes_t(static_cast<const uint16_t*>(row_ptr(c.k, s.blk, s.s0, hk)), c.k.token_stride,
                     s.n, D, kf, kChunk);
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
                        false, pfp);
      softmax_t(s.n, G, Dv, st, m + hk * G, l + hk * G, at);
      // O^T [Dv][G] += Vf^T [Dv][n] . P^T [n][G]
      gemm_bc(Dv, G, s.n, vsrc, v_si, v_sk, st, G, at, G, true, pfp);
      if (pfp) pf.finish();
    }
    t += s.n;
  }
  // acc [Hkv*G][Dv] = the O^T rows transposed, in 16-row strips: each strip's 16 lines of acc_t
  // stay in L1 while the heads are written out. (Column by column, every load touched another line:
  // 2.7% of a DeepSeek-V3 MLA-absorbed call.)
  for (int hk = 0; hk < Hkv; ++hk) {
    const float* at = acc_t + int64_t(hk) * Dv * G;
    for (int e0 = 0; e0 < Dv; e0 += 16) {
      const int ne = std::min(16, Dv - e0);
      for (int g = 0; g < G; ++g) {
        float* o = acc + int64_t(hk * G + g) * Dv + e0;
        const float* a = at + int64_t(e0) * G + g;
        for (int e = 0; e < ne; ++e) o[e] = a[int64_t(e) * G];
      }
    }
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
                           : lanes ? lanes_item_scratch(c.G, Dv)
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
