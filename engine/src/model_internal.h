// Engine-internal pieces of the forward pass shared by model.cpp and attention.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/engine/kv_cache.h"
#include "dsbench/engine/model.h"
#include "dsbench/kernels/gemm.h"

namespace dsbench::engine::detail {

// Token t of the flattened batch: which input it came from, its sequence and position.
struct TokenMeta {
  std::vector<int32_t> seq;
  std::vector<int64_t> pos;
  std::vector<int32_t> input;
  std::vector<int64_t> input_first;  // first flattened row of each input
  // cos and sin of each row's RoPE angles [row][qk_rope_head_dim / 2], computed once per forward
  // and shared by every layer's q and k rotations.
  std::vector<float> rope_cos, rope_sin;
};

struct AttnScratch {
  std::vector<float> qa, q, kva, kvb, kc, attn, qn, qp, ol, out, rows;
  std::vector<int32_t> table, lens, seqs;
  std::vector<kernels::GemmProblem> probs;
};

// One layer's MLA attention for the flattened batch: h [T, hidden] (normed input) -> attn
// [T, heads*v] (before o_proj). Writes the batch's rows into the cache first.
void mla_attention(const ModelConfig& cfg, const LayerWeights& w, int64_t layer,
                   const std::vector<SeqInput>& batch, const TokenMeta& meta, const float* h,
                   KvCache& cache, float scale,
                   AttnScratch& s, float* attn, double* cache_bytes_read);

// Row-parallel RMSNorm for T rows.
void rms_norm_rows(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* w, float eps,
                   float* y, int64_t ldy);

}  // namespace dsbench::engine::detail
