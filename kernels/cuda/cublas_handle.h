// Internal to kernels/cuda: one cuBLAS handle per host thread, bound to the caller's stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace dsbench::kernels::cuda::detail {

cublasHandle_t cublas_handle(cudaStream_t stream);

}  // namespace dsbench::kernels::cuda::detail
