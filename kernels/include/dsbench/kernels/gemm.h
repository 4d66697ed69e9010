// Linear-layer GEMM for the engine: y[m, n] = sum_k x[m, k] * W[n, k] (W stored [N, K] row-major,
// as a torch Linear weight), fp32 activations, weights in fp32 or bf16, fp32 accumulation.
// Two paths: an own AVX-512 small-M kernel (decode: streams each weight row once for all M rows
// of x) and OpenBLAS sgemm (prefill: bf16 weights are widened panel by panel first).
#pragma once

#include <cstdint>
#include <string>

#include "dsbench/kernels/dtype.h"

namespace dsbench::kernels {

enum class GemmPath {
  kAuto,   // own kernel for m <= gemm_small_m_limit() (kRows) or 128 (kPanel16), BLAS above;
           // kRows with at most 128 rows (n) take BLAS from m = 5 (measured crossover)
  kOwn,    // own weight-streaming kernel (any m; best for small m)
  kBlas,   // OpenBLAS cblas_sgemm (bf16 weights widened to fp32 per panel)
};

// How a weight matrix is laid out in memory.
enum class WeightLayout {
  kRows,     // [n, k] row-major, row stride ld (elements): the torch Linear layout
  // bf16 only. Rows in panels of 16; panel p holds rows [16p, 16p+16) as k/2 pairs of columns,
  // each pair 32 values: lane j's 32-bit word = (row 16p+j, col 2q) low | (row 16p+j, col 2q+1)
  // high. One 64-byte load is 2 columns x 16 rows, widened with one shift and one mask, and a
  // matrix is read as one sequential stream. ld = elements per panel (16 * k rounded up to
  // even); rows past n in the last panel and the pad column are zero.
  kPanel16,
};

// A weight matrix view: [n, k], storage dtype f32 or bf16, in `layout` (kRows: row stride ld).
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t n = 0, k = 0, ld = 0;
  WeightLayout layout = WeightLayout::kRows;
};

// kPanel16 storage: elements (uint16) of an [n, k] matrix, and packing from row-major bf16.
inline int64_t panel16_stride(int64_t k) { return 16 * ((k + 1) / 2 * 2); }  // elements per panel
inline int64_t panel16_elems(int64_t n, int64_t k) { return (n + 15) / 16 * panel16_stride(k); }
void pack_panel16(const uint16_t* rows, int64_t n, int64_t k, int64_t ld, uint16_t* out);
// Element (r, c) of a kPanel16 matrix whose panels start at `panels`.
inline uint16_t panel16_at(const uint16_t* panels, int64_t k, int64_t r, int64_t c) {
  return panels[(r / 16) * panel16_stride(k) + (c / 2) * 32 + (r % 16) * 2 + (c % 2)];
}

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
// join per group instead of one per matrix. Problems with m above the kAuto limit go through
// gemm_xwt's BLAS path one after another.
void gemm_xwt_grouped(const GemmProblem* problems, int64_t count);

// The m at or below which kAuto takes the own kernel over kRows views (measured crossover; see
// docs/engine.md); over kPanel16 views the limit is 128.
int64_t gemm_small_m_limit();
void set_gemm_small_m_limit(int64_t m);

// float64 reference for tests: y = x W^T.
void gemm_xwt_ref(const float* x, int64_t m, int64_t ldx, const WeightView& w, double* y);

// Makes OpenBLAS single-threaded once (idempotent). Called by gemm_xwt; exposed for benchmarks.
void blas_single_threaded();

// The OpenBLAS core (kernel set) chosen when the library loaded, e.g. "SkylakeX" or "Haswell".
std::string blas_core_name();
// OpenBLAS picks its kernels by CPU model when it loads; on a CPU newer than the installed
// OpenBLAS knows, it falls back to its generic SSE3 core, "Prescott". Then this returns the core
// the CPU's instruction set supports ("SkylakeX" with AVX-512 F/BW/DQ/VL, "Haswell" with AVX2 and
// FMA), to be set as OPENBLAS_CORETYPE before the library loads; otherwise nullptr.
const char* blas_core_for_unknown_cpu();

}  // namespace dsbench::kernels
