// CUDA-event timing and the cold-L2 sampler used by GPU benchmarks (see docs/cuda.md).
#include <cuda_runtime.h>

#include <algorithm>

#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/timing.h"

namespace dsbench::kernels::cuda {

EventTimer::EventTimer() {
  cudaEvent_t a, b;
  DSBENCH_KERNEL_CUDA_CHECK(cudaEventCreate(&a));
  DSBENCH_KERNEL_CUDA_CHECK(cudaEventCreate(&b));
  start_ = a;
  stop_ = b;
}

EventTimer::~EventTimer() {
  if (start_) cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  if (stop_) cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

void EventTimer::start(void* stream) {
  DSBENCH_KERNEL_CUDA_CHECK(
      cudaEventRecord(static_cast<cudaEvent_t>(start_), static_cast<cudaStream_t>(stream)));
}

double EventTimer::stop_seconds(void* stream) {
  auto e = static_cast<cudaEvent_t>(stop_);
  DSBENCH_KERNEL_CUDA_CHECK(cudaEventRecord(e, static_cast<cudaStream_t>(stream)));
  DSBENCH_KERNEL_CUDA_CHECK(cudaEventSynchronize(e));
  float ms = 0;
  DSBENCH_KERNEL_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), e));
  return double(ms) * 1e-3;
}

GpuSampler::GpuSampler(SamplerOptions options) : opt_(options) {
  if (opt_.flush_l2) {
    // Twice the L2 size, as nvbench does, so no line of the previous sample survives.
    flush_bytes_ = size_t(std::max<int64_t>(device_l2_bytes(), 1 << 20)) * 2;
    DSBENCH_KERNEL_CUDA_CHECK(cudaMalloc(&flush_, flush_bytes_));
  }
}

GpuSampler::~GpuSampler() {
  if (flush_) cudaFree(flush_);
}

void GpuSampler::warmup(const std::function<void()>& launch) {
  for (int i = 0; i < opt_.warmup; ++i) launch();
  DSBENCH_KERNEL_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(opt_.stream)));
}

double GpuSampler::sample(const std::function<void()>& launch) {
  auto s = static_cast<cudaStream_t>(opt_.stream);
  if (flush_) DSBENCH_KERNEL_CUDA_CHECK(cudaMemsetAsync(flush_, 0, flush_bytes_, s));
  timer_.start(opt_.stream);
  launch();
  return timer_.stop_seconds(opt_.stream);
}

}  // namespace dsbench::kernels::cuda
