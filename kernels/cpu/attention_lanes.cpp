// The few-heads decode path over a lanes K layout (PagedView::lanes, kKeyLanes): K in 32-token
// groups of dim pairs, so a 64-byte load is 2 dims of 16 tokens and every score FMA is full width
// over tokens with no horizontal sums. Items run in chunks of up to 256 tokens with one
// online-softmax step each; P.V reads V rows (GQA/MQA/MHA) or, when V is the first dims of the K
// row (the MLA latent), multiplies probabilities and values lane by lane.
#include <algorithm>
#include <cmath>

#include "attention_internal.h"
#include "attention_tiles.h"

namespace dsbench::kernels::detail {

namespace {

// The lanes path's tiles are DSB_ALWAYS_INLINE: inlined into their item loop (measured 2-4%
// faster than calls).

// Tokens per chunk of the lanes MLA path: one online-softmax step, and one 16-way reduction per
// dim pair and head group.
constexpr int kVkChunk = 256;

// Lines of rows computed on later, prefetched a few per iteration of the tiles (a burst of hundreds
// of prefetches stalls the core): byte ranges in order, then V rows (a step's V not contiguous).
struct PfCursor {
  static constexpr int kMaxQ = 2 * (kVkChunk / kKeyLanes + 1);  // a chunk's K and V ranges
  const char* k = nullptr;  // current range (K, or a stream's V)
  const char* k_end = nullptr;
  const char* kb[kMaxQ];  // ranges queued after it
  const char* ke[kMaxQ];
  int nq = 0, iq = 0;
  const char* v = nullptr;  // current V row
  int64_t v_stride = 0, v_bytes = 0, v_off = 0;
  int v_rows = 0;
  void add(const char* b, const char* e) {  // past kMaxQ ranges, the rest is not prefetched
    if (k >= k_end) {
      k = b;
      k_end = e;
    } else if (nq < kMaxQ) {
      kb[nq] = b;
      ke[nq++] = e;
    }
  }
  bool empty() const { return k >= k_end && v_rows <= 0; }
  DSB_ALWAYS_INLINE void next() {
    if (k < k_end) {
      prefetch_line(k);
      k += 64;
      if (k >= k_end && iq < nq) {
        k = kb[iq];
        k_end = ke[iq++];
      }
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

// pf_lines for a cursor that runs on past the step: one line per tile iteration, and what is left
// stays in the cursor for the next tiles.
constexpr int64_t kPfStream = -1;

#if defined(__AVX512F__)
// Scores from a lanes K layout (kKeyLanes): s[i][j] = q_i . k_j for MR heads x 16*NG tokens.
// Each 64-byte load holds dims (2p, 2p+1) of 16 tokens; a shift and a mask widen them, and each
// feeds MR full-width FMAs with broadcast queries: no horizontal sums, and 16*NG tokens share
// every broadcast. k: the tile's first token, at the start of a lane group (ldk = head_dim).
// Tokens past nt are computed from whatever the block holds there and not stored.
template <int MR, int NG>
DSB_ALWAYS_INLINE void lanes_score_tile(int D, const float* q, const uint16_t* k, int64_t ldk,
                                         int nt, float* s, int64_t lds, PfCursor* pf, int per) {
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
    const __mmask16 m = first_lanes(valid);
    DSB_UNROLL for (int i = 0; i < MR; ++i) {
      __m512 r = c[0][j][i];
      if constexpr (kSplit) r = _mm512_add_ps(r, c[1][j][i]);
      _mm512_mask_storeu_ps(s + i * lds + 16 * j, m, r);
    }
  }
}

// Tokens per lanes score tile for a head group of mr.
constexpr int lanes_tile_tokens(int mr) { return mr >= 8 ? 32 : 64; }

template <int MR>
DSB_ALWAYS_INLINE void lanes_tile_n(int D, const float* q, const uint16_t* k, int64_t ldk,
                                     int left, float* s, int64_t lds, PfCursor* pf, int per) {
  constexpr int NGM = lanes_tile_tokens(MR) / 16;
  if (left <= 16) lanes_score_tile<MR, 1>(D, q, k, ldk, left, s, lds, pf, per);
  else if (left <= 32 || NGM == 2) lanes_score_tile<MR, 2>(D, q, k, ldk, left, s, lds, pf, per);
  else if constexpr (NGM == 4) lanes_score_tile<MR, 4>(D, q, k, ldk, left, s, lds, pf, per);
}

// Scores of one step from a lanes K layout; k is the step's first token (a lane-group start).
// s[i][t], row stride lds. pf (optional): its pf_lines lines are spread over the tiles'
// iterations and any left are issued at the end, or (kPfStream) one line per iteration.
DSB_ALWAYS_INLINE void scores_lanes(int mr, int D, const float* q, const uint16_t* k, int64_t ldk,
                                     int n, float* s, int64_t lds, PfCursor* pf, int64_t pf_lines) {
  const int tt = lanes_tile_tokens(mr);
  const int64_t iters = int64_t((n + tt - 1) / tt) * (D / 2);
  const bool stream = pf_lines == kPfStream;
  const int per =
      !pf ? 0 : stream ? 1 : int((pf_lines + iters - 1) / std::max<int64_t>(iters, 1));
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
  if (pf && !stream)
    while (!pf->empty()) pf->next();
}
#else
// Portable: the AVX-512 tile's loops in 8-lane vectors. Each 32-bit word of a lane group holds
// one token's dim pair (2p, 2p+1); 8 tokens of a pair are widened once and feed all MR heads.
template <int MR>
void lanes_scores_portable(int D, const float* q, const uint16_t* grp, int nt, float* s,
                           int64_t lds) {
  for (int t0 = 0; t0 < nt; t0 += 8) {
    v8f c[MR];
    for (int i = 0; i < MR; ++i) c[i] = v8f{};
    for (int p = 0; p < D / 2; ++p) {
      v8u u;
      load8(grp + int64_t(p) * (2 * kKeyLanes) + 2 * t0, u);
      v8f e, o;
      widen_pairs(u, e, o);
      for (int i = 0; i < MR; ++i) c[i] = c[i] + q[i * D + 2 * p] * e + q[i * D + 2 * p + 1] * o;
    }
    // Tokens past nt were computed from whatever the group holds there and are not stored.
    const int nj = std::min(8, nt - t0);
    for (int i = 0; i < MR; ++i) {
      float t[8];
      store8(t, c[i]);
      for (int j = 0; j < nj; ++j) s[i * lds + t0 + j] = t[j];
    }
  }
}

void scores_lanes(int mr, int D, const float* q, const uint16_t* k, int64_t ldk, int n, float* s,
                  int64_t lds, PfCursor* pf, int64_t) {
  for (int g0 = 0; g0 < n; g0 += kKeyLanes) {
    const uint16_t* grp = k + int64_t(g0 / kKeyLanes) * kKeyLanes * ldk;
    const int nt = std::min(kKeyLanes, n - g0);
    switch (mr) {
      case 8: lanes_scores_portable<8>(D, q, grp, nt, s + g0, lds); break;
      case 4: lanes_scores_portable<4>(D, q, grp, nt, s + g0, lds); break;
      case 2: lanes_scores_portable<2>(D, q, grp, nt, s + g0, lds); break;
      default: lanes_scores_portable<1>(D, q, grp, nt, s + g0, lds); break;
    }
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

// A whole 32-token lane group of a chunk: its K (first token's pair 0) and its offset in the
// chunk's score rows. Its two blocks sit at fixed offsets, so the P.V loop over groups needs no
// per-block bookkeeping.
struct LaneGroup {
  const uint16_t* k;
  int t;
};

// The lanes of one chunk for P.V: its whole lane groups, then the blocks of partly valid groups
// (only a sequence's last group is partial, since steps start at lane-group boundaries).
struct ChunkLanes {
  LaneGroup grp[kVkChunk / kKeyLanes];
  LaneBlock tail[2 * (kVkChunk / kKeyLanes)];
  int ngrp = 0, ntail = 0;
};

#if defined(__AVX512F__)
// Pairs ahead that P.V fetches each group's K lines into L1: the lines of one pair are spread
// over the chunk (one per block), which no hardware prefetcher follows, and the score pass left
// the chunk in L2 (P.V alone on a 256-token chunk in L2, in TSC cycles: +25% FMA rate).
constexpr int kPvAhead = 2;

// The 2*NH products of one 16-token block at pair p (w: its 64 bytes) into the lane accumulators.
// Masked: only the lanes in mk are valid (w already zero past them); the probabilities are loaded
// under the same mask. Full blocks use plain loads: a masked load costs an extra vector µop.
template <int NH, bool Masked = false>
DSB_ALWAYS_INLINE void pv_block(__m512i w, const float* pb, int64_t ldp, __m512* a,
                                 __mmask16 mk = 0xFFFF) {
  const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
  const __m512 e = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  const __m512 o = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
  DSB_UNROLL for (int i = 0; i < NH; ++i) {
    const __m512 pi = Masked ? _mm512_maskz_loadu_ps(mk, pb + i * ldp) : _mm512_loadu_ps(pb + i * ldp);
    a[2 * i] = _mm512_fmadd_ps(pi, e, a[2 * i]);
    a[2 * i + 1] = _mm512_fmadd_ps(pi, o, a[2 * i + 1]);
  }
}

// accp[p][2i + e] += sum over the chunk of P[i][t] * V[t][2p + e] for NH <= 8 heads, where V is the
// first Dv dims of a lanes K. For each dim pair, every block's 16 probabilities multiply its 16
// tokens' widened values lane by lane (plain loads, no broadcasts); the 2*NH accumulators are
// reduced to 16 sums once per chunk. Lanes past a tail block's valid tokens are masked on both
// sides. pf (optional): two of its lines per whole group.
template <int NH>
DSB_ALWAYS_INLINE void pv_lanes(int Dv, const float* P, int64_t ldp, const ChunkLanes& cl,
                               float* accp, PfCursor* pf) {
  for (int p = 0; p < Dv / 2; ++p) {
    __m512 a[16];
    DSB_UNROLL for (int r = 0; r < 16; ++r) a[r] = _mm512_setzero_ps();
    for (int g = 0; g < cl.ngrp; ++g) {
      const uint16_t* vk = cl.grp[g].k + int64_t(p) * (2 * kKeyLanes);
      const float* pb = P + cl.grp[g].t;
      _mm_prefetch(reinterpret_cast<const char*>(vk + kPvAhead * 2 * kKeyLanes), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(vk + kPvAhead * 2 * kKeyLanes + 32), _MM_HINT_T0);
      pv_block<NH>(_mm512_loadu_si512(vk), pb, ldp, a);
      pv_block<NH>(_mm512_loadu_si512(vk + 32), pb + 16, ldp, a);
      if (pf) {
        pf->next();
        pf->next();
      }
    }
    for (int b = 0; b < cl.ntail; ++b) {
      const LaneBlock& lb = cl.tail[b];
      const __mmask16 mk = first_lanes(lb.valid);
      pv_block<NH, true>(_mm512_maskz_loadu_epi32(mk, lb.k + int64_t(p) * (2 * kKeyLanes)), P + lb.t, ldp, a, mk);
    }
    float* ap = accp + int64_t(p) * 16;
    _mm512_storeu_ps(ap, _mm512_add_ps(_mm512_loadu_ps(ap), reduce16(a)));
  }
}

DSB_ALWAYS_INLINE void pv_lanes_n(int nh, int Dv, const float* P, int64_t ldp, const ChunkLanes& cl,
                                 float* accp, PfCursor* pf) {
  switch (nh) {
    case 8: pv_lanes<8>(Dv, P, ldp, cl, accp, pf); break;
    case 7: pv_lanes<7>(Dv, P, ldp, cl, accp, pf); break;
    case 6: pv_lanes<6>(Dv, P, ldp, cl, accp, pf); break;
    case 5: pv_lanes<5>(Dv, P, ldp, cl, accp, pf); break;
    case 4: pv_lanes<4>(Dv, P, ldp, cl, accp, pf); break;
    case 3: pv_lanes<3>(Dv, P, ldp, cl, accp, pf); break;
    case 2: pv_lanes<2>(Dv, P, ldp, cl, accp, pf); break;
    default: pv_lanes<1>(Dv, P, ldp, cl, accp, pf); break;
  }
}
#else
// One dim pair p of c_KV for NI heads (from head i0) over a chunk's lane blocks: the products of
// the full blocks add up lane by lane (8-lane vectors, each block's values widened once for the
// NI heads) and are reduced once per chunk.
template <int NI>
void pv_lanes_pair(int p, int i0, const float* P, int64_t ldp, const LaneBlock* blk, int nblk,
                   float* accp) {
  v8f ae[NI] = {}, ao[NI] = {};
  float se[NI] = {}, so[NI] = {};
  for (int b = 0; b < nblk; ++b) {
    const LaneBlock& lb = blk[b];
    const uint16_t* kp = lb.k + int64_t(p) * (2 * kKeyLanes);
    if (lb.valid == 16) {
      v8u u[2];
      load8(kp, u[0]);
      load8(kp + 16, u[1]);
      v8f e[2], o[2];
      widen_pairs(u[0], e[0], o[0]);
      widen_pairs(u[1], e[1], o[1]);
      DSB_UNROLL for (int i = 0; i < NI; ++i) {
        v8f pv[2];
        load8(P + (i0 + i) * ldp + lb.t, pv[0]);
        load8(P + (i0 + i) * ldp + lb.t + 8, pv[1]);
        ae[i] = ae[i] + pv[0] * e[0] + pv[1] * e[1];
        ao[i] = ao[i] + pv[0] * o[0] + pv[1] * o[1];
      }
    } else {
      // Lanes past a tail block's valid tokens are left out on both sides (a block's unused
      // slots, and the probabilities past the chunk, may hold anything).
      DSB_UNROLL for (int i = 0; i < NI; ++i) {
        const float* pi = P + (i0 + i) * ldp + lb.t;
        for (int j = 0; j < lb.valid; ++j) {
          se[i] += pi[j] * bf16::to_float(kp[2 * j]);
          so[i] += pi[j] * bf16::to_float(kp[2 * j + 1]);
        }
      }
    }
  }
  DSB_UNROLL for (int i = 0; i < NI; ++i) {
    accp[p * 16 + 2 * (i0 + i)] += se[i] + hsum8(ae[i]);
    accp[p * 16 + 2 * (i0 + i) + 1] += so[i] + hsum8(ao[i]);
  }
}

void pv_lanes_n(int nh, int Dv, const float* P, int64_t ldp, const ChunkLanes& cl, float* accp,
                PfCursor*) {
  LaneBlock blk[4 * (kVkChunk / kKeyLanes)];
  int nblk = 0;
  for (int g = 0; g < cl.ngrp; ++g) {
    blk[nblk++] = {cl.grp[g].k, 16, cl.grp[g].t};
    blk[nblk++] = {cl.grp[g].k + 32, 16, cl.grp[g].t + 16};
  }
  for (int b = 0; b < cl.ntail; ++b) blk[nblk++] = cl.tail[b];
  for (int p = 0; p < Dv / 2; ++p)
    for (int i0 = 0; i0 < nh;) {
      const int ni = nh - i0 >= 4 ? 4 : nh - i0 >= 2 ? 2 : 1;
      if (ni == 4) pv_lanes_pair<4>(p, i0, P, ldp, blk, nblk, accp);
      else if (ni == 2) pv_lanes_pair<2>(p, i0, P, ldp, blk, nblk, accp);
      else pv_lanes_pair<1>(p, i0, P, ldp, blk, nblk, accp);
      i0 += ni;
    }
}
#endif

// Few q heads per kv head over a lanes K (kKeyLanes), in chunks of up to kVkChunk tokens: the
// lanes tiles score a chunk's steps (one per block it touches), one online-softmax step covers the
// chunk, then P.V: from V rows (GQA/MQA, the row tiles) or, when V is the first Dv dims of the K
// row (MLA-absorbed's latent, one kv head), by pv_lanes per head group of up to 8.
// scratch: scores [G][kVkChunk], then (V in K) the lane accumulators [groups][Dv/2][16] and G
// softmax factors.
}  // namespace

size_t lanes_item_scratch(int G, int Dv) {
  return size_t(G) * (kVkChunk + 1) + size_t((G + 7) / 8) * (Dv / 2) * 16;
}

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
  ChunkLanes lanes;
  const bool stream = c.v_in_k || c.v.token_stride == Dv;
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
    // V in K or in contiguous rows: the lines of the next (chunk, kv head) step group (this
    // chunk's next kv head, else this item's next chunk or the next item's first, kv head 0), K
    // then V, are prefetched over this whole group, one per score tile iteration and two per P.V
    // group or token, so the memory keeps fetching while P.V computes from L2. Prefetching only
    // during the scores, a step ahead, left it idle through P.V. At batch 1 that took 5-14%
    // longer for dsv3-tiny MLA-absorbed (16K, 32K), 11-17% for its MQA, 11% for its MHA, 3-6% for
    // its GQA and 10-13% for DeepSeek-V3 GQA.
    auto next_group = [&](int hk, PfCursor& ps) {
      const int32_t* tb = table;
      int64_t a = t, e = t_end;
      int nh = hk + 1;
      if (nh >= Hkv) {
        nh = 0;
        a = t_end;
        e = std::min<int64_t>(it.t1, t_end + kVkChunk);
        if (t_end >= it.t1) {
          tb = next ? c.seqs->block_table + int64_t(next->b) * mb : nullptr;
          a = next ? next->t0 : 0;
          e = next ? std::min<int64_t>(next->t1, next->t0 + kVkChunk) : 0;
        }
      }
      // Each step's ranges as `range` gives them (V contiguous here: one range per step).
      for (int pass = 0; pass < (c.v_in_k ? 1 : 2); ++pass)
        for (int64_t tt = a; tb && tt < e; tt += bs - tt % bs) {
          PfCursor one;
          range(tb, tt, e, nh, one);
          if (pass == 0) ps.add(one.k, one.k_end);
          else ps.add(one.v, one.v + one.v_bytes);
        }
    };
    for (int hk = 0; hk < Hkv; ++hk) {
      PfCursor ps;
      if (stream) next_group(hk, ps);
      const float* qh = q + int64_t(hk) * G * D;
      lanes.ngrp = lanes.ntail = 0;
      for (int j = 0; j < ns; ++j) {
        const ChunkStep& st = steps[j];
        const uint16_t* kb = static_cast<const uint16_t*>(row_ptr(c.k, st.blk, st.s0, hk));
        // Blocks are scattered: prefetch the next step's rows (the next kv head, chunk or item).
        // (V in K or in contiguous rows: the step group's stream instead.)
        PfCursor pc;
        int64_t lines = kPfStream;
        PfCursor* pf = ps.empty() ? nullptr : &ps;
        if (!stream) {
          if (j + 1 < ns)
            range(table, t + steps[j + 1].off, t_end, hk, pc);
          else if (hk + 1 < Hkv)
            range(table, t, t_end, hk + 1, pc);
          else if (t_end < it.t1)
            range(table, t_end, std::min<int64_t>(it.t1, t_end + kVkChunk), 0, pc);
          else if (next)
            range(c.seqs->block_table + int64_t(next->b) * mb, next->t0, next->t1, 0, pc);
          lines = (pc.k_end - pc.k) / 64 + int64_t(pc.v_rows) * ((pc.v_bytes + 63) / 64);
          pf = lines > 0 ? &pc : nullptr;
        }
        for (int g0 = 0; g0 < G;) {
          const int mr = head_group(G - g0);
          scores_lanes(mr, D, qh + int64_t(g0) * D, kb, ldk, st.n, S + int64_t(g0) * kVkChunk + st.off, kVkChunk,
                       g0 == 0 ? pf : nullptr, lines);
          g0 += mr;
        }
        if (c.v_in_k)
          for (int i = 0; i < st.n; i += kKeyLanes) {
            const uint16_t* gk = kb + int64_t(i / kKeyLanes) * kKeyLanes * ldk;
            if (st.n - i >= kKeyLanes) {
              lanes.grp[lanes.ngrp++] = {gk, st.off + i};
              continue;
            }
            for (int h = 0; h < st.n - i; h += 16)
              lanes.tail[lanes.ntail++] = {gk + 2 * h, std::min(16, st.n - i - h), st.off + i + h};
          }
      }
      if (!c.v_in_k) {
        softmax_update(hk * G, G, n, S, kVkChunk, m, l, acc, Dv);
        for (int j = 0; j < ns; ++j) {
          const ChunkStep& st = steps[j];
          const TV* vb = static_cast<const TV*>(row_ptr(c.v, st.blk, st.s0, hk));
          for (int g0 = 0; g0 < G;) {
            const int mr = head_group(G - g0);
            pv_small(mr, st.n, S + int64_t(g0) * kVkChunk + st.off, vb, ldv, acc + int64_t(hk * G + g0) * Dv, Dv,
                     kVkChunk, ps.empty() ? nullptr : &ps);
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
        pv_lanes_n(nh, Dv, S + int64_t(h0) * kVkChunk, kVkChunk, lanes, ap,
                   ps.empty() ? nullptr : &ps);
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

void load_lanes_t(const uint16_t* g, int64_t ldk, int n, int D, float* kt, int64_t ldt) {
  for (int t0 = 0; t0 < n; t0 += kKeyLanes) {
    const uint16_t* grp = g + int64_t(t0) * ldk;
    const int nt = std::min(kKeyLanes, n - t0);
    for (int p = 0; p < D / 2; ++p) {
      const uint16_t* src = grp + int64_t(p) * (2 * kKeyLanes);
      uint32_t* e = reinterpret_cast<uint32_t*>(kt + int64_t(2 * p) * ldt + t0);
      uint32_t* o = reinterpret_cast<uint32_t*>(kt + int64_t(2 * p + 1) * ldt + t0);
#pragma omp simd
      for (int t = 0; t < nt; ++t) {
        e[t] = uint32_t(src[2 * t]) << 16;
        o[t] = uint32_t(src[2 * t + 1]) << 16;
      }
    }
  }
}

template void small_item_lanes<float>(const DecodeCore&, const WorkItem&, const WorkItem*, const float*, float*,
                                      float*, float*, float*);
template void small_item_lanes<uint16_t>(const DecodeCore&, const WorkItem&, const WorkItem*, const float*,
                                         float*, float*, float*, float*);

}  // namespace dsbench::kernels::detail
