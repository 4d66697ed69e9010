// Internals shared by the CPU decode-attention kernels: row loads with fused bf16->fp32
// conversion, a vectorisable exp, the flash-decoding split plan and combine, a register-tiled
// fp32 GEMM, and the decode core that GQA/MHA/MQA and MLA-absorbed share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/dtype.h"
#include "fast_exp.h"

// Fully unrolls the fixed-size loops of register tiles, so that accumulator arrays stay in
// registers.
#define DSB_UNROLL _Pragma("GCC unroll 16")

// Small helpers of the hot loops, inlined whatever the caller's size: GCC outlined them from the
// larger lanes item loop (a call per dim pair for the 16-way reduction).
#if defined(__GNUC__)
#define DSB_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define DSB_ALWAYS_INLINE inline
#endif

#ifndef DSBENCH_PF_LEVEL
#define DSBENCH_PF_LEVEL 2
#endif

namespace dsbench::kernels::detail {

// A per-thread buffer that only grows: fresh multi-MiB allocations would be mmap'd and
// page-faulted on every call, which costs more than a decode step at short contexts.
// Slots 0..7 are distinct buffers; a kernel uses each slot for one purpose. 64-byte aligned:
// vector loads that straddle cache lines run at half speed.
struct AlignedBuf {
  float* p = nullptr;
  size_t n = 0;
  ~AlignedBuf() { std::free(p); }
};
inline float* workspace(int slot, size_t n) {
  static thread_local AlignedBuf bufs[8];
  AlignedBuf& b = bufs[slot];
  if (b.n < n) {
    std::free(b.p);
    const size_t bytes = (std::max<size_t>(n, 16) * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.p) throw std::bad_alloc();
    b.n = n;
  }
  return b.p;
}

// Element pointer of (block, slot, head) in a paged view.
inline const void* row_ptr(const PagedView& v, int32_t block, int slot, int head) {
  const int64_t off = int64_t(block) * v.block_stride + int64_t(slot) * v.token_stride +
                      int64_t(head) * v.head_stride;
  return static_cast<const char*>(v.base) + off * dtype_bytes(v.dtype);
}

// One software prefetch (L2 by default). On x86 an asm statement: GCC deletes loops that hold
// nothing but __builtin_prefetch (-ffinite-loops treats them as side-effect free).
inline void prefetch_line(const void* p) {
#if defined(__x86_64__) && DSBENCH_PF_LEVEL == 2
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__x86_64__) && DSBENCH_PF_LEVEL == 3
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, DSBENCH_PF_LEVEL);
#endif
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


// One unit of parallel work: tokens [t0, t1) of sequence b. Partial results (max m, sum l,
// unnormalised accumulator) of the splits of a sequence are merged by combine_splits.
struct WorkItem {
  int b;
  int64_t t0, t1;
};
// Splits every sequence into block-aligned chunks so that there are several items per thread
// (flash-decoding: batch 1 still uses every core), never below min_tokens per chunk. Fills
// `items` (reused: no allocation once it has grown).
void plan_splits(const DecodeBatch& s, int64_t min_tokens, std::vector<WorkItem>& items);

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

// Rows of the (chunk, kv head) step computed next, for software prefetch: n K rows of k_bytes,
// k_stride bytes apart, and as many V rows (v null: V lies inside the K row).
struct PfRows {
  const char* k = nullptr;
  const char* v = nullptr;
  int64_t k_stride = 0, v_stride = 0, k_bytes = 0, v_bytes = 0;
  int n = 0;
};

// PfRows prefetched a few lines after each register tile of the products that run before the
// step reads them. Issued in one burst at the start of a step, hundreds of prefetches stalled the
// core on its fill buffers; spread this way they cost a few instructions per tile.
struct TilePrefetch {
  PfRows rows;
  int per_tile = 0;  // lines issued after each tile
  int which = 0;     // 0: K rows, 1: V rows, 2: done
  int row = 0;
  const char* line = nullptr;  // next line of the current row (null: start the row)

  // Spreads the rows' lines over `tiles` tile calls.
  TilePrefetch(const PfRows& r, int64_t tiles) : rows(r) {
    // Lines a row of b bytes may span, whatever its alignment.
    auto span = [](int64_t b) { return b > 0 ? (b + 63) / 64 + 1 : 0; };
    const int64_t lines = int64_t(r.n) * (span(r.k_bytes) + (r.v ? span(r.v_bytes) : 0));
    per_tile = int(tiles > 0 ? (lines + tiles - 1) / tiles : lines);
    if (r.n <= 0 || r.k_bytes <= 0) which = 2;
  }
  DSB_ALWAYS_INLINE void issue() {
    for (int i = 0; i < per_tile && which < 2; ++i) {
      const char* r = which == 0 ? rows.k + int64_t(row) * rows.k_stride
                                 : rows.v + int64_t(row) * rows.v_stride;
      const int64_t bytes = which == 0 ? rows.k_bytes : rows.v_bytes;
      if (!line)
        line = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(r) & ~uintptr_t(63));
      prefetch_line(line);
      line += 64;
      if (line >= r + bytes) {
        line = nullptr;
        if (++row == rows.n) {
          row = 0;
          which = which == 0 && rows.v ? 1 : 2;
        }
      }
    }
  }
  // Whatever the tiles left.
  void finish() {
    per_tile = 1 << 30;
    issue();
  }
};

// C[i][j] (+)= sum_k A[i*sai + k*sak] * B[k*ldb + j] for i < M, j < N, k < K; all fp32.
// A is read by scalar broadcasts, so any strides work (A or A^T); B and C are row-major.
// Register-tiled (6 rows x 64 columns) with K blocked so that the B panel stays in L1.
// pf: lines issued after each tile (optional).
void gemm_bc(int M, int N, int K, const float* A, int64_t sai, int64_t sak, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate, TilePrefetch* pf = nullptr);
// The same product with B given already packed, as gemm_bc packs it per call: column blocks of 64
// (zero-padded), each K rows of 64 floats: Bp[(j / 64) * K * 64 + k * 64 + j % 64]; 64-byte
// aligned. For a B that many calls share (the large-G decode path's queries).
void gemm_bc_prepacked(int M, int N, int K, const float* A, int64_t sai, int64_t sak,
                       const float* Bp, float* C, int64_t ldc, bool accumulate,
                       TilePrefetch* pf = nullptr);
// Register tiles gemm_bc runs for an M x N x K product (for TilePrefetch).
inline int64_t gemm_bc_tiles(int M, int N, int K) {
  return int64_t((N + 63) / 64) * ((K + 63) / 64) * ((M + 5) / 6);
}
// Floats of a packed B of N columns and K rows.
inline int64_t packed_b_elems(int N, int K) { return int64_t((N + 63) / 64) * K * 64; }

// Dot product with fp32 accumulation, vectorised.
inline float dot(const float* __restrict a, const float* __restrict b, int n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// ---- decode core shared by GQA/MHA/MQA and MLA-absorbed ----------------------------------------
// Hkv cached heads; G query heads attend each (q head h -> kv head h / G). K rows have D
// elements, V rows Dv. MLA-absorbed is the case Hkv = 1, K = [c_KV | k_pe], V = c_KV (v_in_k).
struct DecodeCore {
  const DecodeBatch* seqs = nullptr;
  int Hkv = 0, G = 0, D = 0, Dv = 0;
  PagedView k, v;
  bool v_in_k = false;  // V row = the first Dv elements of the K row (v unused)
};

// Heads-vectorised path (scores as [tokens x heads] GEMMs) when there are many q heads per kv
// head; otherwise register tiles that serve all q heads of a kv head from one load of each row.
inline bool core_large_g(const DecodeCore& c) { return c.G >= 16 && c.G % 16 == 0; }

// The query layout decode_core expects, from q [batch, Hkv*G, D] (row stride ldq per head):
// scaled by `scale`; large-G: per (batch, kv head) Q^T [D][G] packed for gemm_bc_prepacked
// (packed_b_elems(G, D) floats each), else [batch, Hkv*G, D].
// Returns a workspace buffer (slot 3).
const float* core_prepare_q(const DecodeCore& c, const float* q, int64_t ldq, float scale);
// Floats core_prepare_q writes per sequence.
inline int64_t core_q_per_seq(const DecodeCore& c) {
  return core_large_g(c) ? int64_t(c.Hkv) * packed_b_elems(c.G, c.D) : int64_t(c.Hkv) * c.G * c.D;
}

// Attention of every sequence: out [batch, Hkv*G, Dv] (normalised). qp from core_prepare_q.
// Uses workspace slots 0, 1, 2, 6, 7 (callers may hold 3, 4, 5).
void decode_core(const DecodeCore& c, const float* qp, float* out);

// ---- the lanes path (attention_lanes.cpp): few q heads per kv head over a lanes K ----------------
// One item (as small_item over rows): m, l, acc [G*Hkv][Dv] partial results; scratch holds
// lanes_item_scratch(G, Dv) floats. TV: the V rows' element type (unused when V lies in K).
template <class TV>
void small_item_lanes(const DecodeCore& c, const WorkItem& it, const WorkItem* next, const float* q, float* m,
                      float* l, float* acc, float* scratch);
size_t lanes_item_scratch(int G, int Dv);
// kt[d * ldt + t] = fp32 of element d of token t < n, from a lanes K group start g (row length ldk).
void load_lanes_t(const uint16_t* g, int64_t ldk, int n, int D, float* kt, int64_t ldt);

}  // namespace dsbench::kernels::detail
