// MoE permute/combine on CUDA. The plan is deterministic and stable: one CTA per expert scans the
// flat (token, slot) list with a block prefix sum, so row order matches the CPU counting sort.
#include <cuda_bf16.h>

#include <stdexcept>
#include <string>

#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/moe_permute.h"

namespace dsbench::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Block-wide exclusive scan of one int per thread; returns the total through *total.
__device__ int block_exclusive_scan(int v, int* total) {
  __shared__ int warp_sums[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, off);
    if (lane >= off) x += y;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int w = lane < kThreads / 32 ? warp_sums[lane] : 0;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, w, off);
      if (lane >= off) w += y;
    }
    if (lane < kThreads / 32) warp_sums[lane] = w;
  }
  __syncthreads();
  const int before = warp > 0 ? warp_sums[warp - 1] : 0;
  *total = warp_sums[kThreads / 32 - 1];
  __syncthreads();  // warp_sums is reused by the next call
  return before + x - v;
}

// Pass 1 (write == false): counts[e]. Pass 2: row_token and slot_row, given offsets.
__global__ void plan_kernel(const int32_t* __restrict__ ids, int64_t n, int top_k,
                            int64_t* __restrict__ counts, const int64_t* __restrict__ offsets,
                            int32_t* __restrict__ row_token, int64_t* __restrict__ slot_row,
                            bool write, int* bad_id) {
  const int e = blockIdx.x;
  int64_t running = write ? offsets[e] : 0;
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    const int id = i < n ? ids[i] : -2;
    if (e == 0 && i < n && (id < -1 || id >= int(gridDim.x))) atomicExch(bad_id, 1);
    const int hit = id == e ? 1 : 0;
    int total;
    const int pos = block_exclusive_scan(hit, &total);
    if (write) {
      if (hit) {
        row_token[running + pos] = int32_t(i / top_k);
        slot_row[i] = running + pos;
      }
      if (e == 0 && i < n && id < 0) slot_row[i] = -1;
    }
    running += total;
  }
  if (!write && threadIdx.x == 0) counts[e] = running;
}

__global__ void offsets_kernel(const int64_t* __restrict__ counts, int n_experts,
                               int64_t* __restrict__ offsets) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    int64_t s = 0;
    for (int e = 0; e < n_experts; ++e) {
      offsets[e] = s;
      s += counts[e];
    }
    offsets[n_experts] = s;
  }
}

__global__ void dispatch_kernel(const int32_t* __restrict__ row_token, const char* __restrict__ x,
                                int64_t row_bytes, char* __restrict__ out) {
  const int64_t r = blockIdx.x;
  const char* src = x + int64_t(row_token[r]) * row_bytes;
  char* dst = out + r * row_bytes;
  if (row_bytes % 16 == 0 && (reinterpret_cast<uintptr_t>(x) % 16 == 0) &&
      (reinterpret_cast<uintptr_t>(out) % 16 == 0)) {
    for (int64_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x)
      reinterpret_cast<int4*>(dst)[i] = reinterpret_cast<const int4*>(src)[i];
  } else {
    for (int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = src[i];
  }
}

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ void from_f(float v, float* d) { *d = v; }
__device__ __forceinline__ void from_f(float v, __nv_bfloat16* d) { *d = __float2bfloat16_rn(v); }

// kAdd: y (fp32) += the weighted sum; otherwise y (dtype O) = it.
template <class T, class O, bool kAdd>
__global__ void combine_kernel(const int64_t* __restrict__ slot_row, const T* __restrict__ eo,
                               const float* __restrict__ w, int top_k, int64_t hidden,
                               O* __restrict__ y) {
  const int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) {
    float acc = 0;
    for (int j = 0; j < top_k; ++j) {
      const int64_t r = slot_row[t * top_k + j];
      if (r >= 0) acc += w[t * top_k + j] * to_f(eo[r * hidden + c]);
    }
    if constexpr (kAdd) y[t * hidden + c] += acc;
    else from_f(acc, y + t * hidden + c);
  }
}

}  // namespace

void moe_permute_plan_cuda(const int32_t* topk_ids, int64_t n_tokens, int top_k, int n_experts,
                           MoePermutationDevice* out, void* stream) {
  if (n_tokens < 0 || top_k <= 0 || n_experts <= 0 || !out)
    throw std::invalid_argument("moe_permute_plan (CUDA): bad shapes");
  auto cs = static_cast<cudaStream_t>(stream);
  const int64_t n = n_tokens * top_k;
  out->n_experts = n_experts;
  out->top_k = top_k;
  out->n_tokens = n_tokens;
  out->counts = DeviceBuffer(sizeof(int64_t) * n_experts);
  out->offsets = DeviceBuffer(sizeof(int64_t) * (n_experts + 1));
  out->slot_row = DeviceBuffer(sizeof(int64_t) * (n > 0 ? n : 1));
  DeviceBuffer bad(sizeof(int));
  DSBENCH_KERNEL_CUDA_CHECK(cudaMemsetAsync(bad.get(), 0, sizeof(int), cs));
  plan_kernel<<<n_experts, kThreads, 0, cs>>>(topk_ids, n, top_k, out->counts.as<int64_t>(),
                                               nullptr, nullptr, nullptr, false, bad.as<int>());
  DSBENCH_KERNEL_LAUNCH_CHECK();
  offsets_kernel<<<1, 32, 0, cs>>>(out->counts.as<int64_t>(), n_experts,
                                   out->offsets.as<int64_t>());
  DSBENCH_KERNEL_LAUNCH_CHECK();
  out->host_offsets.assign(n_experts + 1, 0);
  int bad_host = 0;
  DSBENCH_KERNEL_CUDA_CHECK(cudaMemcpyAsync(out->host_offsets.data(), out->offsets.get(),
                                            sizeof(int64_t) * (n_experts + 1),
                                            cudaMemcpyDeviceToHost, cs));
  DSBENCH_KERNEL_CUDA_CHECK(
      cudaMemcpyAsync(&bad_host, bad.get(), sizeof(int), cudaMemcpyDeviceToHost, cs));
  DSBENCH_KERNEL_CUDA_CHECK(cudaStreamSynchronize(cs));
  if (bad_host) throw std::invalid_argument("moe_permute_plan (CUDA): id outside [-1, n_experts)");
  out->rows = out->host_offsets.back();
  out->row_token = DeviceBuffer(sizeof(int32_t) * (out->rows > 0 ? out->rows : 1));
  plan_kernel<<<n_experts, kThreads, 0, cs>>>(
      topk_ids, n, top_k, nullptr, out->offsets.as<int64_t>(), out->row_token.as<int32_t>(),
      out->slot_row.as<int64_t>(), true, bad.as<int>());
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void moe_dispatch_cuda(const MoePermutationDevice& p, const void* x, int64_t row_bytes, void* out,
                       void* stream) {
  if (p.rows == 0) return;
  if (row_bytes <= 0 || !x || !out) throw std::invalid_argument("moe_dispatch (CUDA): bad args");
  dispatch_kernel<<<unsigned(p.rows), 128, 0, static_cast<cudaStream_t>(stream)>>>(
      p.row_token.as<int32_t>(), static_cast<const char*>(x), row_bytes, static_cast<char*>(out));
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void moe_combine_cuda(const MoePermutationDevice& p, const void* expert_out, const float* weights,
                      int64_t hidden, DType dtype, void* y, void* stream) {
  if (p.n_tokens == 0) return;
  if (hidden <= 0 || !weights || !y) throw std::invalid_argument("moe_combine (CUDA): bad args");
  auto cs = static_cast<cudaStream_t>(stream);
  const unsigned grid = unsigned(p.n_tokens);
  if (dtype == DType::kF32) {
    combine_kernel<float, float, false><<<grid, 128, 0, cs>>>(p.slot_row.as<int64_t>(),
                                                static_cast<const float*>(expert_out), weights,
                                                p.top_k, hidden, static_cast<float*>(y));
  } else if (dtype == DType::kBF16) {
    combine_kernel<__nv_bfloat16, __nv_bfloat16, false><<<grid, 128, 0, cs>>>(
        p.slot_row.as<int64_t>(), static_cast<const __nv_bfloat16*>(expert_out), weights,
        p.top_k, hidden, static_cast<__nv_bfloat16*>(y));
  } else {
    throw std::invalid_argument("moe_combine (CUDA): dtype must be fp32 or bf16");
  }
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void moe_combine_add_cuda(const MoePermutationDevice& p, const void* expert_out, const float* weights,
                          int64_t hidden, DType dtype, float* x, void* stream) {
  if (p.n_tokens == 0) return;
  if (hidden <= 0 || !weights || !x) throw std::invalid_argument("moe_combine_add (CUDA): bad args");
  auto cs = static_cast<cudaStream_t>(stream);
  const unsigned grid = unsigned(p.n_tokens);
  if (dtype == DType::kF32) {
    combine_kernel<float, float, true><<<grid, 128, 0, cs>>>(
        p.slot_row.as<int64_t>(), static_cast<const float*>(expert_out), weights, p.top_k, hidden, x);
  } else if (dtype == DType::kBF16) {
    combine_kernel<__nv_bfloat16, float, true><<<grid, 128, 0, cs>>>(
        p.slot_row.as<int64_t>(), static_cast<const __nv_bfloat16*>(expert_out), weights, p.top_k,
        hidden, x);
  } else {
    throw std::invalid_argument("moe_combine_add (CUDA): dtype must be fp32 or bf16");
  }
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

}  // namespace dsbench::kernels::cuda
