// MHA/GQA/MQA decode attention on CUDA over a paged KV cache (fp32 or bf16 storage, fp32 math),
// split-KV with the shared combine step. Same arguments as kernels::decode_attention_gqa
// (attention.h) with device pointers: q, out, block_table, seq_lens and the K/V pools.
#pragma once

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/memory.h"

namespace dsbench::kernels::cuda {

// head_dim and v_head_dim <= 256. Throws std::invalid_argument naming the field otherwise.
void decode_attention_gqa_cuda(const GqaDecodeArgs& a, const DecodeSchedule& s, Workspace& ws,
                               void* stream = nullptr);

// CTAs per split for make_decode_schedule: kv_heads x ceil(group / 4).
int gqa_decode_ctas_per_split(const GqaDecodeArgs& a);

}  // namespace dsbench::kernels::cuda
