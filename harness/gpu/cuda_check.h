// DSBENCH_CUDA_CHECK / DSBENCH_CUBLAS_CHECK / DSBENCH_CUPTI_CHECK for harness code (CUDA build
// only): throw dsbench::Error with file, line, the failing expression and the library's message.
#pragma once

#include <cupti.h>

#include "dsbench/error.h"
#include "dsbench/kernels/cuda/check.h"

namespace dsbench::gpu {

inline std::string cupti_check_message(CUptiResult r, const char* file, int line,
                                       const char* expr) {
  const char* what = nullptr;
  if (cuptiGetResultString(r, &what) != CUPTI_SUCCESS || !what) what = "unknown CUPTI error";
  return ::dsbench::kernels::cuda::check_message(file, line, expr, "CUPTI", what);
}

}  // namespace dsbench::gpu

#define DSBENCH_CUDA_CHECK(expr)                                                              \
  do {                                                                                        \
    cudaError_t dsbench_err_ = (expr);                                                        \
    if (dsbench_err_ != cudaSuccess) {                                                        \
      throw ::dsbench::Error(                                                                 \
          ::dsbench::kernels::cuda::cuda_check_message(dsbench_err_, __FILE__, __LINE__, #expr)); \
    }                                                                                         \
  } while (0)

#define DSBENCH_CUBLAS_CHECK(expr)                                                               \
  do {                                                                                           \
    cublasStatus_t dsbench_st_ = (expr);                                                         \
    if (dsbench_st_ != CUBLAS_STATUS_SUCCESS) {                                                  \
      throw ::dsbench::Error(                                                                    \
          ::dsbench::kernels::cuda::cublas_check_message(dsbench_st_, __FILE__, __LINE__, #expr)); \
    }                                                                                            \
  } while (0)

#define DSBENCH_CUPTI_CHECK(expr)                                                                  \
  do {                                                                                             \
    CUptiResult dsbench_res_ = (expr);                                                             \
    if (dsbench_res_ != CUPTI_SUCCESS) {                                                           \
      throw ::dsbench::Error(                                                                      \
          ::dsbench::gpu::cupti_check_message(dsbench_res_, __FILE__, __LINE__, #expr));           \
    }                                                                                              \
  } while (0)
