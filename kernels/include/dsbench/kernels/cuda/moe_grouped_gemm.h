// Grouped expert GEMM on CUDA: for every expert e, y[rows of e] = x[rows of e] . W_e^T, over the
// rows that moe_dispatch_cuda grouped by expert. bf16 in and out, fp32 accumulation (cuBLAS).
#pragma once

#include <cstdint>
#include <vector>

namespace dsbench::kernels::cuda {

// x: device bf16 [rows, k] (rows grouped by expert, host_offsets [n_experts + 1] on the host);
// w: device bf16 [n_experts, n, k] (torch Linear layout per expert); y: device bf16 [rows, n].
// Uses cublasGemmGroupedBatchedEx (one group per non-empty expert) and falls back to one
// cublasGemmEx per expert where the grouped call is not supported.
void moe_grouped_gemm_cuda(const void* x, const std::vector<int64_t>& host_offsets, const void* w,
                           int64_t n, int64_t k, void* y, void* stream = nullptr);

// FLOPs of one call: 2 * rows * n * k.
inline double moe_grouped_gemm_flops(int64_t rows, int64_t n, int64_t k) {
  return 2.0 * double(rows) * double(n) * double(k);
}

}  // namespace dsbench::kernels::cuda
