// cuBLAS wrapper for the engine's y = x W^T (fp32 or bf16 weights, fp32 accumulation).
#include <stdexcept>

#include "cublas_handle.h"
#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/gemm.h"

namespace dsbench::kernels::cuda {

void gemm_xwt_cuda(const float* x, int64_t m, int64_t ldx, const WeightView& w, float* y,
                   int64_t ldy, bool accumulate, Workspace& ws, void* stream) {
  if (m < 0 || w.n <= 0 || w.k <= 0 || ldx < w.k || ldy < w.n || w.ld < w.k)
    throw std::invalid_argument("gemm_xwt (CUDA): bad shapes or leading dimensions");
  if (m == 0) return;
  if (!x || !y || !w.data) throw std::invalid_argument("gemm_xwt (CUDA): null pointer");
  if (m > INT32_MAX || w.n > INT32_MAX || w.k > INT32_MAX || ldx > INT32_MAX || ldy > INT32_MAX ||
      w.ld > INT32_MAX)
    throw std::invalid_argument("gemm_xwt (CUDA): dimensions exceed int32");
  auto cs = static_cast<cudaStream_t>(stream);
  cublasHandle_t h = detail::cublas_handle(cs);
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const int M = int(m), N = int(w.n), K = int(w.k);
  // Column-major: Y^T (n x m) = W (viewed k x n, transposed) . X^T (k x m).
  if (w.dtype == DType::kF32) {
    DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w.data,
                                             CUDA_R_32F, int(w.ld), x, CUDA_R_32F, int(ldx),
                                             &beta, y, CUDA_R_32F, int(ldy), CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT));
  } else if (w.dtype == DType::kBF16) {
    // x is packed to a dense [m, k] bf16 matrix first.
    void* xb = ws.get(size_t(m) * K * 2);
    if (ldx == K) {
      convert_f32_to_bf16(x, xb, size_t(m) * K, stream);
    } else {
      for (int64_t i = 0; i < m; ++i)
        convert_f32_to_bf16(x + i * ldx, static_cast<char*>(xb) + i * K * 2, size_t(K), stream);
    }
    DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w.data,
                                             CUDA_R_16BF, int(w.ld), xb, CUDA_R_16BF, K, &beta, y,
                                             CUDA_R_32F, int(ldy), CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT));
  } else {
    throw std::invalid_argument("gemm_xwt (CUDA): weights must be fp32 or bf16");
  }
}

}  // namespace dsbench::kernels::cuda
