// Device memory, copies, seeded random fills and dtype conversion for the CUDA backend.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/memory.h"

namespace dsbench::kernels::cuda {

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes) DSBENCH_KERNEL_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void* Workspace::get(size_t bytes) {
  if (bytes == 0) bytes = 256;
  if (buf_.bytes() < bytes) {
    buf_ = DeviceBuffer();  // free first: workspaces can be large
    buf_ = DeviceBuffer((bytes + 255) / 256 * 256);
  }
  return buf_.get();
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  DSBENCH_KERNEL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  DSBENCH_KERNEL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void memset_device(void* dst, int value, size_t bytes) {
  DSBENCH_KERNEL_CUDA_CHECK(cudaMemset(dst, value, bytes));
}
void device_synchronize() { DSBENCH_KERNEL_CUDA_CHECK(cudaDeviceSynchronize()); }

int device_sm_count() {
  int dev = 0, n = 0;
  DSBENCH_KERNEL_CUDA_CHECK(cudaGetDevice(&dev));
  DSBENCH_KERNEL_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  return n;
}

int64_t device_l2_bytes() {
  int dev = 0, n = 0;
  DSBENCH_KERNEL_CUDA_CHECK(cudaGetDevice(&dev));
  DSBENCH_KERNEL_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrL2CacheSize, dev));
  return n;
}

namespace {

// splitmix64 of (seed, index): order-independent, so any launch shape gives the same values.
__device__ __forceinline__ float uniform01(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return float(z >> 40) * (1.0f / 16777216.0f);
}

__global__ void fill_f32_kernel(float* dst, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    dst[i] = lo + (hi - lo) * uniform01(seed, i);
  }
}

__global__ void fill_bf16_kernel(__nv_bfloat16* dst, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    dst[i] = __float2bfloat16_rn(lo + (hi - lo) * uniform01(seed, i));
  }
}

__global__ void f32_to_bf16_kernel(const float* src, __nv_bfloat16* dst, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    dst[i] = __float2bfloat16_rn(src[i]);
  }
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* src, float* dst, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    dst[i] = __bfloat162float(src[i]);
  }
}

unsigned grid_for(size_t n) {
  size_t blocks = (n + 255) / 256;
  return unsigned(blocks < 65535 * 16 ? (blocks ? blocks : 1) : 65535 * 16);
}

}  // namespace

void fill_uniform_f32(float* dst, size_t n, uint64_t seed, float lo, float hi) {
  if (!n) return;
  fill_f32_kernel<<<grid_for(n), 256>>>(dst, n, seed, lo, hi);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void fill_uniform_bf16(void* dst, size_t n, uint64_t seed, float lo, float hi) {
  if (!n) return;
  fill_bf16_kernel<<<grid_for(n), 256>>>(static_cast<__nv_bfloat16*>(dst), n, seed, lo, hi);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void convert_f32_to_bf16(const float* src, void* dst, size_t n, void* stream) {
  if (!n) return;
  f32_to_bf16_kernel<<<grid_for(n), 256, 0, static_cast<cudaStream_t>(stream)>>>(
      src, static_cast<__nv_bfloat16*>(dst), n);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void convert_bf16_to_f32(const void* src, float* dst, size_t n, void* stream) {
  if (!n) return;
  bf16_to_f32_kernel<<<grid_for(n), 256, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const __nv_bfloat16*>(src), dst, n);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

}  // namespace dsbench::kernels::cuda
