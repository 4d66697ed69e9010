// The engine's linear-layer GEMM on CUDA through cuBLAS: y[m, n] = x[m, k] . W[n, k]^T, as
// kernels::gemm_xwt (gemm.h) with device pointers. fp32 activations and output; fp32 weights run
// an fp32 GEMM, bf16 weights a bf16 tensor-core GEMM (x rounded to bf16 in a workspace, fp32
// accumulation and output).
#pragma once

#include <cstdint>

#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/gemm.h"

namespace dsbench::kernels::cuda {

void gemm_xwt_cuda(const float* x, int64_t m, int64_t ldx, const WeightView& w, float* y,
                   int64_t ldy, bool accumulate, Workspace& ws, void* stream = nullptr);

}  // namespace dsbench::kernels::cuda
