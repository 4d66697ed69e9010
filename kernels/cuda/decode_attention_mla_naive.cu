// MLA-naive decode on CUDA: decompress the latent pool into per-head K/V rows (cuBLAS strided
// batched bf16 GEMMs, one batch entry per head), copy k_pe into every head, then paged MHA decode.
#include <cuda_bf16.h>

#include <stdexcept>
#include <string>

#include "cublas_handle.h"
#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/gqa_decode.h"
#include "dsbench/kernels/cuda/mla_naive.h"
#include "gqa_internal.cuh"

namespace dsbench::kernels::cuda {
namespace {

using bf16_t = __nv_bfloat16;

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// naive row r: [K: heads x (nope + rope)][V: heads x dv]; writes the rope part of every head.
__global__ void copy_kpe_kernel(const bf16_t* __restrict__ latent, bf16_t* __restrict__ naive,
                                int64_t rows, int heads, int rank, int rope, int nope,
                                int64_t naive_row) {
  const int64_t r = blockIdx.x;
  if (r >= rows) return;
  const bf16_t* src = latent + r * (rank + rope) + rank;
  for (int i = threadIdx.x; i < heads * rope; i += blockDim.x) {
    const int h = i / rope, j = i % rope;
    naive[r * naive_row + int64_t(h) * (nope + rope) + nope + j] = src[j];
  }
}

// q_cat[b, h] = [q_nope[b, h] | q_pe[b, h]] in fp32.
__global__ void concat_q_kernel(const float* __restrict__ q_nope, const float* __restrict__ q_pe,
                                float* __restrict__ q, int nope, int rope) {
  const int64_t row = blockIdx.x;
  for (int i = threadIdx.x; i < nope + rope; i += blockDim.x) {
    q[row * (nope + rope) + i] =
        i < nope ? q_nope[row * nope + i] : q_pe[row * rope + (i - nope)];
  }
}

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("mla naive decode (CUDA): " + what);
}

GqaDecodeArgs naive_gqa_args(const MlaDecodeArgs& a, const void* pool) {
  const int hd = a.qk_nope_head_dim + a.qk_rope_head_dim;
  GqaDecodeArgs g;
  g.seqs = a.seqs;
  g.q_heads = a.heads;
  g.kv_heads = a.heads;
  g.head_dim = hd;
  g.v_head_dim = a.v_head_dim;
  g.k = gqa_k_view(pool, DType::kBF16, a.seqs.block_size, a.heads, hd, a.v_head_dim);
  g.v = gqa_v_view(pool, DType::kBF16, a.seqs.block_size, a.heads, hd, a.v_head_dim);
  g.out = a.out;
  g.scale = a.scale;
  return g;
}

}  // namespace

int mla_naive_ctas_per_split(const MlaDecodeArgs& a) {
  GqaDecodeArgs g = naive_gqa_args(a, nullptr);
  return gqa_decode_ctas_per_split(g);
}

void decode_attention_mla_naive_cuda(const MlaDecodeArgs& a, const DecodeSchedule& s,
                                     Workspace& ws, void* stream) {
  if (a.seqs.batch <= 0 || a.heads <= 0) bad("batch and heads must be > 0");
  if (a.kv_lora_rank <= 0 || a.qk_rope_head_dim <= 0 || a.qk_nope_head_dim <= 0 ||
      a.v_head_dim <= 0)
    bad("kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim and v_head_dim must be > 0");
  if (a.seqs.num_pool_blocks <= 0) bad("seqs.num_pool_blocks must be > 0 (the pool is decompressed)");
  if (a.latent.lanes) bad("latent.lanes must be 0: the kernel reads latent rows");
  if (!a.q_nope || !a.q_pe || !a.w_uk || !a.w_uv || !a.out || !a.latent.base)
    bad("q_nope, q_pe, w_uk, w_uv, out and latent.base are required");
  const int rank = a.kv_lora_rank, rope = a.qk_rope_head_dim, nope = a.qk_nope_head_dim;
  const int dv = a.v_head_dim, H = a.heads, hd = nope + rope;
  if (a.latent.dtype != DType::kBF16) bad("latent.dtype must be bf16");
  if (a.latent.token_stride != rank + rope ||
      a.latent.block_stride != int64_t(rank + rope) * a.seqs.block_size)
    bad("latent must use the mla_latent_view layout");

  const int64_t rows = a.seqs.num_pool_blocks * a.seqs.block_size;
  const int64_t naive_row = int64_t(H) * (hd + dv);
  GqaDecodeArgs g = naive_gqa_args(a, nullptr);
  const size_t wk_bytes = align256(size_t(H) * nope * rank * 2);
  const size_t wv_bytes = align256(size_t(H) * dv * rank * 2);
  const size_t q_bytes = align256(size_t(a.seqs.batch) * H * hd * 4);
  const size_t pool_bytes = align256(size_t(rows) * naive_row * 2);
  auto* base = static_cast<char*>(
      ws.get(wk_bytes + wv_bytes + q_bytes + pool_bytes + detail::gqa_partial_bytes(g, s)));
  auto* wk = reinterpret_cast<bf16_t*>(base);
  auto* wv = reinterpret_cast<bf16_t*>(base + wk_bytes);
  auto* q = reinterpret_cast<float*>(base + wk_bytes + wv_bytes);
  auto* pool = reinterpret_cast<bf16_t*>(base + wk_bytes + wv_bytes + q_bytes);
  void* partials = base + wk_bytes + wv_bytes + q_bytes + pool_bytes;

  auto cs = static_cast<cudaStream_t>(stream);
  convert_f32_to_bf16(a.w_uk, wk, size_t(H) * nope * rank, stream);
  convert_f32_to_bf16(a.w_uv, wv, size_t(H) * dv * rank, stream);
  cublasHandle_t h = detail::cublas_handle(cs);
  const float one = 1.0f, zero = 0.0f;
  const auto* latent = static_cast<const bf16_t*>(a.latent.base);
  // K_nope_h^T (nope x rows) = W_UK_h (nope x rank) . C^T (rank x rows); C rows have ld rank+rope.
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h, CUBLAS_OP_T, CUBLAS_OP_N, nope, int(rows), rank, &one, wk, CUDA_R_16BF, rank,
      int64_t(nope) * rank, latent, CUDA_R_16BF, rank + rope, 0, &zero, pool, CUDA_R_16BF,
      int(naive_row), hd, H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h, CUBLAS_OP_T, CUBLAS_OP_N, dv, int(rows), rank, &one, wv, CUDA_R_16BF, rank,
      int64_t(dv) * rank, latent, CUDA_R_16BF, rank + rope, 0, &zero, pool + int64_t(H) * hd,
      CUDA_R_16BF, int(naive_row), dv, H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  copy_kpe_kernel<<<unsigned(rows), 128, 0, cs>>>(latent, pool, rows, H, rank, rope, nope,
                                                  naive_row);
  DSBENCH_KERNEL_LAUNCH_CHECK();
  concat_q_kernel<<<unsigned(size_t(a.seqs.batch) * H), 128, 0, cs>>>(a.q_nope, a.q_pe, q, nope,
                                                                      rope);
  DSBENCH_KERNEL_LAUNCH_CHECK();

  g = naive_gqa_args(a, pool);
  g.q = q;
  detail::gqa_decode_launch(g, s, partials, cs);
}

}  // namespace dsbench::kernels::cuda
