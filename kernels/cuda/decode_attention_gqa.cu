// MHA/GQA/MQA paged decode attention on CUDA cores: one CTA per (split, kv head x tile of up to 4
// query heads of its group, sequence); each warp streams every 4th token of the split with an
// online softmax, the warps merge through shared memory, and the split combine merges chunks.
// K/V rows are read once per CTA for all of its query heads.
#include <cuda_bf16.h>
#include <math.h>

#include <stdexcept>
#include <string>

#include "attention_combine.cuh"
#include "gqa_internal.cuh"
#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/gqa_decode.h"

namespace dsbench::kernels::cuda {
using detail::launch_split_combine;

namespace {

constexpr int kWarps = 4;
constexpr int kHeadTile = 4;   // query heads per CTA
constexpr int kPerLane = 8;    // head_dim <= 32 * 8
constexpr int kMaxDim = 32 * kPerLane;

__device__ __forceinline__ float load_elem(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load_elem(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}

struct Params {
  const float* q;
  const void* k;
  const void* v;
  int64_t k_block, k_token, k_head, v_block, v_token, v_head;
  const int32_t* block_table;
  const int32_t* seq_lens;
  int max_blocks, block_size, q_heads, kv_heads, head_dim, v_head_dim, group, head_tiles;
  int chunk, max_splits;
  float scale_log2;
  float* o_part;
  float* lse_part;
};

template <class T>
__global__ void __launch_bounds__(kWarps * 32) gqa_split_kernel(Params p) {
  __shared__ float s_acc[kWarps][kHeadTile][kMaxDim];
  __shared__ float s_m[kWarps][kHeadTile], s_l[kWarps][kHeadTile];
  const int split = blockIdx.x, b = blockIdx.z;
  const int kvh = blockIdx.y / p.head_tiles, tile = blockIdx.y % p.head_tiles;
  const int len = p.seq_lens[b];
  const int begin = split * p.chunk;
  if (begin >= len) return;
  const int end = min(len, begin + p.chunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h_first = kvh * p.group + tile * kHeadTile;
  const int nh = min(kHeadTile, (kvh + 1) * p.group - h_first);
  const T* K = static_cast<const T*>(p.k);
  const T* V = static_cast<const T*>(p.v);
  const int32_t* table = p.block_table + size_t(b) * p.max_blocks;

  float q[kHeadTile][kPerLane], acc[kHeadTile][kPerLane], m[kHeadTile], l[kHeadTile];
#pragma unroll
  for (int h = 0; h < kHeadTile; ++h) {
    m[h] = -INFINITY;
    l[h] = 0;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      q[h][i] = (h < nh && d < p.head_dim)
                    ? p.q[(size_t(b) * p.q_heads + h_first + h) * p.head_dim + d]
                    : 0.0f;
      acc[h][i] = 0;
    }
  }

  for (int t = begin + warp; t < end; t += kWarps) {
    const int64_t page = table[t / p.block_size];
    const int slot = t % p.block_size;
    const T* krow = K + page * p.k_block + slot * p.k_token + kvh * p.k_head;
    const T* vrow = V + page * p.v_block + slot * p.v_token + kvh * p.v_head;
    float kv[kPerLane];
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      kv[i] = d < p.head_dim ? load_elem(krow, d) : 0.0f;
    }
    float s[kHeadTile];
#pragma unroll
    for (int h = 0; h < kHeadTile; ++h) {
      float x = 0;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) x += q[h][i] * kv[i];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
      s[h] = x * p.scale_log2;
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      kv[i] = d < p.v_head_dim ? load_elem(vrow, d) : 0.0f;
    }
#pragma unroll
    for (int h = 0; h < kHeadTile; ++h) {
      const float m_new = fmaxf(m[h], s[h]);
      const float alpha = exp2f(m[h] - m_new);
      const float pr = exp2f(s[h] - m_new);
      l[h] = l[h] * alpha + pr;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) acc[h][i] = acc[h][i] * alpha + pr * kv[i];
      m[h] = m_new;
    }
  }

#pragma unroll
  for (int h = 0; h < kHeadTile; ++h) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) s_acc[warp][h][lane + 32 * i] = acc[h][i];
    if (lane == 0) {
      s_m[warp][h] = m[h];
      s_l[warp][h] = l[h];
    }
  }
  __syncthreads();

  const size_t prow = size_t(b) * p.max_splits + split;
  for (int idx = threadIdx.x; idx < nh * p.v_head_dim; idx += blockDim.x) {
    const int h = idx / p.v_head_dim, d = idx % p.v_head_dim;
    float mx = -INFINITY;
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, s_m[w][h]);
    float lsum = 0, o = 0;
    for (int w = 0; w < kWarps; ++w) {
      if (s_m[w][h] == -INFINITY) continue;  // a warp that saw no token
      const float f = exp2f(s_m[w][h] - mx);
      lsum += s_l[w][h] * f;
      o += s_acc[w][h][d] * f;
    }
    const int head = h_first + h;
    p.o_part[(prow * p.q_heads + head) * p.v_head_dim + d] = lsum > 0 ? o / lsum : 0.0f;
    if (d == 0) p.lse_part[prow * p.q_heads + head] = lsum > 0 ? mx + log2f(lsum) : -INFINITY;
  }
}

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("gqa decode (CUDA): " + what);
}

}  // namespace

int gqa_decode_ctas_per_split(const GqaDecodeArgs& a) {
  if (a.kv_heads <= 0 || a.q_heads <= 0 || a.q_heads % a.kv_heads) return 1;
  const int group = a.q_heads / a.kv_heads;
  return a.kv_heads * ((group + kHeadTile - 1) / kHeadTile);
}

namespace detail {

size_t gqa_partial_bytes(const GqaDecodeArgs& a, const DecodeSchedule& s) {
  return size_t(a.seqs.batch) * s.max_splits * a.q_heads * (a.v_head_dim + 1) * sizeof(float);
}

void gqa_decode_launch(const GqaDecodeArgs& a, const DecodeSchedule& s, void* partials,
                       cudaStream_t cs) {
  const DecodeBatch& sq = a.seqs;
  if (sq.batch <= 0) bad("seqs.batch must be > 0");
  if (!sq.block_table || !sq.seq_lens) bad("seqs.block_table and seqs.seq_lens are required");
  if (sq.block_size <= 0 || sq.max_blocks_per_seq <= 0) bad("block_size, max_blocks_per_seq > 0");
  if (a.q_heads <= 0 || a.kv_heads <= 0 || a.q_heads % a.kv_heads)
    bad("q_heads must be a positive multiple of kv_heads");
  if (a.head_dim <= 0 || a.head_dim > kMaxDim || a.v_head_dim <= 0 || a.v_head_dim > kMaxDim)
    bad("head_dim and v_head_dim must be in [1, 256]");
  if (!a.q || !a.out || !a.k.base || !a.v.base) bad("q, out, k.base and v.base are required");
  if (a.k.lanes || a.v.lanes) bad("k.lanes/v.lanes must be 0: the CUDA kernel reads token rows");
  if (a.k.dtype != a.v.dtype || (a.k.dtype != DType::kF32 && a.k.dtype != DType::kBF16))
    bad("k and v must both be fp32 or both bf16");
  if (s.chunk <= 0 || s.max_splits <= 0) bad("schedule: use make_decode_schedule");
  if (int64_t(s.max_seq_len) > int64_t(sq.max_blocks_per_seq) * sq.block_size)
    bad("schedule.max_seq_len exceeds max_blocks_per_seq * block_size");

  Params p{};
  p.q = a.q;
  p.k = a.k.base;
  p.v = a.v.base;
  p.k_block = a.k.block_stride, p.k_token = a.k.token_stride, p.k_head = a.k.head_stride;
  p.v_block = a.v.block_stride, p.v_token = a.v.token_stride, p.v_head = a.v.head_stride;
  p.block_table = sq.block_table;
  p.seq_lens = sq.seq_lens;
  p.max_blocks = sq.max_blocks_per_seq;
  p.block_size = sq.block_size;
  p.q_heads = a.q_heads;
  p.kv_heads = a.kv_heads;
  p.head_dim = a.head_dim;
  p.v_head_dim = a.v_head_dim;
  p.group = a.q_heads / a.kv_heads;
  p.head_tiles = (p.group + kHeadTile - 1) / kHeadTile;
  p.chunk = s.chunk;
  p.max_splits = s.max_splits;
  p.scale_log2 = a.scale * 1.4426950408889634f;
  const size_t rows = size_t(sq.batch) * s.max_splits * a.q_heads;
  auto* part = static_cast<float*>(partials);
  p.o_part = part;
  p.lse_part = part + rows * a.v_head_dim;

  dim3 grid(s.max_splits, a.kv_heads * p.head_tiles, sq.batch);
  if (a.k.dtype == DType::kBF16) {
    gqa_split_kernel<__nv_bfloat16><<<grid, kWarps * 32, 0, cs>>>(p);
  } else {
    gqa_split_kernel<float><<<grid, kWarps * 32, 0, cs>>>(p);
  }
  DSBENCH_KERNEL_LAUNCH_CHECK();
  launch_split_combine(p.o_part, p.lse_part, sq.seq_lens, sq.batch, a.q_heads, a.v_head_dim,
                       s.chunk, s.max_splits, a.out, nullptr, cs);
}

}  // namespace detail

void decode_attention_gqa_cuda(const GqaDecodeArgs& a, const DecodeSchedule& s, Workspace& ws,
                               void* stream) {
  if (a.seqs.batch <= 0 || a.q_heads <= 0 || a.v_head_dim <= 0 || s.max_splits <= 0)
    bad("batch, q_heads, v_head_dim and schedule.max_splits must be > 0");
  detail::gqa_decode_launch(a, s, ws.get(detail::gqa_partial_bytes(a, s)),
                            static_cast<cudaStream_t>(stream));
}

}  // namespace dsbench::kernels::cuda
