// Linear-layer GEMM for the engine: y[m, n] = sum_k x[m, k] * W[n, k] (W stored [N, K] row-major,
// as a torch Linear weight), fp32 activations, weights in fp32 or bf16, fp32 accumulation.
// Two paths: an own AVX-512 small-M kernel (decode: streams each weight row once for all M rows
// of x) and OpenBLAS sgemm (prefill: bf16 weights are widened panel by panel first).
#pragma once

#include <cstdint>

#include "dsbench/kernels/dtype.h"

namespace dsbench::kernels {

enum class GemmPath {
  kAuto,   // own kernel for m <= gemm_small_m_limit(), BLAS above
  kOwn,    // own weight-streaming kernel (any m; best for small m)
  kBlas,   // OpenBLAS cblas_sgemm (bf16 weights widened to fp32 per panel)
};

// A weight matrix view: [n, k] row-major with row stride ld (elements), storage dtype f32 or bf16.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t n = 0, k = 0, ld = 0;
};

// y [m, ldy] receives m x w.n outputs (y[i*ldy + j]); x [m, ldx]. Accumulate adds into y when true.
// Runs on the OpenMP threads of the caller (call it outside parallel regions); the BLAS path keeps
// OpenBLAS single-threaded and splits N across OpenMP threads so the two pools never compete.
void gemm_xwt(const float* x, int64_t m, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
              bool accumulate = false, GemmPath path = GemmPath::kAuto);

// One product of a grouped call: y = x W^T (+ y when accumulate).
struct GemmProblem {
  const float* x = nullptr;
  int64_t m = 0, ldx = 0;
  WeightView w;
  float* y = nullptr;
  int64_t ldy = 0;
  bool accumulate = false;
};
// Runs many independent products (the touched experts of a MoE layer, or projections sharing an
// input) in ONE parallel region over all their weight-row blocks, so a decode step pays one fork/
// join per group instead of one per matrix. Problems with m above gemm_small_m_limit() go through
// gemm_xwt's BLAS path one after another.
void gemm_xwt_grouped(const GemmProblem* problems, int64_t count);

// The m at or below which kAuto takes the own kernel (measured crossover; see docs/engine.md).
int64_t gemm_small_m_limit();
void set_gemm_small_m_limit(int64_t m);

// float64 reference for tests: y = x W^T.
void gemm_xwt_ref(const float* x, int64_t m, int64_t ldx, const WeightView& w, double* y);

// Makes OpenBLAS single-threaded once (idempotent). Called by gemm_xwt; exposed for benchmarks.
void blas_single_threaded();

}  // namespace dsbench::kernels
