// Grouped expert GEMM through cuBLAS: one grouped-batched call over the non-empty experts, with a
// per-expert GemmEx loop where the grouped API is unavailable for these types.
#include <cuda_bf16.h>

#include <stdexcept>
#include <vector>

#include "cublas_handle.h"
#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/moe_grouped_gemm.h"

namespace dsbench::kernels::cuda {

void moe_grouped_gemm_cuda(const void* x, const std::vector<int64_t>& host_offsets, const void* w,
                           int64_t n, int64_t k, void* y, void* stream) {
  if (host_offsets.size() < 2 || n <= 0 || k <= 0 || !x || !w || !y)
    throw std::invalid_argument("moe_grouped_gemm (CUDA): bad arguments");
  if (n > INT32_MAX || k > INT32_MAX || host_offsets.back() > INT32_MAX)
    throw std::invalid_argument("moe_grouped_gemm (CUDA): dimensions exceed int32");
  auto cs = static_cast<cudaStream_t>(stream);
  cublasHandle_t h = detail::cublas_handle(cs);
  const auto* xb = static_cast<const __nv_bfloat16*>(x);
  const auto* wb = static_cast<const __nv_bfloat16*>(w);
  auto* yb = static_cast<__nv_bfloat16*>(y);
  const int E = int(host_offsets.size()) - 1;

  // Column-major view per expert: Y_e^T (n x rows_e) = W_e (k x n)^T . X_e^T (k x rows_e).
  std::vector<cublasOperation_t> ta, tb;
  std::vector<int> m_a, n_a, k_a, lda, ldb, ldc, sizes;
  std::vector<const void*> A, B;
  std::vector<void*> C;
  std::vector<float> alpha, beta;
  for (int e = 0; e < E; ++e) {
    const int64_t r0 = host_offsets[e], rows = host_offsets[e + 1] - r0;
    if (rows <= 0) continue;
    ta.push_back(CUBLAS_OP_T);
    tb.push_back(CUBLAS_OP_N);
    m_a.push_back(int(n));
    n_a.push_back(int(rows));
    k_a.push_back(int(k));
    lda.push_back(int(k));
    ldb.push_back(int(k));
    ldc.push_back(int(n));
    A.push_back(wb + int64_t(e) * n * k);
    B.push_back(xb + r0 * k);
    C.push_back(yb + r0 * n);
    alpha.push_back(1.0f);
    beta.push_back(0.0f);
    sizes.push_back(1);
  }
  const int groups = int(sizes.size());
  if (groups == 0) return;

  // The pointer arrays live on the device; a per-thread workspace keeps them across calls.
  thread_local Workspace ptr_ws;
  auto* dptr = static_cast<void**>(ptr_ws.get(sizeof(void*) * 3 * groups));
  std::vector<const void*> all;
  all.reserve(3 * groups);
  all.insert(all.end(), A.begin(), A.end());
  all.insert(all.end(), B.begin(), B.end());
  for (void* c : C) all.push_back(c);
  DSBENCH_KERNEL_CUDA_CHECK(cudaMemcpyAsync(dptr, all.data(), sizeof(void*) * 3 * groups,
                                            cudaMemcpyHostToDevice, cs));
  cublasStatus_t st = cublasGemmGroupedBatchedEx(
      h, ta.data(), tb.data(), m_a.data(), n_a.data(), k_a.data(), alpha.data(),
      reinterpret_cast<const void* const*>(dptr), CUDA_R_16BF, lda.data(),
      reinterpret_cast<const void* const*>(dptr + groups), CUDA_R_16BF, ldb.data(), beta.data(),
      reinterpret_cast<void* const*>(dptr + 2 * groups), CUDA_R_16BF, ldc.data(), groups,
      sizes.data(), CUBLAS_COMPUTE_32F);
  // A copy from pageable host memory is staged before cudaMemcpyAsync returns, and cuBLAS reads
  // the host-side shape arrays during the call, so nothing here must outlive it.
  if (st == CUBLAS_STATUS_SUCCESS) return;
  if (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE) {
    DSBENCH_KERNEL_CUBLAS_CHECK(st);
  }
  const float one = 1.0f, zero = 0.0f;
  for (int g = 0; g < groups; ++g) {
    DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m_a[g], n_a[g], k_a[g],
                                             &one, A[g], CUDA_R_16BF, lda[g], B[g], CUDA_R_16BF,
                                             ldb[g], &zero, C[g], CUDA_R_16BF, ldc[g],
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace dsbench::kernels::cuda
