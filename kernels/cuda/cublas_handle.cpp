// One cuBLAS handle per host thread (handles are not thread-safe), created on first use.
#include "cublas_handle.h"

#include "dsbench/kernels/cuda/check.h"

namespace dsbench::kernels::cuda::detail {

cublasHandle_t cublas_handle(cudaStream_t stream) {
  struct Holder {
    cublasHandle_t h = nullptr;
    ~Holder() {
      if (h) cublasDestroy(h);
    }
  };
  thread_local Holder holder;
  if (!holder.h) DSBENCH_KERNEL_CUBLAS_CHECK(cublasCreate(&holder.h));
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasSetStream(holder.h, stream));
  return holder.h;
}

}  // namespace dsbench::kernels::cuda::detail
