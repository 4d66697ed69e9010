// MoE permute (dispatch) and combine on CUDA, with the same row order as kernels::moe_permute_plan
// (moe_permute.h): rows grouped by expert, stable in (token, slot) order.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/dtype.h"

namespace dsbench::kernels::cuda {

// Device arrays owned by the plan; `rows` and `host_offsets` are copied back for GEMM launches.
struct MoePermutationDevice {
  int32_t n_experts = 0, top_k = 0;
  int64_t n_tokens = 0, rows = 0;
  DeviceBuffer counts;     // int64 [n_experts]
  DeviceBuffer offsets;    // int64 [n_experts + 1]
  DeviceBuffer row_token;  // int32 [rows]
  DeviceBuffer slot_row;   // int64 [n_tokens * top_k], -1 for a dropped slot (id -1)
  std::vector<int64_t> host_offsets;  // [n_experts + 1]
};

// topk_ids: device [n_tokens, top_k], ids in [-1, n_experts) (others throw after the copy-back).
void moe_permute_plan_cuda(const int32_t* topk_ids, int64_t n_tokens, int top_k, int n_experts,
                           MoePermutationDevice* out, void* stream = nullptr);
// out[r] = x[row_token[r]], rows of row_bytes bytes.
void moe_dispatch_cuda(const MoePermutationDevice& p, const void* x, int64_t row_bytes, void* out,
                       void* stream = nullptr);
// y[t] = sum_j weights[t, j] expert_out[slot_row[t k + j]] in fp32; dtype kF32 or kBF16 for
// expert_out and y alike.
void moe_combine_cuda(const MoePermutationDevice& p, const void* expert_out, const float* weights,
                      int64_t hidden, DType dtype, void* y, void* stream = nullptr);
// x[t] += the same weighted sum, into an fp32 residual x [n_tokens, hidden] (expert_out fp32 or
// bf16 per dtype): the combine step of a MoE layer whose output adds straight into the residual.
void moe_combine_add_cuda(const MoePermutationDevice& p, const void* expert_out, const float* weights,
                          int64_t hidden, DType dtype, float* x, void* stream = nullptr);

}  // namespace dsbench::kernels::cuda
