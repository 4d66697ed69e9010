// MLA-absorbed decode attention over a paged bf16 latent cache (576 per token), FlashMLA shapes.
// One CTA = 16 query heads x one split (chunk) of one sequence, 4 warps. Tiles of 32 tokens are
// double-buffered into shared memory with cp.async; S = Q K^T and O += P V run on tensor cores
// (mma.sync m16n8k16 bf16, fp32 accumulate); V is the first 512 columns of the same tile, so every
// cache byte is read from DRAM once per CTA. Warp w computes the scores of tokens [8w, 8w+8) and
// owns output columns [128w, 128w+128); the online-softmax max and sums are exchanged through
// shared memory. A combine kernel merges the splits by log-sum-exp.
#include <cuda_bf16.h>
#include <math.h>

#include <stdexcept>
#include <string>

#include "attention_combine.cuh"
#include "cublas_handle.h"
#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/mla_decode.h"

namespace dsbench::kernels::cuda {
namespace {

using detail::cp_async16;
using detail::ld32;
using detail::mma_bf16_16816;
using bf16_t = __nv_bfloat16;

constexpr int kD = kMlaRowDim;      // 576
constexpr int kDV = kMlaLatentDim;  // 512
constexpr int kTile = 32;           // tokens per pipeline stage
constexpr int kHeads = 16;          // query heads per CTA (the mma M dimension)
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRow = kD + 8;        // +16 B per row: conflict-free fragment loads and ldmatrix
constexpr int kPRow = kTile + 8;

struct Smem {
  bf16_t q[kHeads][kRow];
  bf16_t k[2][kTile][kRow];
  bf16_t p[kHeads][kPRow];
  float max_part[kWarps][kHeads];
  float sum_part[kWarps][kHeads];
};

__global__ void __launch_bounds__(kThreads, 2)
    mla_split_kernel(const bf16_t* __restrict__ q, const bf16_t* __restrict__ cache,
                     const int32_t* __restrict__ block_table, const int32_t* __restrict__ seq_lens,
                     int max_blocks, int block_size, int heads, int chunk, int max_splits,
                     float scale_log2, float* __restrict__ o_part, float* __restrict__ lse_part) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Smem& sm = *reinterpret_cast<Smem*>(smem_raw);
  const int hg = blockIdx.x, split = blockIdx.y, b = blockIdx.z;
  const int len = seq_lens[b];
  const int begin = split * chunk;
  if (begin >= len) return;
  const int end = min(len, begin + chunk);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tig = lane & 3;
  const int head0 = hg * kHeads;
  const int32_t* table = block_table + size_t(b) * max_blocks;
  constexpr int kChunks = kD / 8;  // 16-byte pieces per row

  for (int i = tid; i < kHeads * kChunks; i += kThreads) {
    const int h = i / kChunks, c = i % kChunks;
    const bool ok = head0 + h < heads;  // missing heads are zero rows
    cp_async16(&sm.q[h][c * 8], ok ? q + (size_t(b) * heads + head0 + h) * kD + c * 8 : q, ok);
  }
  // A tile never crosses a page: block_size is a multiple of kTile and tiles start at multiples
  // of kTile. Rows past the chunk's end are zero-filled so no stale value (or NaN) enters P V.
  auto load_tile = [&](int t0, int stage) {
    const int page = table[t0 / block_size];
    const bf16_t* base = cache + (size_t(page) * block_size + (t0 % block_size)) * kD;
    for (int i = tid; i < kTile * kChunks; i += kThreads) {
      const int r = i / kChunks, c = i % kChunks;
      const bool ok = t0 + r < end;
      cp_async16(&sm.k[stage][r][c * 8], ok ? base + size_t(r) * kD + c * 8 : cache, ok);
    }
  };

  load_tile(begin, 0);
  detail::cp_async_commit();

  float o[16][4];
#pragma unroll
  for (int j = 0; j < 16; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY};
  float l_run[2] = {0.0f, 0.0f};

  const int n_tiles = (end - begin + kTile - 1) / kTile;
  for (int it = 0; it < n_tiles; ++it) {
    const int stage = it & 1;
    const int t0 = begin + it * kTile;
    if (it + 1 < n_tiles) load_tile(t0 + kTile, stage ^ 1);
    detail::cp_async_commit();  // possibly empty, so that wait<1> always means "tile it landed"
    detail::cp_async_wait<1>();
    __syncthreads();

    // ---- S = Q K^T for this warp's 8 tokens, all 16 heads ----
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const bf16_t* krow = sm.k[stage][warp * 8 + g];
#pragma unroll 6
    for (int ks = 0; ks < kD / 16; ++ks) {
      const int k0 = ks * 16 + tig * 2;
      uint32_t a[4] = {ld32(&sm.q[g][k0]), ld32(&sm.q[g + 8][k0]), ld32(&sm.q[g][k0 + 8]),
                       ld32(&sm.q[g + 8][k0 + 8])};
      mma_bf16_16816(s, a, ld32(krow + k0), ld32(krow + k0 + 8));
    }
    // s[0..1]: head g, tokens tcol, tcol+1; s[2..3]: head g+8.
    const int tcol = warp * 8 + tig * 2;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      s[j] = (t0 + tcol + (j & 1) < end) ? s[j] * scale_log2 : -INFINITY;
    }
    float mx0 = fmaxf(s[0], s[1]), mx1 = fmaxf(s[2], s[3]);
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    if (tig == 0) {
      sm.max_part[warp][g] = mx0;
      sm.max_part[warp][g + 8] = mx1;
    }
    __syncthreads();

    // ---- online softmax: every thread derives the same row max, scale and P ----
    float alpha[2], m_use[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = g + 8 * r;
      float mt = sm.max_part[0][row];
#pragma unroll
      for (int w = 1; w < kWarps; ++w) mt = fmaxf(mt, sm.max_part[w][row]);
      const float m_new = fmaxf(m_run[r], mt);
      m_use[r] = m_new == -INFINITY ? 0.0f : m_new;
      alpha[r] = exp2f(m_run[r] - m_use[r]);
      m_run[r] = m_new;
    }
    const __nv_bfloat162 p0 =
        __floats2bfloat162_rn(exp2f(s[0] - m_use[0]), exp2f(s[1] - m_use[0]));
    const __nv_bfloat162 p1 =
        __floats2bfloat162_rn(exp2f(s[2] - m_use[1]), exp2f(s[3] - m_use[1]));
    *reinterpret_cast<__nv_bfloat162*>(&sm.p[g][tcol]) = p0;
    *reinterpret_cast<__nv_bfloat162*>(&sm.p[g + 8][tcol]) = p1;
    // Sums of the rounded P, so the normaliser matches what P V multiplies.
    float sum0 = __low2float(p0) + __high2float(p0);
    float sum1 = __low2float(p1) + __high2float(p1);
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, 1);
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, 2);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, 1);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, 2);
    if (tig == 0) {
      sm.sum_part[warp][g] = sum0;
      sm.sum_part[warp][g + 8] = sum1;
    }
    __syncthreads();

#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = g + 8 * r;
      float t = 0;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) t += sm.sum_part[w][row];
      l_run[r] = l_run[r] * alpha[r] + t;
    }
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      o[j][0] *= alpha[0];
      o[j][1] *= alpha[0];
      o[j][2] *= alpha[1];
      o[j][3] *= alpha[1];
    }

    // ---- O[:, 128w : 128w+128] += P V ----
#pragma unroll
    for (int ks = 0; ks < kTile / 16; ++ks) {
      const int k0 = ks * 16 + tig * 2;
      uint32_t a[4] = {ld32(&sm.p[g][k0]), ld32(&sm.p[g + 8][k0]), ld32(&sm.p[g][k0 + 8]),
                       ld32(&sm.p[g + 8][k0 + 8])};
      const bf16_t* vrow = sm.k[stage][ks * 16 + (lane & 15)] + warp * 128 + (lane >> 4) * 8;
#pragma unroll
      for (int pair = 0; pair < 8; ++pair) {
        uint32_t r0, r1, r2, r3;
        detail::ldmatrix_x4_trans(r0, r1, r2, r3, vrow + pair * 16);
        mma_bf16_16816(o[2 * pair], a, r0, r1);
        mma_bf16_16816(o[2 * pair + 1], a, r2, r3);
      }
    }
    __syncthreads();  // the stage, P and the exchange slots are rewritten next iteration
  }

  // ---- this split's normalised output and its log2-sum-exp ----
  const size_t prow = size_t(b) * max_splits + split;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int head = head0 + g + 8 * r;
    if (head >= heads) continue;
    const float inv = l_run[r] > 0 ? 1.0f / l_run[r] : 0.0f;
    float* dst = o_part + (prow * heads + head) * kDV + warp * 128 + tig * 2;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      *reinterpret_cast<float2*>(dst + j * 8) = make_float2(o[j][2 * r] * inv, o[j][2 * r + 1] * inv);
    }
    if (warp == 0 && tig == 0) {
      lse_part[prow * heads + head] = l_run[r] > 0 ? m_run[r] + log2f(l_run[r]) : -INFINITY;
    }
  }
}

__global__ void pack_absorbed_q_kernel(const float* __restrict__ q_lat,
                                       const float* __restrict__ q_pe, bf16_t* __restrict__ q,
                                       int rows, int rope) {
  const int row = blockIdx.x;
  for (int c = threadIdx.x; c < kD; c += blockDim.x) {
    const float v = c < kDV ? q_lat[size_t(row) * kDV + c] : q_pe[size_t(row) * rope + c - kDV];
    q[size_t(row) * kD + c] = __float2bfloat16_rn(v);
  }
}

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("mla decode (CUDA): " + what);
}

size_t partial_bytes(int batch, int heads, const DecodeSchedule& s) {
  return size_t(batch) * s.max_splits * heads * (kDV + 1) * sizeof(float);
}

void check_batch(const DecodeBatch& seqs, const DecodeSchedule& s) {
  if (seqs.batch <= 0) bad("seqs.batch must be > 0");
  if (!seqs.block_table || !seqs.seq_lens) bad("seqs.block_table and seqs.seq_lens are required");
  if (seqs.block_size <= 0 || seqs.block_size % kTile != 0)
    bad("seqs.block_size must be a positive multiple of 32");
  if (seqs.max_blocks_per_seq <= 0) bad("seqs.max_blocks_per_seq must be > 0");
  if (s.chunk <= 0 || s.chunk % 64 != 0 || s.max_splits <= 0)
    bad("schedule: use make_decode_schedule");
  if (int64_t(s.max_seq_len) > int64_t(seqs.max_blocks_per_seq) * seqs.block_size)
    bad("schedule.max_seq_len exceeds max_blocks_per_seq * block_size");
  if (int64_t(s.max_splits) * s.chunk < s.max_seq_len) bad("schedule does not cover max_seq_len");
}

void launch_core(const MlaLatentDecodeArgs& a, const DecodeSchedule& s, void* partials) {
  auto stream = static_cast<cudaStream_t>(a.stream);
  float* o_part = static_cast<float*>(partials);
  float* lse_part = o_part + size_t(a.seqs.batch) * s.max_splits * a.heads * kDV;
  static bool configured = false;  // the attribute is per function, set once per process
  if (!configured) {
    DSBENCH_KERNEL_CUDA_CHECK(cudaFuncSetAttribute(
        mla_split_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(sizeof(Smem))));
    configured = true;
  }
  dim3 grid((a.heads + kHeads - 1) / kHeads, s.max_splits, a.seqs.batch);
  const float scale_log2 = a.scale * 1.4426950408889634f;
  mla_split_kernel<<<grid, kThreads, sizeof(Smem), stream>>>(
      static_cast<const bf16_t*>(a.q), static_cast<const bf16_t*>(a.cache), a.seqs.block_table,
      a.seqs.seq_lens, a.seqs.max_blocks_per_seq, a.seqs.block_size, a.heads, s.chunk,
      s.max_splits, scale_log2, o_part, lse_part);
  DSBENCH_KERNEL_LAUNCH_CHECK();
  detail::launch_split_combine(o_part, lse_part, a.seqs.seq_lens, a.seqs.batch, a.heads, kDV,
                               s.chunk, s.max_splits, a.out, a.lse, stream);
}

}  // namespace

void mla_latent_decode(const MlaLatentDecodeArgs& a, const DecodeSchedule& s, Workspace& ws) {
  check_batch(a.seqs, s);
  if (a.heads <= 0) bad("heads must be > 0");
  if (!a.q || !a.cache || !a.out) bad("q, cache and out are required");
  launch_core(a, s, ws.get(partial_bytes(a.seqs.batch, a.heads, s)));
}

void decode_attention_mla_absorbed_cuda(const MlaDecodeArgs& a, const DecodeSchedule& s,
                                        Workspace& ws, void* stream) {
  check_batch(a.seqs, s);
  if (a.heads <= 0) bad("heads must be > 0");
  if (a.kv_lora_rank != kDV || a.qk_rope_head_dim != kMlaRopeDim)
    bad("kv_lora_rank must be 512 and qk_rope_head_dim 64 (got " +
        std::to_string(a.kv_lora_rank) + ", " + std::to_string(a.qk_rope_head_dim) + ")");
  if (a.qk_nope_head_dim <= 0 || a.v_head_dim <= 0) bad("qk_nope_head_dim and v_head_dim > 0");
  if (!a.q_nope || !a.q_pe || !a.w_uk || !a.w_uv || !a.out || !a.latent.base)
    bad("q_nope, q_pe, w_uk, w_uv, out and latent.base are required");
  if (a.latent.dtype != DType::kBF16) bad("latent.dtype must be bf16");
  if (a.latent.lanes || a.latent.token_stride != kD ||
      a.latent.block_stride != int64_t(kD) * a.seqs.block_size)
    bad("latent must use the mla_latent_view layout (576 per token, contiguous blocks)");

  const int B = a.seqs.batch, H = a.heads, dn = a.qk_nope_head_dim, dv = a.v_head_dim;
  const size_t rows = size_t(B) * H;
  // One allocation, carved: q_lat fp32, q bf16, o_lat fp32, then the split partials.
  const size_t q_lat_bytes = (rows * kDV * sizeof(float) + 255) / 256 * 256;
  const size_t q_bytes = (rows * kD * sizeof(bf16_t) + 255) / 256 * 256;
  const size_t o_bytes = (rows * kDV * sizeof(float) + 255) / 256 * 256;
  auto* base = static_cast<char*>(ws.get(q_lat_bytes + q_bytes + o_bytes + partial_bytes(B, H, s)));
  float* q_lat = reinterpret_cast<float*>(base);
  bf16_t* qb = reinterpret_cast<bf16_t*>(base + q_lat_bytes);
  float* o_lat = reinterpret_cast<float*>(base + q_lat_bytes + q_bytes);
  void* partials = base + q_lat_bytes + q_bytes + o_bytes;

  auto cs = static_cast<cudaStream_t>(stream);
  cublasHandle_t h = detail::cublas_handle(cs);
  const float one = 1.0f, zero = 0.0f;
  // q_lat[b, h, :] = W_UK[h]^T q_nope[b, h, :] for every head (column-major: C = A B per head).
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasSgemmStridedBatched(
      h, CUBLAS_OP_N, CUBLAS_OP_N, kDV, B, dn, &one, a.w_uk, kDV, int64_t(dn) * kDV, a.q_nope,
      H * dn, dn, &zero, q_lat, H * kDV, kDV, H));
  pack_absorbed_q_kernel<<<unsigned(rows), 128, 0, cs>>>(q_lat, a.q_pe, qb, int(rows), kMlaRopeDim);
  DSBENCH_KERNEL_LAUNCH_CHECK();

  MlaLatentDecodeArgs core;
  core.seqs = a.seqs;
  core.heads = H;
  core.q = qb;
  core.cache = a.latent.base;
  core.out = o_lat;
  core.scale = a.scale;
  core.stream = stream;
  launch_core(core, s, partials);

  // out[b, h, :] = W_UV[h] o_lat[b, h, :].
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasSgemmStridedBatched(
      h, CUBLAS_OP_T, CUBLAS_OP_N, dv, B, kDV, &one, a.w_uv, kDV, int64_t(dv) * kDV, o_lat,
      H * kDV, kDV, &zero, a.out, H * dv, dv, H));
}

}  // namespace dsbench::kernels::cuda
