// Decode attention (one new query token per sequence) over a paged KV cache: MHA/GQA/MQA,
// MLA-naive (per-head K/V materialised from the latent) and MLA-absorbed (attention in latent space).
// Plain buffers: pointers + shapes + strides, int32 block tables; storage fp32 or bf16, fp32 math.
#pragma once

#include <cstdint>

#include "dsbench/kernels/dtype.h"

namespace dsbench::kernels {

// Where one cached tensor lives inside a paged pool. Element (block b, token slot s, head h, i)
// is at base + (b*block_stride + s*token_stride + h*head_stride + i) elements of `dtype`.
// Strides are in elements, so K and V may share one pool (V's base = K's base + offset).
struct PagedView {
  const void* base = nullptr;
  DType dtype = DType::kBF16;   // kF32 or kBF16
  int64_t block_stride = 0;     // elements between consecutive blocks
  int64_t token_stride = 0;     // elements between consecutive token slots of a block
  int64_t head_stride = 0;      // elements between kv heads of one token (unused for MLA latent)
  // 0: a (token, head) row is contiguous, as above. kKeyLanes: the K layout of the CPU few-head
  // decode path (see gqa_k_view_lanes); token_stride is then the row length (head_dim).
  int lanes = 0;
};

// Tokens per lane group of a lanes K layout: within one (block, kv head), tokens are grouped by 32
// and each group stores its head_dim values as pairs of adjacent dims, token by token:
// [block_size / 32][head_dim / 2][32 tokens][2]. One 64-byte load of bf16 then holds dims
// (2p, 2p+1) of 16 tokens, so the score of 16 tokens is a vector FMA per dim with no horizontal
// sums (as vLLM's paged K cache splits head_dim to put tokens side by side).
inline constexpr int kKeyLanes = 32;

// Element offset of element i of (block, slot, head) in a paged view, for either layout.
inline int64_t paged_elem_offset(const PagedView& v, int32_t block, int slot, int head, int i) {
  const int64_t base = int64_t(block) * v.block_stride + int64_t(head) * v.head_stride;
  if (v.lanes == 0) return base + int64_t(slot) * v.token_stride + i;
  const int64_t L = v.lanes;
  return base + (slot / L) * L * v.token_stride + (i / 2) * (2 * L) + (slot % L) * 2 + (i % 2);
}

// The sequences of one decode step. Entry [b, j] of the block table is the pool block holding
// tokens [j*block_size, (j+1)*block_size) of sequence b; entries past the sequence are ignored.
struct DecodeBatch {
  int batch = 0;
  int block_size = 64;
  const int32_t* block_table = nullptr;  // [batch, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  const int32_t* seq_lens = nullptr;     // [batch], 1 <= seq_lens[b] <= max_blocks*block_size
  int64_t num_pool_blocks = 0;           // > 0: block ids are checked against it
};

// MHA (kv_heads == q_heads), GQA (q_heads % kv_heads == 0) and MQA (kv_heads == 1).
// q head h attends kv head h / (q_heads / kv_heads), as in HF/vLLM.
struct GqaDecodeArgs {
  DecodeBatch seqs;
  int q_heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
  const float* q = nullptr;  // [batch, q_heads, head_dim], contiguous
  PagedView k;               // head_dim elements per (token, kv head)
  PagedView v;               // v_head_dim elements per (token, kv head)
  float* out = nullptr;      // [batch, q_heads, v_head_dim], contiguous
  float scale = 1.0f;        // softmax scale (e.g. head_dim^-0.5)
};

// MLA (DeepSeek-V2/V3). The cache holds, per token, one row of kv_lora_rank + qk_rope_head_dim
// values: kv_norm(c_KV) then k_pe (RoPE already applied), shared by all heads. The up-projection
// wkv_b of DeepSeek's reference is given as its two halves, in its own layout:
//   w_uk [heads, qk_nope_head_dim, kv_lora_rank],  w_uv [heads, v_head_dim, kv_lora_rank].
struct MlaDecodeArgs {
  DecodeBatch seqs;
  int heads = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
  const float* q_nope = nullptr;  // [batch, heads, qk_nope_head_dim]
  const float* q_pe = nullptr;    // [batch, heads, qk_rope_head_dim] (RoPE applied)
  PagedView latent;               // row = [c_KV (kv_lora_rank) | k_pe (qk_rope_head_dim)]
  const float* w_uk = nullptr;    // fp32
  const float* w_uv = nullptr;    // fp32
  float* out = nullptr;           // [batch, heads, v_head_dim]
  float scale = 1.0f;             // softmax scale (DeepSeek: (nope+rope)^-0.5 * mscale^2)
  // Absorbed kernel only: a caller that applies W_UK and W_UV itself (an engine with its own
  // weight format) passes the absorbed query and/or takes the latent output. Then q_nope/w_uk,
  // resp. w_uv/out, may be null.
  const float* q_latent = nullptr;  // [batch, heads, kv_lora_rank + qk_rope_head_dim]
  float* out_latent = nullptr;      // [batch, heads, kv_lora_rank] = softmax(scores) . c_KV
};

// Throw std::invalid_argument naming the field when the arguments are malformed (null pointers,
// non-positive or inconsistent shapes, q_heads % kv_heads != 0, unsupported dtype, seq_len out of
// range, a block id outside the pool). The kernels call these first.
void validate(const GqaDecodeArgs& a);
void validate(const MlaDecodeArgs& a);

// ---- CPU kernels (OpenMP over sequences x heads x context splits; flash-decoding combine) ----
void decode_attention_gqa(const GqaDecodeArgs& a);
// Naive: K_h = [W_UK_h c_KV ; k_pe], V_h = W_UV_h c_KV materialised for every head and token,
// then ordinary attention, as DeepSeek's reference "naive" path computes it.
void decode_attention_mla_naive(const MlaDecodeArgs& a);
// Absorbed: q_lat_h = W_UK_h^T q_nope_h; scores over the shared [c_KV|k_pe] rows for all heads at
// once; out_h = W_UV_h (softmax . c_KV).
void decode_attention_mla_absorbed(const MlaDecodeArgs& a);

// ---- float64 references (for tests of every backend) ----
void decode_attention_gqa_reference(const GqaDecodeArgs& a, double* out);
void decode_attention_mla_reference(const MlaDecodeArgs& a, double* out);

// ---- the work each kernel must do, for bytes/FLOPs/roofline ----
struct AttentionCost {
  double cache_bytes = 0;   // cached K/V (or latent) rows the kernel must read
  double other_bytes = 0;   // q, out and projection weights
  double flops = 0;         // 2 x multiply-adds
  double bytes() const { return cache_bytes + other_bytes; }
};
// Costs from the shapes and seq_lens of the arguments (pointers other than seq_lens unused).
AttentionCost decode_attention_gqa_cost(const GqaDecodeArgs& a);
AttentionCost decode_attention_mla_naive_cost(const MlaDecodeArgs& a);
AttentionCost decode_attention_mla_absorbed_cost(const MlaDecodeArgs& a);

// ---- layouts used by the engine and the suites ----
// GQA row of one token: [K: kv_heads x head_dim][V: kv_heads x v_head_dim] in one pool.
inline int64_t gqa_row_elems(int kv_heads, int head_dim, int v_head_dim) {
  return int64_t(kv_heads) * (head_dim + v_head_dim);
}
inline PagedView gqa_k_view(const void* pool, DType dt, int block_size, int kv_heads, int head_dim,
                            int v_head_dim) {
  const int64_t row = gqa_row_elems(kv_heads, head_dim, v_head_dim);
  return PagedView{pool, dt, row * block_size, row, head_dim};
}
inline PagedView gqa_v_view(const void* pool, DType dt, int block_size, int kv_heads, int head_dim,
                            int v_head_dim) {
  const int64_t row = gqa_row_elems(kv_heads, head_dim, v_head_dim);
  const char* base = static_cast<const char*>(pool) + int64_t(kv_heads) * head_dim * dtype_bytes(dt);
  return PagedView{base, dt, row * block_size, row, v_head_dim};
}
// The same pool bytes with each block head-major, as vLLM lays out its paged cache: per block
// [K: kv_heads x block_size x head_dim] then [V: kv_heads x block_size x v_head_dim]. The rows
// of one (block, kv head) are contiguous, so a decode step streams one range per head where the
// token-row layout above gives a head's slice of every token row (GQA at DeepSeek-V3 width: 384
// bytes out of every 10 KB, which the hardware prefetchers do not follow).
inline PagedView gqa_k_view_blocked(const void* pool, DType dt, int block_size, int kv_heads, int head_dim,
                                    int v_head_dim) {
  const int64_t row = gqa_row_elems(kv_heads, head_dim, v_head_dim);
  return PagedView{pool, dt, row * block_size, head_dim, int64_t(block_size) * head_dim};
}
inline PagedView gqa_v_view_blocked(const void* pool, DType dt, int block_size, int kv_heads, int head_dim,
                                    int v_head_dim) {
  const int64_t row = gqa_row_elems(kv_heads, head_dim, v_head_dim);
  const char* base =
      static_cast<const char*>(pool) + int64_t(kv_heads) * block_size * head_dim * dtype_bytes(dt);
  return PagedView{base, dt, row * block_size, v_head_dim, int64_t(block_size) * v_head_dim};
}

// The blocked layout above with K in lane groups (kKeyLanes): bf16 only, block_size a multiple of
// 32 and head_dim even (validate checks). V keeps its rows. The pool bytes are the same.
inline PagedView gqa_k_view_lanes(const void* pool, DType dt, int block_size, int kv_heads, int head_dim,
                                  int v_head_dim) {
  PagedView k = gqa_k_view_blocked(pool, dt, block_size, kv_heads, head_dim, v_head_dim);
  k.lanes = kKeyLanes;
  return k;
}
// Whether gqa_k_view_lanes applies to these shapes (the CPU kernels' few-head tiles use it).
inline bool gqa_lanes_supported(DType dt, int block_size, int head_dim) {
  return dt == DType::kBF16 && block_size % kKeyLanes == 0 && head_dim % 2 == 0;
}

// MLA latent row of one token: [c_KV | k_pe].
inline PagedView mla_latent_view(const void* pool, DType dt, int block_size, int kv_lora_rank,
                                 int qk_rope_head_dim) {
  const int64_t row = int64_t(kv_lora_rank) + qk_rope_head_dim;
  return PagedView{pool, dt, row * block_size, row, 0};
}
// The same pool with the latent rows in lane groups (kKeyLanes), for the CPU MLA-absorbed
// kernel's few-head path: scores from full-width FMAs over 16 tokens, and P.V as lane-wise
// products of probabilities and values. bf16, block_size a multiple of 32, even kv_lora_rank and
// row (validate checks); the MLA-naive and CUDA kernels read rows and reject it.
inline PagedView mla_latent_view_lanes(const void* pool, DType dt, int block_size, int kv_lora_rank,
                                       int qk_rope_head_dim) {
  PagedView v = mla_latent_view(pool, dt, block_size, kv_lora_rank, qk_rope_head_dim);
  v.lanes = kKeyLanes;
  return v;
}
inline bool mla_lanes_supported(DType dt, int block_size, int kv_lora_rank, int qk_rope_head_dim) {
  // The rows' conditions, and whole dim pairs of c_KV (the V that P.V reads).
  return gqa_lanes_supported(dt, block_size, kv_lora_rank + qk_rope_head_dim) && kv_lora_rank % 2 == 0;
}

}  // namespace dsbench::kernels
