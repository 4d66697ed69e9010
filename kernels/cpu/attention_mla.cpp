// CPU decode attention for MLA over a paged latent cache ([c_KV | k_pe] rows):
// naive (per-head K/V materialised with W_UK/W_UV) and absorbed (attention in latent space).
// Naive materialises per-head K/V with register-tiled fp32 GEMMs; absorbed runs the shared decode
// core (attention_gqa.cpp) with one kv head whose K row is [c_KV | k_pe] and V row c_KV.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "attention_internal.h"
#include "attention_tiles.h"
#include "dsbench/kernels/gemm.h"

namespace dsbench::kernels {

using detail::WorkItem;

namespace {

// Loads tokens [t, t+n) of sequence b (any blocks) as fp32 rows of width `row` into dst.
void load_rows(const MlaDecodeArgs& a, int b, int64_t t, int n, int row, float* dst) {
  const int bs = a.seqs.block_size;
  const int32_t* table = a.seqs.block_table + int64_t(b) * a.seqs.max_blocks_per_seq;
  for (int i = 0; i < n; ++i) {
    const int64_t ti = t + i;
    detail::load_f32(detail::row_ptr(a.latent, table[ti / bs], int(ti % bs), 0), a.latent.dtype,
                     row, dst + int64_t(i) * row);
  }
}

// out[b][h][e] = sum_c w_uv[h][e][c] * o_lat[b][h][c]: per head, out_h = O_h W_UV_h^T over all
// sequences at once (one grouped product), so each head's W_UV is read once per call, not once
// per sequence.
void apply_w_uv(const MlaDecodeArgs& a, const float* o_lat) {
  const int H = a.heads, R = a.kv_lora_rank, V = a.v_head_dim, B = a.seqs.batch;
  static thread_local std::vector<GemmProblem> probs;
  probs.resize(size_t(H));
  for (int h = 0; h < H; ++h)
    probs[size_t(h)] = {o_lat + int64_t(h) * R, B, int64_t(H) * R,
                        WeightView{a.w_uv + int64_t(h) * V * R, DType::kF32, V, R, R, WeightLayout::kRows},
                        a.out + int64_t(h) * V, int64_t(H) * V, false};
  gemm_xwt_grouped(probs.data(), H);
}

// ---- absorbed ----------------------------------------------------------------------------------

constexpr int kAbsorbTiledMinBatch = 4;

// q_abs[b][h] = [W_UK_h^T q_nope_h | q_pe_h]. W_UK_h [Dn][R] is read once per call, not once per
// sequence: from 4 sequences on, one register-tiled product per head over all of them; below
// that, row by row into each sequence's accumulator (the tiled product's packing costs more than
// it saves at 1-3 rows).
void absorb_queries(const MlaDecodeArgs& a, float* q_abs) {
  const int B = a.seqs.batch, H = a.heads, R = a.kv_lora_rank, P = a.qk_rope_head_dim;
  const int Rr = R + P, Dn = a.qk_nope_head_dim;
  // Both threads from 32K multiply-adds: dsv3-tiny's W_UK is 256 KB of fp32, which a decode step's
  // cache stream has pushed out of L2. At batch 1 (64K) that saved 3-12 us a call, measured with
  // the two thresholds alternating in one process (128 tokens 0.045 -> 0.038 ms, 4K 0.206 ->
  // 0.194 ms); the threshold before was 256K.
  const bool par = int64_t(B) * H * Dn * R > (int64_t(1) << 15);
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int h = 0; h < H; ++h) {
    if (B >= kAbsorbTiledMinBatch) {
      detail::gemm_bc(B, R, Dn, a.q_nope + int64_t(h) * Dn, int64_t(H) * Dn, 1, a.w_uk + int64_t(h) * Dn * R, R,
                      q_abs + int64_t(h) * Rr, int64_t(H) * Rr, false);
      continue;
    }
    for (int b = 0; b < B; ++b) std::fill_n(q_abs + (int64_t(b) * H + h) * Rr, R, 0.0f);
    for (int d = 0; d < Dn; ++d) {
      const float* w = a.w_uk + (int64_t(h) * Dn + d) * R;
      for (int b = 0; b < B; ++b) {
        float* __restrict qa = q_abs + (int64_t(b) * H + h) * Rr;
        const float x = a.q_nope[(int64_t(b) * H + h) * Dn + d];
#pragma omp simd
        for (int c = 0; c < R; ++c) qa[c] += x * w[c];
      }
    }
  }
  for (int64_t r = 0; r < int64_t(B) * H; ++r)
    std::copy(a.q_pe + r * P, a.q_pe + (r + 1) * P, q_abs + r * Rr + R);
}

// ---- naive -------------------------------------------------------------------------------------

constexpr int kNaiveChunk = 128;  // tokens whose per-head K/V are materialised together

struct NaiveShape {
  int hc;  // heads materialised together
};

NaiveShape naive_shape(const MlaDecodeArgs& a) {
  int hc = std::max(1, 512 / std::max(a.qk_nope_head_dim, a.v_head_dim));
  while (a.heads % hc) --hc;
  return {hc};
}

// w [H][dim][R] -> per head chunk p, the B operand W_p^T [R][hc*dim] (column j = head j / dim,
// row j % dim) packed once per call as gemm_bc_prepacked reads it: [hc*dim/64][R][64], zero-padded.
// Packing per chunk instead cost 7% of the call (dsv3-tiny, 16K).
void pack_panels(const float* w, int H, int dim, int R, int hc, float* out) {
  const int N = hc * dim;
  const int64_t per = detail::packed_b_elems(N, R);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < H / hc; ++p) {
    float* panel = out + int64_t(p) * per;
    std::fill(panel, panel + per, 0.0f);
    for (int j = 0; j < N; ++j) {
      const float* src = w + (int64_t(p * hc + j / dim) * dim + j % dim) * R;
      float* dst = panel + int64_t(j / 64) * R * 64 + j % 64;
      for (int c = 0; c < R; ++c) dst[int64_t(c) * 64] = src[c];
    }
  }
}

void naive_item(const MlaDecodeArgs& a, const WorkItem& it, int hc, const float* wk_packed,
                const float* wv_packed, float* m, float* l, float* acc, float* scratch) {
  const int H = a.heads, R = a.kv_lora_rank, P = a.qk_rope_head_dim, Rr = R + P;
  const int Dn = a.qk_nope_head_dim, V = a.v_head_dim;
  const int64_t wk_per = detail::packed_b_elems(hc * Dn, R), wv_per = detail::packed_b_elems(hc * V, R);
  float* cf = scratch;                               // [chunk][Rr]
  float* kn = cf + int64_t(kNaiveChunk) * Rr;        // [chunk][hc*Dn]
  float* vn = kn + int64_t(kNaiveChunk) * hc * Dn;   // [chunk][hc*V]
  float* s = vn + int64_t(kNaiveChunk) * hc * V;     // [hc][chunk]
  float* sr = s + int64_t(kNaiveChunk) * hc;         // [chunk]: the RoPE part of one head's scores
  const float* qn = a.q_nope + int64_t(it.b) * H * Dn;
  const float* qp = a.q_pe + int64_t(it.b) * H * P;
  detail::init_state(H, V, m, l, acc);
  for (int64_t t = it.t0; t < it.t1; t += kNaiveChunk) {
    const int n = int(std::min<int64_t>(kNaiveChunk, it.t1 - t));
    load_rows(a, it.b, t, n, Rr, cf);
    for (int h0 = 0; h0 < H; h0 += hc) {
      // K_nope of heads h0..h0+hc for n tokens: [n][hc*Dn] = c_KV [n][R] . W_UK^T panel
      detail::gemm_bc_prepacked(n, hc * Dn, R, cf, Rr, 1, wk_packed + int64_t(h0 / hc) * wk_per, kn,
                                int64_t(hc) * Dn, false);
      // Scores 16 tokens at a time, reduced together: q_nope . k_nope from the materialised rows,
      // q_pe . k_pe from the cached RoPE keys.
      for (int hl = 0; hl < hc; ++hl) {
        const int h = h0 + hl;
        float* sh = s + int64_t(hl) * kNaiveChunk;
        for (int i = 0; i < n; i += 16) {
          const int nt = std::min(16, n - i);
          detail::score_tile<1>(Dn, qn + int64_t(h) * Dn, Dn, kn + int64_t(i) * hc * Dn + hl * Dn, int64_t(hc) * Dn,
                                nt, sh + i, kNaiveChunk);
          detail::score_tile<1>(P, qp + int64_t(h) * P, P, cf + int64_t(i) * Rr + R, Rr, nt, sr + i, kNaiveChunk);
        }
        for (int i = 0; i < n; ++i) sh[i] = a.scale * (sh[i] + sr[i]);
      }
      detail::softmax_update(h0, hc, n, s, kNaiveChunk, m, l, acc, V);
      detail::gemm_bc_prepacked(n, hc * V, R, cf, Rr, 1, wv_packed + int64_t(h0 / hc) * wv_per, vn,
                                int64_t(hc) * V, false);
      // O_h += P_h . V_h: each head's accumulator row stays in registers over the chunk.
      for (int hl = 0; hl < hc; ++hl)
        detail::pv_rows<1>(n, s + int64_t(hl) * kNaiveChunk, kNaiveChunk, vn + hl * V, int64_t(hc) * V,
                           acc + int64_t(h0 + hl) * V, V, V);
    }
  }
}

}  // namespace

void decode_attention_mla_absorbed(const MlaDecodeArgs& a) {
  validate(a);
  const int B = a.seqs.batch, H = a.heads, R = a.kv_lora_rank, Rr = R + a.qk_rope_head_dim;
  const float* q_abs = a.q_latent;
  if (!q_abs) {
    float* qa = detail::workspace(4, size_t(B) * H * Rr);
    absorb_queries(a, qa);
    q_abs = qa;
  }
  detail::DecodeCore c;
  c.seqs = &a.seqs;
  c.Hkv = 1;
  c.G = H;
  c.D = Rr;
  c.Dv = R;
  c.k = a.latent;
  c.v_in_k = true;
  const float* qp = detail::core_prepare_q(c, q_abs, Rr, a.scale);
  float* o_lat = a.out_latent ? a.out_latent : detail::workspace(5, size_t(B) * H * R);
  detail::decode_core(c, qp, o_lat);
  if (!a.out_latent) apply_w_uv(a, o_lat);
}

void decode_attention_mla_naive(const MlaDecodeArgs& a) {
  validate(a);
  if (a.latent.lanes)
    throw std::invalid_argument("decode_attention_mla_naive: latent.lanes must be 0 (it decompresses latent rows)");
  const int H = a.heads, R = a.kv_lora_rank, P = a.qk_rope_head_dim, Rr = R + P;
  const int Dn = a.qk_nope_head_dim, V = a.v_head_dim;
  const int hc = naive_shape(a).hc;
  float* wk = detail::workspace(5, size_t(H / hc) * size_t(detail::packed_b_elems(hc * Dn, R)));
  float* wv = detail::workspace(6, size_t(H / hc) * size_t(detail::packed_b_elems(hc * V, R)));
  pack_panels(a.w_uk, H, Dn, R, hc, wk);
  pack_panels(a.w_uv, H, V, R, hc, wv);
  static thread_local std::vector<WorkItem> items_buf;  // this thread's: no allocation per call
  std::vector<WorkItem>& items = items_buf;  // shared with the team through the reference
  detail::plan_splits(a.seqs, 256, items);
  const int64_t n_items = int64_t(items.size());
  float* m = detail::workspace(0, size_t(n_items * H));
  float* l = detail::workspace(1, size_t(n_items * H));
  float* acc = detail::workspace(2, size_t(n_items * H * V));
  const size_t scratch_n =
      size_t(kNaiveChunk) * (Rr + size_t(hc) * Dn + size_t(hc) * V) + size_t(hc + 1) * kNaiveChunk;
#pragma omp parallel
  {
    float* scratch = detail::workspace(7, scratch_n);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n_items; ++i)
      naive_item(a, items[size_t(i)], hc, wk, wv, m + i * H, l + i * H, acc + i * H * V, scratch);
  }
  detail::combine_splits(items, a.seqs.batch, H, V, m, l, acc, a.out);
}

}  // namespace dsbench::kernels
