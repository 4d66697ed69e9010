// Error checks for CUDA runtime and cuBLAS calls in kernels/cuda (which may not include harness
// headers): they throw std::runtime_error with file, line, expression and the library's message.
// The harness wraps the same message into dsbench::Error (harness/gpu/cuda_check.h).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace dsbench::kernels::cuda {

inline std::string check_message(const char* file, int line, const char* expr, const char* lib,
                                 const char* what) {
  return std::string(file) + ":" + std::to_string(line) + ": " + lib + " call failed: " + expr +
         ": " + what;
}

inline std::string cuda_check_message(cudaError_t err, const char* file, int line,
                                      const char* expr) {
  std::string what = std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
  return check_message(file, line, expr, "CUDA", what.c_str());
}

inline std::string cublas_check_message(cublasStatus_t st, const char* file, int line,
                                        const char* expr) {
  return check_message(file, line, expr, "cuBLAS", cublasGetStatusString(st));
}

}  // namespace dsbench::kernels::cuda

#define DSBENCH_KERNEL_CUDA_CHECK(expr)                                                     \
  do {                                                                                      \
    cudaError_t dsbench_err_ = (expr);                                                      \
    if (dsbench_err_ != cudaSuccess) {                                                      \
      throw std::runtime_error(                                                             \
          ::dsbench::kernels::cuda::cuda_check_message(dsbench_err_, __FILE__, __LINE__, #expr)); \
    }                                                                                       \
  } while (0)

#define DSBENCH_KERNEL_CUBLAS_CHECK(expr)                                                      \
  do {                                                                                         \
    cublasStatus_t dsbench_st_ = (expr);                                                       \
    if (dsbench_st_ != CUBLAS_STATUS_SUCCESS) {                                                \
      throw std::runtime_error(                                                                \
          ::dsbench::kernels::cuda::cublas_check_message(dsbench_st_, __FILE__, __LINE__, #expr)); \
    }                                                                                          \
  } while (0)

// After a kernel launch: reports launch-configuration errors at the launch site.
#define DSBENCH_KERNEL_LAUNCH_CHECK() DSBENCH_KERNEL_CUDA_CHECK(cudaGetLastError())
