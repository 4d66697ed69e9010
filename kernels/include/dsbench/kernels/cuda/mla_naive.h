// MLA-naive decode attention on CUDA: K_h = [W_UK_h c_KV ; k_pe] and V_h = W_UV_h c_KV are
// materialised for every head and every token of the latent pool (cuBLAS bf16 GEMMs), then paged
// MHA decode runs over them, as kernels::decode_attention_mla_naive does on the CPU.
#pragma once

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/memory.h"

namespace dsbench::kernels::cuda {

// Device pointers as in MlaDecodeArgs; the latent pool is bf16 in the mla_latent_view layout
// (any kv_lora_rank/rope dims), seqs.num_pool_blocks > 0 (the pool is decompressed whole).
// Schedule: make_decode_schedule(lens, batch, mla_naive_ctas_per_split(a)).
void decode_attention_mla_naive_cuda(const MlaDecodeArgs& a, const DecodeSchedule& s,
                                     Workspace& ws, void* stream = nullptr);
int mla_naive_ctas_per_split(const MlaDecodeArgs& a);

}  // namespace dsbench::kernels::cuda
