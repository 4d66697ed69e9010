// Internal to engine/cuda: the device engine's small ops (embedding, RMSNorm, RoPE, cache writes,
// SwiGLU) and its generic latent attention. All take device pointers and run on the
// given stream; fp32 math, storage in fp32 or bf16 where a DType says so.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "dsbench/kernels/dtype.h"

namespace dsbench::engine::cuda_ops {

using kernels::DType;

// x[t, :] = table[ids[t], :] widened to fp32; table [vocab, hidden] row-major in `dt`.
void embed(const void* table, DType dt, int64_t hidden, const int32_t* ids, int64_t tokens,
           float* x, cudaStream_t s);

// y[r, :] = x[src, :] * rsqrt(mean(x[src, :]^2) + eps) * w, src = rows ? rows[r] : r, for r in
// [0, n_rows). In place when x == y, ldx == ldy and rows is null.
void rms_norm(const float* x, int64_t ldx, const int32_t* rows, int64_t n_rows, int64_t dim,
              const float* w, float eps, float* y, int64_t ldy, cudaStream_t s);

// RoPE on interleaved pairs at each token's position (angles in double, as the CPU does):
// q_pe of every head (q [T, heads * qk], q_pe at h * qk + nope) is rotated into the absorbed
// query's rope part (qlat [T, heads, row], at kv_lora), and k_pe (kva [T, row], at kv_lora) in
// place.
struct RopeArgs {
  const float* q = nullptr;
  float* qlat = nullptr;
  float* kva = nullptr;
  const int32_t* pos = nullptr;     // [T]
  const float* inv_freq = nullptr;  // [rope / 2]
  int64_t tokens = 0;
  int heads = 0, nope = 0, rope = 0, kv_lora = 0;
};
void rope(const RopeArgs& a, cudaStream_t s);

// Writes row t of kva [T, row] into layer `pool` [blocks, block_size, row] (`dt`) at the slot of
// (block_table[slot[t], pos[t] / block_size], pos[t] % block_size).
void cache_write(const float* kva, int64_t tokens, int64_t row, const int32_t* pos,
                 const int32_t* slot, const int32_t* block_table, int max_blocks, int block_size,
                 void* pool, DType dt, cudaStream_t s);

// act[r, i] = silu(gu[r, i]) * gu[r, inter + i] for rows x inter; gu [rows, 2 * inter].
void silu_mul(const void* gu, DType in, int64_t rows, int64_t inter, void* act, DType out,
              cudaStream_t s);

// Attention in the latent space for every (query token, head): query token t of input slot[t] at
// position pos[t] attends causally over tokens [0, pos[t]] of its sequence (block table row
// slot[t]), rows [c_KV (kv_lora) | k_pe (rope)] of a paged pool. out[t, h, :] = softmax(scale *
// q[t, h, :] . row) . c_KV, fp32 accumulation.
struct LatentAttentionArgs {
  const float* q = nullptr;    // [T, heads, kv_lora + rope] (absorbed)
  const void* pool = nullptr;  // this layer's [blocks, block_size, kv_lora + rope]
  DType dtype = DType::kBF16;
  const int32_t* block_table = nullptr;  // [inputs, max_blocks]
  int max_blocks = 0, block_size = 0;
  const int32_t* pos = nullptr;   // [T]
  const int32_t* slot = nullptr;  // [T]
  int64_t tokens = 0;
  int heads = 0, kv_lora = 0, rope = 0;
  float scale = 1.0f;
  float* out = nullptr;  // [T, heads, kv_lora]
};
void latent_attention(const LatentAttentionArgs& a, cudaStream_t s);

}  // namespace dsbench::engine::cuda_ops
