// GPU facts for the host fingerprint and measured GPU peaks (host.gpus[].peak): device-to-device
// copy GB/s counting reads plus writes, and a large bf16 cuBLAS GEMM in GFLOP/s.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "dsbench/host.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/timing.h"
#include "dsbench/kernels/cuda_device.h"

namespace dsbench::gpu {
namespace {

using nlohmann::json;

int attr(cudaDeviceAttr a, int dev) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, a, dev) != cudaSuccess) v = 0;
  return v;
}

std::string version_string(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// Device-to-device copy of a buffer far above L2, best of several passes. A copy reads and
// writes every byte, so both count (the figure nvbandwidth and STREAM "copy" report).
double measure_copy_gbps(bool quick) {
  const size_t bytes = quick ? (size_t(256) << 20) : (size_t(1) << 30);
  kernels::cuda::DeviceBuffer src(bytes), dst(bytes);
  DSBENCH_CUDA_CHECK(cudaMemset(src.get(), 0x5a, bytes));
  DSBENCH_CUDA_CHECK(cudaMemset(dst.get(), 0, bytes));
  kernels::cuda::EventTimer timer;
  const int passes = quick ? 3 : 10;
  double best = 0;
  DSBENCH_CUDA_CHECK(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice));  // warm
  for (int i = 0; i < passes; ++i) {
    timer.start(nullptr);
    DSBENCH_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice));
    double s = timer.stop_seconds(nullptr);
    if (s > 0) best = std::max(best, 2.0 * double(bytes) / s / 1e9);
  }
  return best;
}

// C = A * B with bf16 inputs and fp32 accumulation, n^3, best of several runs.
double measure_bf16_gemm_gflops(bool quick) {
  const int n = quick ? 4096 : 8192;
  const size_t elems = size_t(n) * n;
  kernels::cuda::DeviceBuffer a(elems * 2), b(elems * 2), c(elems * 2);
  // Any finite bf16 pattern: 0x3c00 is 0.0078125; timing does not depend on values.
  DSBENCH_CUDA_CHECK(cudaMemset(a.get(), 0x3c, elems * 2));
  DSBENCH_CUDA_CHECK(cudaMemset(b.get(), 0x3c, elems * 2));
  cublasHandle_t h = nullptr;
  DSBENCH_CUBLAS_CHECK(cublasCreate(&h));
  struct Guard {
    cublasHandle_t h;
    ~Guard() { cublasDestroy(h); }
  } guard{h};
  const float alpha = 1.0f, beta = 0.0f;
  auto gemm = [&] {
    DSBENCH_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(),
                                      CUDA_R_16BF, n, b.get(), CUDA_R_16BF, n, &beta, c.get(),
                                      CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
  };
  gemm();  // warm-up: heuristics and clocks
  DSBENCH_CUDA_CHECK(cudaDeviceSynchronize());
  kernels::cuda::EventTimer timer;
  const int runs = quick ? 3 : 10;
  double best = 0;
  for (int i = 0; i < runs; ++i) {
    timer.start(nullptr);
    gemm();
    double s = timer.stop_seconds(nullptr);
    if (s > 0) best = std::max(best, 2.0 * double(n) * n * n / s / 1e9);
  }
  return best;
}

json probe(bool measure, bool quick) {
  json gpus = json::array();
  if (!kernels::cuda_device_available()) return gpus;
  int count = 0;
  DSBENCH_CUDA_CHECK(cudaGetDeviceCount(&count));
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  int current = 0;
  cudaGetDevice(&current);
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    DSBENCH_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
    char bus[32] = {0};
    cudaDeviceGetPCIBusId(bus, sizeof bus, d);
    json g = {{"index", d},
              {"name", p.name},
              {"compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor)},
              {"sm_count", p.multiProcessorCount},
              {"memory_bytes", p.totalGlobalMem},
              {"l2_bytes", attr(cudaDevAttrL2CacheSize, d)},
              {"sm_clock_mhz", attr(cudaDevAttrClockRate, d) / 1000},
              {"memory_clock_mhz", attr(cudaDevAttrMemoryClockRate, d) / 1000},
              {"memory_bus_bits", attr(cudaDevAttrGlobalMemoryBusWidth, d)},
              {"shared_memory_per_sm_bytes", p.sharedMemPerMultiprocessor},
              {"pci_bus_id", bus},
              {"driver", version_string(driver)},
              {"runtime", version_string(runtime)}};
    // Peaks on the device the benchmarks use (the current one); others keep their facts only.
    if (measure && d == current) {
      g["peak"] = {{"copy_gbps", measure_copy_gbps(quick)},
                   {"bf16_gflops", measure_bf16_gemm_gflops(quick)},
                   {"copy_counts", "read+write"},
                   {"gemm_n", quick ? 4096 : 8192}};
    }
    gpus.push_back(std::move(g));
  }
  return gpus;
}

const bool kRegistered = [] {
  set_gpu_probe(probe);
  return true;
}();

}  // namespace
}  // namespace dsbench::gpu
