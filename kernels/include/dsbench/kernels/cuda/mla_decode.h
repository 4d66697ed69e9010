// MLA decode attention on CUDA over a paged latent cache (576 = 512 c_KV + 64 k_pe per token,
// bf16, page size a multiple of 32), split-KV with a combine step, tensor cores (mma.sync bf16).
#pragma once

#include <cstdint>

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/memory.h"

namespace dsbench::kernels::cuda {

inline constexpr int kMlaLatentDim = 512;
inline constexpr int kMlaRopeDim = 64;
inline constexpr int kMlaRowDim = kMlaLatentDim + kMlaRopeDim;

// CTAs per split for make_decode_schedule: one per 16 query heads.
inline int mla_decode_ctas_per_split(int heads) { return (heads + 15) / 16; }

// The FlashMLA-shaped core: queries already absorbed into the latent space.
// All pointers are device pointers except where noted.
struct MlaLatentDecodeArgs {
  DecodeBatch seqs;           // device block_table and seq_lens; num_pool_blocks unused
  int heads = 0;              // h_q (h_kv = 1)
  const void* q = nullptr;    // bf16 [batch, heads, 576]: [q_nope . W_UK | q_pe]
  const void* cache = nullptr;  // bf16 pool [blocks, block_size, 576]
  float* out = nullptr;       // fp32 [batch, heads, 512]: softmax . c_KV (before W_UV)
  float* lse = nullptr;       // optional fp32 [batch, heads], natural log
  float scale = 1.0f;
  void* stream = nullptr;
};

// Throws std::invalid_argument naming the field for shapes the kernel does not support.
void mla_latent_decode(const MlaLatentDecodeArgs& a, const DecodeSchedule& s, Workspace& ws);

// The same computation as kernels::decode_attention_mla_absorbed (attention.h) with device
// pointers: q_nope, q_pe, w_uk, w_uv and out fp32; the latent cache bf16 in the mla_latent_view
// layout (kv_lora_rank 512, qk_rope_head_dim 64). Absorption and the W_UV projection are cuBLAS
// strided-batched SGEMMs around mla_latent_decode.
void decode_attention_mla_absorbed_cuda(const MlaDecodeArgs& a, const DecodeSchedule& s,
                                        Workspace& ws, void* stream = nullptr);

}  // namespace dsbench::kernels::cuda
