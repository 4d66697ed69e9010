// Internals shared by the CPU decode-attention kernels: row loads with fused bf16->fp32
// conversion, a vectorisable exp, the flash-decoding split plan and combine, and small GEMMs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/dtype.h"

#ifndef DSBENCH_PF_LEVEL
#define DSBENCH_PF_LEVEL 2
#endif

namespace dsbench::kernels::detail {

// Uninitialised float buffer (std::vector would zero it on every call).
struct FloatBuf {
  std::unique_ptr<float[]> p;
  explicit FloatBuf(size_t n) : p(new float[n == 0 ? 1 : n]) {}
  float* get() const { return p.get(); }
};

// A per-thread buffer that only grows: fresh multi-MiB allocations would be mmap'd and
// page-faulted on every call, which costs more than a decode step at short contexts.
// Slots 0..7 are distinct buffers; a kernel uses each slot for one purpose.
inline float* workspace(int slot, size_t n) {
  static thread_local std::vector<float> bufs[8];
  std::vector<float>& v = bufs[slot];
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Element pointer of (block, slot, head) in a paged view.
inline const void* row_ptr(const PagedView& v, int32_t block, int slot, int head) {
  const int64_t off = int64_t(block) * v.block_stride + int64_t(slot) * v.token_stride +
                      int64_t(head) * v.head_stride;
  return static_cast<const char*>(v.base) + off * dtype_bytes(v.dtype);
}

// Prefetches into L2 the n consecutive token rows from (block, slot): one contiguous range.
// Blocks are scattered, so the hardware prefetcher cannot run ahead into the next block itself.
inline void prefetch_rows(const PagedView& v, int32_t block, int slot, int n) {
  const char* p = static_cast<const char*>(row_ptr(v, block, slot, 0));
  const int64_t bytes = int64_t(n) * v.token_stride * dtype_bytes(v.dtype);
  for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, DSBENCH_PF_LEVEL);
}

// dst[0..n) = fp32 of src (fp32 or bf16); the bf16 path is a shift the compiler vectorises.
inline void load_f32(const void* src, DType dt, int n, float* __restrict dst) {
  if (dt == DType::kF32) {
    std::memcpy(dst, src, size_t(n) * 4);
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  uint32_t* d = reinterpret_cast<uint32_t*>(dst);
#pragma omp simd
  for (int i = 0; i < n; ++i) d[i] = uint32_t(s[i]) << 16;
}

// exp(x) for x <= 0 (softmax after max subtraction), ~2 ulp, branch-free so loops vectorise.
inline float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  // Round to nearest with the 1.5*2^23 trick (vectorises; no fast-math in this build).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e;
  e = (int32_t(n) + 127) << 23;
  float s;
  std::memcpy(&s, &e, 4);
  return p * s;
}

// One unit of parallel work: tokens [t0, t1) of sequence b. Partial results (max m, sum l,
// unnormalised accumulator) of the splits of a sequence are merged by combine_splits.
struct WorkItem {
  int b;
  int64_t t0, t1;
};
// Splits every sequence into block-aligned chunks so that there are several items per thread
// (flash-decoding: batch 1 still uses every core), never below min_tokens per chunk. `ways`: how
// many independent pieces (head groups) each item is further cut into.
std::vector<WorkItem> plan_splits(const DecodeBatch& s, int64_t min_tokens, int ways = 1);

// Merges the splits of each sequence: items are grouped by b in order. m, l: [items, heads];
// acc: [items, heads, dim]. Writes the normalised result to out [batch, heads, dim].
void combine_splits(const std::vector<WorkItem>& items, int batch, int heads, int dim,
                    const float* m, const float* l, const float* acc, float* out);

// Online-softmax update of heads [h0, h0+nh) with scores s[h-h0][0..n) (row stride ld): turns
// the scores into probabilities, rescales the acc rows (width dim) and updates m and l.
void softmax_update(int h0, int nh, int n, float* s, int64_t ld, float* m, float* l, float* acc,
                    int dim);
// m = -inf, l = 0, acc = 0 for H heads.
void init_state(int H, int dim, float* m, float* l, float* acc);

// C[i][j] = alpha * sum_k A[i][k] * B[j][k]  (A: M x K fp32, B: N x K of fp32 or bf16 `bdt`,
// both row-major; "NT"). B may point straight into a paged cache (ldb = token_stride).
void gemm_nt(int M, int N, int K, const float* A, int64_t lda, const void* B, DType bdt,
             int64_t ldb, float* C, int64_t ldc, float alpha);
// C[i][j] += sum_k A[i][k] * B[k][j]  (A: M x K fp32, B: K x N of fp32 or bf16; "NN").
void gemm_nn_acc(int M, int N, int K, const float* A, int64_t lda, const void* B, DType bdt,
                 int64_t ldb, float* C, int64_t ldc);

// Dot product with fp32 accumulation, vectorised.
inline float dot(const float* __restrict a, const float* __restrict b, int n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace dsbench::kernels::detail
