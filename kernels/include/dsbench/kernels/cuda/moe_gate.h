// MoE gate on CUDA: the same routing as kernels::moe_gate (moe_gate.h), one warp per token.
#pragma once

#include <cstdint>

#include "dsbench/kernels/moe_gate.h"

namespace dsbench::kernels::cuda {

// Device pointers: logits [n_tokens, n_experts], bias [n_experts] (may be null), outputs
// [n_tokens, top_k]. Limits: n_experts <= 1024, n_group <= 32. Throws std::invalid_argument.
void moe_gate_cuda(const GateConfig& cfg, const float* logits, int64_t n_tokens, const float* bias,
                   int32_t* topk_ids, float* topk_weights, void* stream = nullptr);

}  // namespace dsbench::kernels::cuda
