// The device engine's small ops: one block per row (or token), block or warp reductions, fp32
// math with storage in fp32 or bf16. Each mirrors the CPU op named in ops.h.
#include <cuda_bf16.h>
#include <math.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "dsbench/kernels/cuda/check.h"
#include "ops.h"

namespace dsbench::engine::cuda_ops {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float load(const float* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void store(float* p, int64_t i, float v) {
  p[i] = v;
}
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total,
// summed in the same order, so all threads agree bit for bit.
__device__ float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const int warps = int(blockDim.x + 31) >> 5;
  float s = 0;
  for (int i = 0; i < warps; ++i) s += part[i];
  __syncthreads();  // part is rewritten by the next call
  return s;
}

unsigned grid_of(int64_t n, const char* what) {
  if (n <= 0 || n > int64_t(0x7fffffff))
    throw std::invalid_argument(std::string("CUDA engine: ") + what + " grid out of range (" +
                                std::to_string(n) + ")");
  return unsigned(n);
}

template <class T>
__global__ void embed_kernel(const T* __restrict__ table, int64_t hidden,
                             const int32_t* __restrict__ ids, float* __restrict__ x) {
  const int64_t t = blockIdx.x;
  const int64_t src = int64_t(ids[t]) * hidden;
  for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x)
    x[t * hidden + c] = load(table, src + c);
}

__global__ void rms_norm_kernel(const float* x, int64_t ldx, const int32_t* __restrict__ rows,
                                int64_t dim, const float* __restrict__ w, float eps, float* y,
                                int64_t ldy) {
  const int64_t r = blockIdx.x;
  const float* xr = x + (rows ? int64_t(rows[r]) : r) * ldx;
  float* yr = y + r * ldy;
  float ss = 0;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) ss += xr[c] * xr[c];
  ss = block_sum(ss);  // its barriers also order every read above before the writes below
  const float inv = 1.0f / sqrtf(ss / float(dim) + eps);
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) yr[c] = xr[c] * inv * w[c];
}

// One block per token; thread i owns rotation pair i of every head and of k_pe.
__global__ void rope_kernel(RopeArgs a) {
  const int64_t t = blockIdx.x;
  const int half = a.rope / 2;
  const int qk = a.nope + a.rope, row = a.kv_lora + a.rope;
  const double p = double(a.pos[t]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const double ang = p * double(a.inv_freq[i]);
    const float cs = float(cos(ang)), sn = float(sin(ang));
    for (int h = 0; h < a.heads; ++h) {
      const float* src = a.q + (t * a.heads + h) * qk + a.nope;
      float* dst = a.qlat + (t * a.heads + h) * row + a.kv_lora;
      const float x0 = src[2 * i], x1 = src[2 * i + 1];
      dst[2 * i] = x0 * cs - x1 * sn;
      dst[2 * i + 1] = x0 * sn + x1 * cs;
    }
    float* k = a.kva + t * row + a.kv_lora;
    const float x0 = k[2 * i], x1 = k[2 * i + 1];
    k[2 * i] = x0 * cs - x1 * sn;
    k[2 * i + 1] = x0 * sn + x1 * cs;
  }
}

template <class T>
__global__ void cache_write_kernel(const float* __restrict__ kva, int64_t row,
                                   const int32_t* __restrict__ pos,
                                   const int32_t* __restrict__ slot,
                                   const int32_t* __restrict__ table, int max_blocks,
                                   int block_size, T* __restrict__ pool) {
  const int64_t t = blockIdx.x;
  const int64_t p = pos[t];
  const int64_t blk = table[int64_t(slot[t]) * max_blocks + p / block_size];
  T* dst = pool + (blk * block_size + p % block_size) * row;
  for (int64_t c = threadIdx.x; c < row; c += blockDim.x) store(dst, c, kva[t * row + c]);
}

template <class Tin, class Tout>
__global__ void silu_mul_kernel(const Tin* __restrict__ gu, int64_t rows, int64_t inter,
                                Tout* __restrict__ act) {
  const int64_t n = rows * inter;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, c = i % inter;
    const float g = load(gu, r * 2 * inter + c), u = load(gu, r * 2 * inter + inter + c);
    store(act, i, g / (1.0f + expf(-g)) * u);
  }
}

// ---- latent attention --------------------------------------------------------------------------
// One block per (query token, head), kAttnWarps warps. Warp w takes tokens w, w + kAttnWarps, ...
// of the causal range: the score is a warp dot product over the whole row, then an online softmax
// update of the warp's (max, sum, output); lane l owns output columns l, l + 32, ... (kPerLane of
// them, kv_lora <= 32 * kPerLane). The warps' states merge through shared memory at the end.
constexpr int kAttnWarps = 4;

template <class T, int kPerLane>
__global__ void __launch_bounds__(kAttnWarps * 32) latent_attention_kernel(LatentAttentionArgs a) {
  extern __shared__ float smem[];
  const int row = a.kv_lora + a.rope;
  float* qs = smem;               // [row]
  float* wm = qs + row;           // [kAttnWarps] running max per warp
  float* wl = wm + kAttnWarps;    // [kAttnWarps] running sum per warp
  float* wacc = wl + kAttnWarps;  // [kAttnWarps, kv_lora]
  const int64_t t = blockIdx.x / a.heads;
  const int h = int(blockIdx.x % a.heads);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const float* q = a.q + (t * a.heads + h) * row;
  for (int c = threadIdx.x; c < row; c += blockDim.x) qs[c] = q[c];
  __syncthreads();

  const T* pool = static_cast<const T*>(a.pool);
  const int32_t* table = a.block_table + int64_t(a.slot[t]) * a.max_blocks;
  const int64_t len = int64_t(a.pos[t]) + 1;
  float m = -INFINITY, l = 0;
  float acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) acc[i] = 0;
  for (int64_t j = warp; j < len; j += kAttnWarps) {
    const T* kr = pool + (int64_t(table[j / a.block_size]) * a.block_size + j % a.block_size) * row;
    float s = 0;
    for (int c = lane; c < row; c += 32) s += qs[c] * load(kr, c);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    s *= a.scale;
    const float mn = fmaxf(m, s);
    const float corr = expf(m - mn);  // m = -inf on the first token: 0
    const float p = expf(s - mn);
    l = l * corr + p;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < a.kv_lora) acc[i] = acc[i] * corr + p * load(kr, c);
    }
    m = mn;
  }
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + 32 * i;
    if (c < a.kv_lora) wacc[warp * a.kv_lora + c] = acc[i];
  }
  __syncthreads();
  // Token 0 always belongs to warp 0, so the overall max is finite; warps without tokens have
  // max -inf and contribute exp(-inf) = 0.
  float mx = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w) mx = fmaxf(mx, wm[w]);
  float den = 0;
  for (int w = 0; w < kAttnWarps; ++w) den += wl[w] * expf(wm[w] - mx);
  const float inv = 1.0f / den;
  float* out = a.out + (t * a.heads + h) * a.kv_lora;
  for (int c = threadIdx.x; c < a.kv_lora; c += blockDim.x) {
    float num = 0;
    for (int w = 0; w < kAttnWarps; ++w) num += wacc[w * a.kv_lora + c] * expf(wm[w] - mx);
    out[c] = num * inv;
  }
}

template <class T>
void launch_latent(const LatentAttentionArgs& a, cudaStream_t s) {
  const unsigned grid = grid_of(a.tokens * a.heads, "latent attention");
  const size_t smem = sizeof(float) * (size_t(a.kv_lora + a.rope) + 2 * kAttnWarps +
                                       size_t(kAttnWarps) * a.kv_lora);
  if (a.kv_lora <= 128)
    latent_attention_kernel<T, 4><<<grid, kAttnWarps * 32, smem, s>>>(a);
  else if (a.kv_lora <= 256)
    latent_attention_kernel<T, 8><<<grid, kAttnWarps * 32, smem, s>>>(a);
  else if (a.kv_lora <= 512)
    latent_attention_kernel<T, 16><<<grid, kAttnWarps * 32, smem, s>>>(a);
  else
    latent_attention_kernel<T, 32><<<grid, kAttnWarps * 32, smem, s>>>(a);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void check_dtype(DType dt, const char* what) {
  if (dt != DType::kF32 && dt != DType::kBF16)
    throw std::invalid_argument(std::string("CUDA engine: ") + what + " must be fp32 or bf16");
}

}  // namespace

void embed(const void* table, DType dt, int64_t hidden, const int32_t* ids, int64_t tokens,
           float* x, cudaStream_t s) {
  check_dtype(dt, "embedding dtype");
  const unsigned grid = grid_of(tokens, "embedding");
  if (dt == DType::kF32)
    embed_kernel<<<grid, kThreads, 0, s>>>(static_cast<const float*>(table), hidden, ids, x);
  else
    embed_kernel<<<grid, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(table), hidden, ids,
                                           x);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void rms_norm(const float* x, int64_t ldx, const int32_t* rows, int64_t n_rows, int64_t dim,
              const float* w, float eps, float* y, int64_t ldy, cudaStream_t s) {
  rms_norm_kernel<<<grid_of(n_rows, "rms_norm"), kThreads, 0, s>>>(x, ldx, rows, dim, w, eps, y,
                                                                   ldy);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void rope(const RopeArgs& a, cudaStream_t s) {
  if (a.rope <= 0 || a.rope % 2) throw std::invalid_argument("CUDA engine: rope dims must be even");
  rope_kernel<<<grid_of(a.tokens, "rope"), 64, 0, s>>>(a);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void cache_write(const float* kva, int64_t tokens, int64_t row, const int32_t* pos,
                 const int32_t* slot, const int32_t* block_table, int max_blocks, int block_size,
                 void* pool, DType dt, cudaStream_t s) {
  check_dtype(dt, "cache dtype");
  const unsigned grid = grid_of(tokens, "cache write");
  if (dt == DType::kF32)
    cache_write_kernel<<<grid, 128, 0, s>>>(kva, row, pos, slot, block_table, max_blocks,
                                            block_size, static_cast<float*>(pool));
  else
    cache_write_kernel<<<grid, 128, 0, s>>>(kva, row, pos, slot, block_table, max_blocks,
                                            block_size, static_cast<__nv_bfloat16*>(pool));
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void silu_mul(const void* gu, DType in, int64_t rows, int64_t inter, void* act, DType out,
              cudaStream_t s) {
  check_dtype(in, "SwiGLU input dtype");
  check_dtype(out, "SwiGLU output dtype");
  const int64_t n = rows * inter;
  if (n <= 0) return;
  const unsigned grid = unsigned(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 16));
  if (in == DType::kF32 && out == DType::kF32)
    silu_mul_kernel<<<grid, kThreads, 0, s>>>(static_cast<const float*>(gu), rows, inter,
                                              static_cast<float*>(act));
  else if (in == DType::kBF16 && out == DType::kBF16)
    silu_mul_kernel<<<grid, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(gu), rows, inter,
                                              static_cast<__nv_bfloat16*>(act));
  else if (in == DType::kF32)
    silu_mul_kernel<<<grid, kThreads, 0, s>>>(static_cast<const float*>(gu), rows, inter,
                                              static_cast<__nv_bfloat16*>(act));
  else
    silu_mul_kernel<<<grid, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(gu), rows, inter,
                                              static_cast<float*>(act));
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

void latent_attention(const LatentAttentionArgs& a, cudaStream_t s) {
  if (a.kv_lora <= 0 || a.kv_lora > 1024 || a.rope < 0 || a.heads <= 0 || a.block_size <= 0 ||
      a.max_blocks <= 0)
    throw std::invalid_argument("CUDA engine: latent attention: bad shapes (kv_lora " +
                                std::to_string(a.kv_lora) + ", rope " + std::to_string(a.rope) +
                                ", heads " + std::to_string(a.heads) + ")");
  check_dtype(a.dtype, "cache dtype");
  if (a.dtype == DType::kF32)
    launch_latent<float>(a, s);
  else
    launch_latent<__nv_bfloat16>(a, s);
}

}  // namespace dsbench::engine::cuda_ops
