// MLA attention of one layer for a flattened batch: projections, RoPE, cache writes, then decode
// rows through the kernels' paged decode-attention (one query per sequence) and prefill chunks
// through causal GEMM attention over the gathered cache rows (many queries per sequence).
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "dsbench/error.h"
#include "dsbench/kernels/activation.h"
#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/gemm.h"
#include "dsbench/kernels/rope.h"
#include "dsbench/trace.h"
#include "model_internal.h"

namespace dsbench::engine {
namespace {
std::atomic<int64_t> g_prefill_scratch{int64_t(256) << 20};
}
int64_t prefill_scratch_limit() { return g_prefill_scratch.load(std::memory_order_relaxed); }
void set_prefill_scratch_limit(int64_t bytes) {
  if (bytes <= 0) throw UsageError("prefill scratch limit must be positive, got " + std::to_string(bytes));
  g_prefill_scratch.store(bytes, std::memory_order_relaxed);
}
}  // namespace dsbench::engine

namespace dsbench::engine::detail {
using kernels::DType;

namespace {
void put(void* dst, const float* src, int64_t n, DType dt) {
  if (dt == DType::kF32) {
    std::memcpy(dst, src, size_t(n) * 4);
  } else {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = kernels::bf16::from_float(src[i]);
  }
}
void get(const void* src, float* dst, int64_t n, DType dt) {
  if (dt == DType::kF32) {
    std::memcpy(dst, src, size_t(n) * 4);
  } else {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = kernels::bf16::to_float(s[i]);
  }
}

struct Dims {
  int64_t nh, dn, dr, dv, kvl, qk, row;
};

// Query rows and key tokens per prefill attention tile: a tile's scores (256 x 256 fp32, 256 KiB)
// stay in L2 between the two GEMMs, and each K/V tile BLAS packs serves 256 queries (with 64, the
// packing took as long as the multiplications: 8K prompt 7.1 s against 6.6 s).
constexpr int64_t kPrefillQ = 256, kPrefillKv = 256;

// Causal attention of n query rows of one sequence (positions start..start+n-1) over its
// Lc = start + n cached tokens: the prefill path. Flash-style: tiles of kPrefillQ queries x
// kPrefillKv keys with an online softmax, tiles wholly above the diagonal skipped. Both MLA modes
// first decompress per-head K_nope and V from the cached latent with kv_b, as DeepSeek's prefill
// does: per (query, key, head) that is nope + rope + v multiply-adds against kv_lora + rope +
// kv_lora in latent space, and the decompression is shared by all the chunk's queries.
// The mha_cache mode reads its cached K and V. attn rows receive [heads * v].
void prefill_attention(const LayerWeights& w, int64_t layer, const Dims& d, KvCache& cache, int32_t seq,
                       int64_t start, int64_t n, const float* q, float scale, AttnScratch& s, float* attn) {
  const int64_t Lc = start + n, re = cache.row_elems();
  s.rows.resize(size_t(Lc * re));
  for (int64_t j = 0; j < Lc; ++j) get(cache.row(seq, j, layer), s.rows.data() + j * re, re, cache.dtype());
  const float* R = s.rows.data();
  const bool mla = cache.mode() != AttentionMode::kMhaCache;
  // Per head h: K_h rows [nope | rope] (qk wide, like the q rows: one GEMM for the scores) and V_h.
  // MLA: K_nope and V decompressed for a group of heads at a time (kvb [Lc][group*(nope+v)]), k_pe
  // (shared by the heads) from the cache rows, gathered into kc [group][Lc][qk]; the group keeps
  // that scratch under prefill_scratch_limit() however long the context and however many the heads.
  // MHA: the cached K and V as they are, all heads at once.
  const int64_t per_head = Lc * (d.dn + d.dv + d.qk) * int64_t(sizeof(float));
  const int64_t group = mla ? std::clamp<int64_t>(prefill_scratch_limit() / std::max<int64_t>(per_head, 1), 1, d.nh) : d.nh;
  const int64_t ldq = d.nh * d.qk, ldo = d.nh * d.dv, ldb = group * (d.dn + d.dv);
  const int64_t ldk = mla ? d.qk : re, ldv = mla ? ldb : re;
  const int64_t qblocks = (n + kPrefillQ - 1) / kPrefillQ;
  for (int64_t h0 = 0; h0 < d.nh; h0 += group) {
    const int64_t hg = std::min(group, d.nh - h0);
    if (mla) {
      s.kvb.resize(size_t(Lc * ldb));
      kernels::gemm_xwt(R, Lc, re, w.kv_b.rows(h0 * (d.dn + d.dv), hg * (d.dn + d.dv)), s.kvb.data(), ldb);
      s.kc.resize(size_t(hg * Lc * d.qk));
#pragma omp parallel for schedule(static) if (Lc * hg * d.qk >= (int64_t(1) << 16))
      for (int64_t j = 0; j < Lc; ++j)
        for (int64_t g = 0; g < hg; ++g) {
          float* k = s.kc.data() + (g * Lc + j) * d.qk;
          std::memcpy(k, s.kvb.data() + j * ldb + g * (d.dn + d.dv), size_t(d.dn) * 4);
          std::memcpy(k + d.dn, R + j * re + d.kvl, size_t(d.dr) * 4);
        }
    }
    // g: the head's index in the group (MLA scratch), h0 + g: in the layer (q, out, MHA cache).
    auto k_of = [&](int64_t g) { return mla ? s.kc.data() + g * Lc * d.qk : R + (h0 + g) * d.qk; };
    auto v_of = [&](int64_t g) {
      return mla ? s.kvb.data() + g * (d.dn + d.dv) + d.dn : R + d.nh * d.qk + (h0 + g) * d.dv;
    };
    const int64_t items = hg * qblocks;
    kernels::blas_single_threaded();
#pragma omp parallel if (items > 1 && n * Lc * hg >= 4096)
    {
      std::vector<float> S(size_t(kPrefillQ * kPrefillKv)), O(size_t(kPrefillQ * d.dv)), m(kPrefillQ), l(kPrefillQ);
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < items; ++it) {
        const int64_t g = it % hg, h = h0 + g, i0 = (it / hg) * kPrefillQ, nq = std::min(kPrefillQ, n - i0);
        const float* qh = q + i0 * ldq + h * d.qk;
        const float* kh = k_of(g);
        const float* vh = v_of(g);
        std::fill(m.begin(), m.end(), -INFINITY);
        std::fill(l.begin(), l.end(), 0.0f);
        std::fill(O.begin(), O.end(), 0.0f);
        const int64_t keys = start + i0 + nq;  // the last query row sees keys [0, keys)
        for (int64_t j0 = 0; j0 < keys; j0 += kPrefillKv) {
          const int64_t nk = std::min(kPrefillKv, keys - j0);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nq), int(nk), int(d.qk), scale, qh, int(ldq),
                      kh + j0 * ldk, int(ldk), 0.0f, S.data(), int(nk));
          for (int64_t i = 0; i < nq; ++i) {
            // Query row i (position start + i0 + i) sees keys up to its own position.
            const int64_t valid = start + i0 + i + 1 - j0;
            const float alpha = kernels::online_softmax_row(S.data() + i * nk, nk, valid, &m[size_t(i)], &l[size_t(i)]);
            if (alpha != 1.0f)
              for (int64_t e = 0; e < d.dv; ++e) O[size_t(i * d.dv + e)] *= alpha;
          }
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nq), int(d.dv), int(nk), 1.0f, S.data(),
                      int(nk), vh + j0 * ldv, int(ldv), 1.0f, O.data(), int(d.dv));
        }
        for (int64_t i = 0; i < nq; ++i) {
          const float inv = 1.0f / l[size_t(i)];
          float* out = attn + (i0 + i) * ldo + h * d.dv;
          for (int64_t e = 0; e < d.dv; ++e) out[e] = O[size_t(i * d.dv + e)] * inv;
        }
      }
    }
  }
}
}  // namespace

void mla_attention(const ModelConfig& cfg, const LayerWeights& w, int64_t layer,
                   const std::vector<SeqInput>& batch, const TokenMeta& meta, const float* h,
                   KvCache& cache, float scale, AttnScratch& s, float* attn,
                   double* cache_bytes_read) {
  const int64_t T = int64_t(meta.seq.size()), H = cfg.hidden_size;
  Dims d{cfg.num_attention_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim,
         cfg.kv_lora_rank, 0, 0};
  d.qk = d.dn + d.dr;
  d.row = d.kvl + d.dr;
  const float eps = float(cfg.rms_norm_eps);
  const DType dt = cache.dtype();
  const AttentionMode mode = cache.mode();
  const int64_t esz = kernels::dtype_bytes(dt);

  // Projections: q (through the q_lora bottleneck and its norm), latent + rope key.
  s.q.resize(size_t(T * d.nh * d.qk));
  s.kva.resize(size_t(T * d.row));
  // The two down-projections of the same input run as one grouped product.
  kernels::GemmProblem down[2];
  down[0] = {h, T, H, w.kv_a.view(), s.kva.data(), d.row, false};
  if (w.q_lora) {
    const int64_t ql = w.q_a.n;
    s.qa.resize(size_t(T * ql));
    down[1] = {h, T, H, w.q_a.view(), s.qa.data(), ql, false};
    kernels::gemm_xwt_grouped(down, 2);
    rms_norm_rows(s.qa.data(), T, ql, ql, w.q_a_norm.data(), eps, s.qa.data(), ql);
    kernels::gemm_xwt(s.qa.data(), T, ql, w.q_b.view(), s.q.data(), d.nh * d.qk);
  } else {
    down[1] = {h, T, H, w.q.view(), s.q.data(), d.nh * d.qk, false};
    kernels::gemm_xwt_grouped(down, 2);
  }
  rms_norm_rows(s.kva.data(), T, d.kvl, d.row, w.kv_a_norm.data(), eps, s.kva.data(), d.row);
#pragma omp parallel for schedule(static) if (T > 16)
  for (int64_t t = 0; t < T; ++t) {
    const float* cs = meta.rope_cos.data() + t * (d.dr / 2);
    const float* sn = meta.rope_sin.data() + t * (d.dr / 2);
    kernels::rope_rotate(s.q.data() + t * d.nh * d.qk + d.dn, d.nh, d.qk, d.dr, cs, sn);
    kernels::rope_rotate(s.kva.data() + t * d.row + d.kvl, 1, d.dr, d.dr, cs, sn);
  }

  // Cache writes for the new tokens.
  if (mode != AttentionMode::kMhaCache) {
    for (int64_t t = 0; t < T; ++t)
      put(cache.row(meta.seq[size_t(t)], meta.pos[size_t(t)], layer), s.kva.data() + t * d.row, d.row, dt);
  } else {
    const int64_t ldb = d.nh * (d.dn + d.dv);
    s.kvb.resize(size_t(T * ldb));
    kernels::gemm_xwt(s.kva.data(), T, d.row, w.kv_b.view(), s.kvb.data(), ldb);
    for (int64_t t = 0; t < T; ++t) {
      char* dst = static_cast<char*>(cache.row(meta.seq[size_t(t)], meta.pos[size_t(t)], layer));
      const float* kb = s.kvb.data() + t * ldb;
      for (int64_t hh = 0; hh < d.nh; ++hh) {
        put(dst + (hh * d.qk) * esz, kb + hh * (d.dn + d.dv), d.dn, dt);
        put(dst + (hh * d.qk + d.dn) * esz, s.kva.data() + t * d.row + d.kvl, d.dr, dt);
        put(dst + (d.nh * d.qk + hh * d.dv) * esz, kb + hh * (d.dn + d.dv) + d.dn, d.dv, dt);
      }
    }
  }

  // Decode rows: every single-token input, batched through the paged decode kernels.
  std::vector<size_t> dec;
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i].n == 1) dec.push_back(i);
  const int64_t re = cache.row_elems();
  if (!dec.empty()) {
    DSBENCH_TRACE_SCOPE("engine/decode_attention");
    const int b = int(dec.size());
    s.seqs.resize(size_t(b));
    int64_t max_len = 0;
    for (int i = 0; i < b; ++i) {
      s.seqs[size_t(i)] = batch[dec[size_t(i)]].seq;
      max_len = std::max(max_len, cache.pool().seq_len(s.seqs[size_t(i)]));
    }
    const int max_blocks = int(cache.blocks_for_tokens(max_len));
    s.table.assign(size_t(b) * size_t(max_blocks), -1);
    s.lens.resize(size_t(b));
    cache.pool().fill_tables(s.seqs.data(), b, max_blocks, s.table.data(), s.lens.data());
    kernels::DecodeBatch db;
    db.batch = b;
    db.block_size = cache.block_size();
    db.block_table = s.table.data();
    db.max_blocks_per_seq = max_blocks;
    db.seq_lens = s.lens.data();
    db.num_pool_blocks = cache.pool().num_blocks();
    s.out.resize(size_t(b * d.nh * d.dv));
    for (int i = 0; i < b; ++i) *cache_bytes_read += double(s.lens[size_t(i)]) * double(re * esz);
    if (mode == AttentionMode::kMhaCache) {
      s.qn.resize(size_t(b * d.nh * d.qk));
      for (int i = 0; i < b; ++i)
        std::memcpy(s.qn.data() + i * d.nh * d.qk, s.q.data() + meta.input_first[dec[size_t(i)]] * d.nh * d.qk,
                    size_t(d.nh * d.qk) * 4);
      kernels::GqaDecodeArgs a;
      a.seqs = db;
      a.q_heads = a.kv_heads = int(d.nh);
      a.head_dim = int(d.qk);
      a.v_head_dim = int(d.dv);
      a.q = s.qn.data();
      a.k = cache.view(layer, 0, d.qk);
      a.v = cache.view(layer, d.nh * d.qk, d.dv);
      a.out = s.out.data();
      a.scale = scale;
      kernels::decode_attention_gqa(a);
    } else {
      // Each decode row's q split per head into q_nope (to `nope`, row stride ld_nope) and q_pe
      // (to `pe`, row stride ld_pe).
      auto split_q = [&](float* nope, int64_t ld_nope, float* pe, int64_t ld_pe) {
        for (int i = 0; i < b; ++i) {
          const float* qr = s.q.data() + meta.input_first[dec[size_t(i)]] * d.nh * d.qk;
          for (int64_t hh = 0; hh < d.nh; ++hh) {
            std::memcpy(nope + (i * d.nh + hh) * ld_nope, qr + hh * d.qk, size_t(d.dn) * 4);
            std::memcpy(pe + (i * d.nh + hh) * ld_pe, qr + hh * d.qk + d.dn, size_t(d.dr) * 4);
          }
        }
      };
      kernels::MlaDecodeArgs a;
      a.seqs = db;
      a.heads = int(d.nh);
      a.kv_lora_rank = int(d.kvl);
      a.qk_nope_head_dim = int(d.dn);
      a.qk_rope_head_dim = int(d.dr);
      a.v_head_dim = int(d.dv);
      a.latent = cache.view(layer, 0, 0);
      a.scale = scale;
      if (mode == AttentionMode::kMlaAbsorbed) {
        // W_UK and W_UV run as the engine's own GEMMs over the stored kv_b (bf16 panels): per
        // head, q_lat = q_nope W_UK_h (uk_t holds W_UK_h transposed) and out = o_lat W_UV_h^T, all
        // heads of a projection in one grouped call. The kernel attends in latent space only.
        s.qn.resize(size_t(b * d.nh * d.row));  // absorbed queries [b, heads, kv_lora + rope]
        s.ol.resize(size_t(b * d.nh * d.kvl));  // latent outputs [b, heads, kv_lora]
        s.qp.resize(size_t(b * d.nh * d.dn));   // gathered q_nope [b, heads, nope]
        split_q(s.qp.data(), d.dn, s.qn.data() + d.kvl, d.row);
        s.probs.resize(size_t(d.nh));
        for (int64_t hh = 0; hh < d.nh; ++hh)
          s.probs[size_t(hh)] = {s.qp.data() + hh * d.dn, b, d.nh * d.dn, w.uk_t.rows(hh * d.kvl, d.kvl),
                                 s.qn.data() + hh * d.row, d.nh * d.row, false};
        {
          DSBENCH_TRACE_SCOPE("engine/absorb_w_uk");
          kernels::gemm_xwt_grouped(s.probs.data(), d.nh);
        }
        a.q_latent = s.qn.data();
        a.out_latent = s.ol.data();
        {
          DSBENCH_TRACE_SCOPE("engine/latent_attention");
          kernels::decode_attention_mla_absorbed(a);
        }
        DSBENCH_TRACE_SCOPE("engine/absorb_w_uv");
        for (int64_t hh = 0; hh < d.nh; ++hh)
          s.probs[size_t(hh)] = {s.ol.data() + hh * d.kvl, b, d.nh * d.kvl,
                                 w.kv_b.rows(hh * (d.dn + d.dv) + d.dn, d.dv), s.out.data() + hh * d.dv,
                                 d.nh * d.dv, false};
        kernels::gemm_xwt_grouped(s.probs.data(), d.nh);
      } else {
        s.qn.resize(size_t(b * d.nh * d.dn));
        s.qp.resize(size_t(b * d.nh * d.dr));
        split_q(s.qn.data(), d.dn, s.qp.data(), d.dr);
        a.q_nope = s.qn.data();
        a.q_pe = s.qp.data();
        a.w_uk = w.w_uk.data();
        a.w_uv = w.w_uv.data();
        a.out = s.out.data();
        kernels::decode_attention_mla_naive(a);
      }
    }
    for (int i = 0; i < b; ++i)
      std::memcpy(attn + meta.input_first[dec[size_t(i)]] * d.nh * d.dv, s.out.data() + i * d.nh * d.dv,
                  size_t(d.nh * d.dv) * 4);
  }

  // Prefill chunks: several queries of one sequence at once.
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].n == 1) continue;
    DSBENCH_TRACE_SCOPE("engine/prefill_attention");
    const int64_t first = meta.input_first[i];
    const int64_t start = meta.pos[size_t(first)];
    *cache_bytes_read += double(start + batch[i].n) * double(re * esz);
    prefill_attention(w, layer, d, cache, batch[i].seq, start, batch[i].n,
                      s.q.data() + first * d.nh * d.qk, scale, s, attn + first * d.nh * d.dv);
  }
}

}  // namespace dsbench::engine::detail
