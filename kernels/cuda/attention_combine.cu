// Split-KV combine: merges per-chunk partial outputs of decode attention by log-sum-exp.
#include <math.h>

#include "attention_combine.cuh"
#include "dsbench/kernels/cuda/check.h"

namespace dsbench::kernels::cuda::detail {
namespace {

__global__ void split_combine_kernel(const float* __restrict__ o_part,
                                     const float* __restrict__ lse_part,
                                     const int32_t* __restrict__ seq_lens, int heads, int dv,
                                     int chunk, int max_splits, float* __restrict__ out,
                                     float* __restrict__ lse_out) {
  const int h = blockIdx.x, b = blockIdx.y;
  const int len = seq_lens[b];
  int n = (len + chunk - 1) / chunk;
  n = n < max_splits ? n : max_splits;
  const size_t base = size_t(b) * max_splits;
  float mx = -INFINITY;
  for (int s = 0; s < n; ++s) mx = fmaxf(mx, lse_part[(base + s) * heads + h]);
  float wsum = 0;
  for (int s = 0; s < n; ++s) wsum += exp2f(lse_part[(base + s) * heads + h] - mx);
  const float inv = wsum > 0 ? 1.0f / wsum : 0.0f;
  for (int c = threadIdx.x; c < dv; c += blockDim.x) {
    float acc = 0;
    for (int s = 0; s < n; ++s) {
      const size_t row = (base + s) * heads + h;
      acc += exp2f(lse_part[row] - mx) * o_part[row * dv + c];
    }
    out[(size_t(b) * heads + h) * dv + c] = acc * inv;
  }
  if (lse_out && threadIdx.x == 0) {
    lse_out[size_t(b) * heads + h] = n > 0 ? (mx + log2f(wsum)) * 0.69314718055994531f : -INFINITY;
  }
}

}  // namespace

void launch_split_combine(const float* o_part, const float* lse_part, const int32_t* seq_lens,
                          int batch, int heads, int dv, int chunk, int max_splits, float* out,
                          float* lse_out, cudaStream_t stream) {
  dim3 grid(heads, batch);
  split_combine_kernel<<<grid, 128, 0, stream>>>(o_part, lse_part, seq_lens, heads, dv, chunk,
                                                 max_splits, out, lse_out);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

}  // namespace dsbench::kernels::cuda::detail
