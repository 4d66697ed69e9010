// Linear-layer GEMM y = x W^T: own AVX-512 weight-streaming kernel for small m (decode) and
// OpenBLAS sgemm for large m (prefill), with fp32 or bf16 weight storage.
#include "dsbench/kernels/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <stdexcept>
#include <vector>

#include "simd.h"

namespace dsbench::kernels {
namespace {

// Crossover measured on the 2-core Cascade Lake development host (docs/engine.md, e2e `gemm`):
// for a bf16 [2048 x 512] slab the own kernel wins through m = 32 (5.0 ms vs 6.1 ms at m = 32,
// 0.9 ms vs 1.6 ms at m = 1); sgemm on the widened panel wins from m = 64 (6.5 ms vs 9.2 ms).
std::atomic<int64_t> g_small_m_limit{32};
// Over kPanel16 weights the own kernel beats widen + sgemm through m = 128 (bf16 [2048 x 512],
// own/BLAS: 1.09/1.56 ms at m = 64, 1.95/2.95 at m = 128, 4.46/3.64 at m = 256).
constexpr int64_t kPanelOwnMaxM = 128;

// Row-major weights with at most this many rows go to BLAS from m = 5 on: the transposed-x kernel
// transposes x first, which a short W does not amortise (fp32 [32 x 512], m = 16, the MoE router:
// own 12.8 us, BLAS 5.4 us; [128 x 512]: 25 vs 19 us; [512 x 512]: 71 vs 115 us).
constexpr int64_t kXtMinRows = 128;

// The largest m kAuto gives the own kernel for this view's layout.
int64_t own_max_m(const WeightView& w) {
  return w.layout == WeightLayout::kPanel16 ? kPanelOwnMaxM : g_small_m_limit.load(std::memory_order_relaxed);
}

// The own row-major kernel's register tile: kNr weight rows x kMr rows of x.
constexpr int64_t kNr = 4, kMr = 4;

GemmPath auto_path(int64_t m, const WeightView& w) {
  if (m > own_max_m(w)) return GemmPath::kBlas;
  if (w.layout == WeightLayout::kRows && m > kMr && w.n <= kXtMinRows) return GemmPath::kBlas;
  return GemmPath::kOwn;
}

void check_view(const WeightView& w, const char* who) {
  if (w.dtype != DType::kF32 && w.dtype != DType::kBF16)
    throw std::invalid_argument(std::string(who) + ": weights must be fp32 or bf16");
  if (w.layout == WeightLayout::kPanel16 && (w.dtype != DType::kBF16 || w.ld != panel16_stride(w.k)))
    throw std::invalid_argument(std::string(who) + ": a kPanel16 view must be bf16 with ld = panel16_stride(k)");
}

#if defined(__AVX512F__)
inline __m512 load_w(const uint16_t* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline __m512 load_w(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load_w_mask(const uint16_t* p, __mmask16 mk) {
  __m256i h = _mm256_maskz_loadu_epi16(mk, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline __m512 load_w_mask(const float* p, __mmask16 mk) { return _mm512_maskz_loadu_ps(mk, p); }

// MR rows of x against NR rows of W; all MR*NR dot products kept in registers over k.
template <int MR, int NR, class WT>
inline void micro(const float* x, int64_t ldx, const WT* w, int64_t ldw, int64_t k, float* y,
                  int64_t ldy, bool acc) {
  __m512 c[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i][j] = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + 16 <= k; kk += 16) {
    __m512 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = load_w(w + j * ldw + kk);
    for (int i = 0; i < MR; ++i) {
      __m512 xv = _mm512_loadu_ps(x + i * ldx + kk);
      for (int j = 0; j < NR; ++j) c[i][j] = _mm512_fmadd_ps(xv, wv[j], c[i][j]);
    }
  }
  if (kk < k) {
    const __mmask16 mk = detail::first_lanes(k - kk);
    __m512 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = load_w_mask(w + j * ldw + kk, mk);
    for (int i = 0; i < MR; ++i) {
      __m512 xv = _mm512_maskz_loadu_ps(mk, x + i * ldx + kk);
      for (int j = 0; j < NR; ++j) c[i][j] = _mm512_fmadd_ps(xv, wv[j], c[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float v = _mm512_reduce_add_ps(c[i][j]);
      y[i * ldy + j] = acc ? y[i * ldy + j] + v : v;
    }
}
#else
inline float wval(const uint16_t* p) { return bf16::to_float(*p); }
inline float wval(const float* p) { return *p; }
template <int MR, int NR, class WT>
inline void micro(const float* x, int64_t ldx, const WT* w, int64_t ldw, int64_t k, float* y,
                  int64_t ldy, bool acc) {
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t kk = 0; kk < k; ++kk) s += x[i * ldx + kk] * wval(w + j * ldw + kk);
      y[i * ldy + j] = acc ? y[i * ldy + j] + s : s;
    }
}
#endif

template <int NR, class WT>
inline void micro_m(int mr, const float* x, int64_t ldx, const WT* w, int64_t ldw, int64_t k,
                    float* y, int64_t ldy, bool acc) {
  switch (mr) {
    case 4: micro<4, NR>(x, ldx, w, ldw, k, y, ldy, acc); break;
    case 3: micro<3, NR>(x, ldx, w, ldw, k, y, ldy, acc); break;
    case 2: micro<2, NR>(x, ldx, w, ldw, k, y, ldy, acc); break;
    default: micro<1, NR>(x, ldx, w, ldw, k, y, ldy, acc); break;
  }
}

constexpr int64_t kMinParallelWork = int64_t(1) << 16;

#if defined(__AVX512F__)
// m = 1 against 16 weight rows: 16 dot products in registers, then one transpose-add tree instead
// of 16 horizontal reductions (at k = 512 those cost as much as the streaming loop itself).
template <class WT>
void gemv16(const float* x, const WT* w, int64_t ldw, int64_t k, float* y, bool acc) {
  __m512 a[16];
  for (int j = 0; j < 16; ++j) a[j] = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + 16 <= k; kk += 16) {
    const __m512 xv = _mm512_loadu_ps(x + kk);
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(xv, load_w(w + j * ldw + kk), a[j]);
  }
  if (kk < k) {
    const __mmask16 mk = detail::first_lanes(k - kk);
    const __m512 xv = _mm512_maskz_loadu_ps(mk, x + kk);
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(xv, load_w_mask(w + j * ldw + kk, mk), a[j]);
  }
  __m512 c[8], d[4];
  for (int i = 0; i < 8; ++i)
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)
    d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
  const __m512 u = _mm512_add_ps(_mm512_unpacklo_ps(d[0], d[1]), _mm512_unpackhi_ps(d[0], d[1]));
  const __m512 v = _mm512_add_ps(_mm512_unpacklo_ps(d[2], d[3]), _mm512_unpackhi_ps(d[2], d[3]));
  const __m512 f = _mm512_add_ps(
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u), _mm512_castps_pd(v))),
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u), _mm512_castps_pd(v))));
  alignas(64) float t[16];
  _mm512_store_ps(t, f);
  // Lane L, element q of f holds row 4q + L.
  for (int q = 0; q < 4; ++q)
    for (int l = 0; l < 4; ++l) {
      const float val = t[4 * l + q];
      y[4 * q + l] = acc ? y[4 * q + l] + val : val;
    }
}
#endif

// All m rows of x against one block of nr <= 4 weight rows (wp, row stride ldw); y at column 0.
template <class WT>
void block_tiles(const float* x, int64_t m, int64_t ldx, const WT* wp, int64_t ldw, int nr, int64_t k,
                 float* y, int64_t ldy, bool acc) {
  for (int64_t m0 = 0; m0 < m; m0 += kMr) {
    const int mr = int(std::min(kMr, m - m0));
    const float* xp = x + m0 * ldx;
    float* yp = y + m0 * ldy;
    switch (nr) {
      case 4: micro_m<4>(mr, xp, ldx, wp, ldw, k, yp, ldy, acc); break;
      case 3: micro_m<3>(mr, xp, ldx, wp, ldw, k, yp, ldy, acc); break;
      case 2: micro_m<2>(mr, xp, ldx, wp, ldw, k, yp, ldy, acc); break;
      default: micro_m<1>(mr, xp, ldx, wp, ldw, k, yp, ldy, acc); break;
    }
  }
}

// Widens `rows` bf16 weight rows to fp32 (exact).
void widen_rows(const uint16_t* w, int64_t rows, int64_t k, int64_t ldw, float* out);

// Rows [n0, n1) of W against all m rows of x. With more than one m tile, a bf16 block is widened
// once into an L1-resident fp32 buffer: re-widening it per m tile would put the conversion
// shuffles on the same port as the FMAs.
template <class WT>
void own_rows(const float* x, int64_t m, int64_t ldx, const WT* w, int64_t n0, int64_t n1, int64_t k,
              int64_t ldw, float* y, int64_t ldy, bool acc) {
  constexpr bool kWiden = std::is_same_v<WT, uint16_t>;
  thread_local std::vector<float> wide;
#if defined(__AVX512F__)
  if (m == 1)
    for (; n0 + 16 <= n1; n0 += 16) gemv16(x, w + n0 * ldw, ldw, k, y + n0, acc);
#endif
  for (int64_t b0 = n0; b0 < n1; b0 += kNr) {
    const int nr = int(std::min(kNr, n1 - b0));
    const WT* wsrc = w + b0 * ldw;
    if constexpr (kWiden) {
      if (m > kMr) {
        wide.resize(size_t(kNr * k));
        widen_rows(wsrc, nr, k, ldw, wide.data());
        block_tiles(x, m, ldx, wide.data(), k, nr, k, y + b0, ldy, acc);
        continue;
      }
    }
    block_tiles(x, m, ldx, wsrc, ldw, nr, k, y + b0, ldy, acc);
  }
}

#if defined(__AVX512F__)
// Medium m (4 < m <= 32): x is transposed once to [k][16*MV] so a 12-row block of widened weights
// is broadcast element by element against 16-row vectors of x; 12 x MV accumulators stay in
// registers and no horizontal reduction is needed (the 4x4 dot-product tile needs one per output).
constexpr int64_t kXtRows = 12;
template <int MV>
void xt_block(const float* xt, int64_t mp, const float* wide, int64_t ldw, int64_t k, int nr, int64_t m,
              float* y, int64_t ldy, bool acc) {
  __m512 c[kXtRows][MV];
#pragma GCC unroll 12
  for (int j = 0; j < kXtRows; ++j)
    for (int v = 0; v < MV; ++v) c[j][v] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    __m512 xv[MV];
    for (int v = 0; v < MV; ++v) xv[v] = _mm512_loadu_ps(xt + kk * mp + v * 16);
#pragma GCC unroll 12
    for (int j = 0; j < kXtRows; ++j) {
      const __m512 wb = _mm512_set1_ps(wide[j * ldw + kk]);
      for (int v = 0; v < MV; ++v) c[j][v] = _mm512_fmadd_ps(wb, xv[v], c[j][v]);
    }
  }
  alignas(64) float tmp[16 * MV];
  for (int j = 0; j < nr; ++j) {
    for (int v = 0; v < MV; ++v) _mm512_store_ps(tmp + v * 16, c[j][v]);
    for (int64_t i = 0; i < m; ++i) y[i * ldy + j] = acc ? y[i * ldy + j] + tmp[i] : tmp[i];
  }
}

void widen_rows(const uint16_t* w, int64_t rows, int64_t k, int64_t ldw, float* out);

template <class WT>
void own_gemm_xt(const float* x, int64_t m, int64_t ldx, const WT* w, int64_t n, int64_t k, int64_t ldw,
                 float* y, int64_t ldy, bool acc) {
  const int mv = m > 16 ? 2 : 1;
  const int64_t mp = 16 * mv;
  // xt [k][mp]: column kk of x as one contiguous row (rows past m zero). Written row by row, so
  // the stores are sequential; reads come from m row streams (a column-at-a-time write of
  // strided scalars cost more than the product at m = 16, n = 32).
  thread_local std::vector<float> xt;
  xt.resize(static_cast<size_t>(k * mp));
  for (int64_t kk = 0; kk < k; ++kk) {
    float* row = xt.data() + kk * mp;
    for (int64_t i = 0; i < m; ++i) row[i] = x[i * ldx + kk];
    for (int64_t i = m; i < mp; ++i) row[i] = 0.0f;
  }
  const float* xtp = xt.data();  // this thread's buffer, read by every thread below
  const int64_t nblocks = (n + kXtRows - 1) / kXtRows;
#pragma omp parallel for schedule(static) if (m * n * k >= (int64_t(1) << 16))
  for (int64_t b = 0; b < nblocks; ++b) {
    thread_local std::vector<float> wide;
    const int64_t n0 = b * kXtRows;
    const int nr = int(std::min(kXtRows, n - n0));
    // fp32 rows of a full block are read in place; bf16 rows, and a short last block (its missing
    // rows zero), go through the buffer.
    const float* rows = nullptr;
    int64_t ldr = k;
    if constexpr (std::is_same_v<WT, float>) {
      if (nr == kXtRows) {
        rows = w + n0 * ldw;
        ldr = ldw;
      }
    }
    if (!rows) {
      wide.resize(size_t(kXtRows * k));
      if constexpr (std::is_same_v<WT, uint16_t>) {
        widen_rows(w + n0 * ldw, nr, k, ldw, wide.data());
      } else {
        for (int j = 0; j < nr; ++j) std::memcpy(wide.data() + j * k, w + (n0 + j) * ldw, size_t(k) * 4);
      }
      std::fill(wide.begin() + nr * k, wide.end(), 0.0f);
      rows = wide.data();
    }
    if (mv == 1) xt_block<1>(xtp, mp, rows, ldr, k, nr, m, y + n0, ldy, acc);
    else xt_block<2>(xtp, mp, rows, ldr, k, nr, m, y + n0, ldy, acc);
  }
}
#endif

template <class WT>
void own_gemm(const float* x, int64_t m, int64_t ldx, const WT* w, int64_t n, int64_t k,
              int64_t ldw, float* y, int64_t ldy, bool acc) {
  const int64_t nblocks = (n + 15) / 16;
  // Each thread owns whole weight-row blocks: a block of W is read from memory once and used
  // for every row of x while it sits in L1. Tiny products stay on one thread: a parallel region
  // costs microseconds, more than they take.
#pragma omp parallel for schedule(static) if (m * n * k >= kMinParallelWork)
  for (int64_t b = 0; b < nblocks; ++b)
    own_rows(x, m, ldx, w, b * 16, std::min(n, (b + 1) * 16), k, ldw, y, ldy, acc);
}

void widen_rows(const uint16_t* w, int64_t rows, int64_t k, int64_t ldw, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* src = w + r * ldw;
    float* dst = out + r * k;
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= k; i += 16) _mm512_storeu_ps(dst + i, load_w(src + i));
#endif
    for (; i < k; ++i) dst[i] = bf16::to_float(src[i]);
  }
}

void blas_gemm(const float* x, int64_t m, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
               bool acc) {
  blas_single_threaded();
  const int64_t n = w.n, k = w.k;
  const float beta = acc ? 1.0f : 0.0f;
  // bf16 panels are widened in chunks small enough to stay in L2 while sgemm consumes them.
  const int64_t panel = w.dtype == DType::kBF16 ? std::max<int64_t>(16, (256 * 1024) / (4 * k)) : n;
#pragma omp parallel if (m * n * k >= kMinParallelWork)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    // Split N evenly across threads in multiples of 16 columns.
    const int64_t per = ((n + nt - 1) / nt + 15) / 16 * 16;
    const int64_t lo = std::min(n, per * t), hi = std::min(n, lo + per);
    if (w.dtype == DType::kF32) {
      if (hi > lo)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(hi - lo), int(k), 1.0f, x,
                    int(ldx), static_cast<const float*>(w.data) + lo * w.ld, int(w.ld), beta,
                    y + lo, int(ldy));
    } else {
      std::vector<float> buf(size_t(std::min(panel, std::max<int64_t>(hi - lo, 1)) * k));
      const uint16_t* wb = static_cast<const uint16_t*>(w.data);
      for (int64_t p0 = lo; p0 < hi; p0 += panel) {
        const int64_t rows = std::min(panel, hi - p0);
        widen_rows(wb + p0 * w.ld, rows, k, w.ld, buf.data());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(rows), int(k), 1.0f, x,
                    int(ldx), buf.data(), int(k), beta, y + p0, int(ldy));
      }
    }
  }
}


// ---- kPanel16 (bf16 panels of 16 rows, column pairs interleaved) ----------------------------------

#if defined(__AVX512F__)
// MR rows of x against NP consecutive panels (16*NP output columns, ncols of them valid). Each
// 64-byte load is two columns of 16 rows: the shift gives the even column, the mask the odd one,
// so the weights stream sequentially and every output stays a vector lane (no reductions).
template <int MR, int NP>
void panel_tile(const float* x, int64_t ldx, const uint16_t* w, int64_t pstride, int64_t k, float* y,
                int64_t ldy, int64_t ncols, bool acc) {
  __m512 c[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int p = 0; p < NP; ++p) c[i][p] = _mm512_setzero_ps();
  const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
  const int64_t kp = k / 2;
  for (int64_t q = 0; q < kp; ++q) {
    __m512 we[NP], wo[NP];
    // Each panel is a stream of its own; the hardware fetches it into L2 but the L1 misses stall
    // the FMAs (measured: +25-30% with this prefetch, 8 column pairs = 512 bytes ahead).
    for (int p = 0; p < NP; ++p) _mm_prefetch(reinterpret_cast<const char*>(w + p * pstride + (q + 8) * 32), _MM_HINT_T0);
    for (int p = 0; p < NP; ++p) {
      const __m512i v = _mm512_loadu_si512(w + p * pstride + q * 32);
      we[p] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      wo[p] = _mm512_castsi512_ps(_mm512_and_si512(v, hi));
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 xe = _mm512_set1_ps(x[i * ldx + 2 * q]);
      const __m512 xo = _mm512_set1_ps(x[i * ldx + 2 * q + 1]);
      for (int p = 0; p < NP; ++p) {
        c[i][p] = _mm512_fmadd_ps(xe, we[p], c[i][p]);
        c[i][p] = _mm512_fmadd_ps(xo, wo[p], c[i][p]);
      }
    }
  }
  if (k & 1) {  // the last column has no partner (its pad is zero)
    for (int p = 0; p < NP; ++p) {
      const __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(w + p * pstride + kp * 32), 16));
      for (int i = 0; i < MR; ++i) c[i][p] = _mm512_fmadd_ps(_mm512_set1_ps(x[i * ldx + k - 1]), we, c[i][p]);
    }
  }
  for (int p = 0; p < NP; ++p) {
    const int64_t left = ncols - 16 * p;
    if (left <= 0) break;
    const __mmask16 mk = detail::first_lanes(left);
    for (int i = 0; i < MR; ++i) {
      float* yp = y + i * ldy + 16 * p;
      __m512 v = c[i][p];
      if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, yp));
      _mm512_mask_storeu_ps(yp, mk, v);
    }
  }
}

using PanelTileFn = void (*)(const float*, int64_t, const uint16_t*, int64_t, int64_t, float*, int64_t,
                             int64_t, bool);
template <int NP, int... I>
constexpr std::array<PanelTileFn, sizeof...(I)> panel_tiles(std::integer_sequence<int, I...>) {
  return {&panel_tile<I + 1, NP>...};
}
constexpr auto kTilesNp4 = panel_tiles<4>(std::make_integer_sequence<int, 4>{});
constexpr auto kTilesNp2 = panel_tiles<2>(std::make_integer_sequence<int, 12>{});
constexpr auto kTilesNp1 = panel_tiles<1>(std::make_integer_sequence<int, 12>{});
#else
// Portable: MR rows of x against one panel (16 output columns, ncols of them valid), with the
// AVX-512 tile's column-pair trick in GCC/Clang vector types of 8 lanes, which the compiler maps
// onto whatever vector registers the target has. Each 32-bit word of a panel holds one column's
// pair (2q, 2q+1): its low half widens to the even column, its high half to the odd one.
using detail::v8f;
using detail::v8u;
template <int MR>
void panel_tile_portable(const float* x, int64_t ldx, const uint16_t* pan, int64_t k, float* y,
                         int64_t ldy, int64_t ncols, bool acc) {
  v8f c[MR][2];
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = v8f{};
  const int64_t kp = (k + 1) / 2;
  for (int64_t q = 0; q < kp; ++q) {
    // As in the AVX-512 tile: the panel is a stream of its own, fetched 8 column pairs ahead.
    __builtin_prefetch(pan + (q + 8) * 32);
    v8u u[2];
    detail::load8(pan + q * 32, u[0]);
    detail::load8(pan + q * 32 + 16, u[1]);
    v8f we[2], wo[2];
    for (int h = 0; h < 2; ++h) detail::widen_pairs(u[h], we[h], wo[h]);
    for (int i = 0; i < MR; ++i) {
      const float xe = x[i * ldx + 2 * q];
      const float xo = 2 * q + 1 < k ? x[i * ldx + 2 * q + 1] : 0.0f;  // an odd k's pad is zero
      for (int h = 0; h < 2; ++h) c[i][h] = c[i][h] + xe * we[h] + xo * wo[h];
    }
  }
  for (int i = 0; i < MR; ++i) {
    float t[16];
    detail::store8(t, c[i][0]);
    detail::store8(t + 8, c[i][1]);
    for (int64_t j = 0; j < ncols; ++j) y[i * ldy + j] = acc ? y[i * ldy + j] + t[j] : t[j];
  }
}
#endif

// Panels per work item and rows per block: m <= 4 takes 4 panels (16 accumulators; memory-bound
// anyway), larger m 2 panels against blocks of up to 12 rows (24 accumulators + 4 widened weight
// vectors + 2 broadcasts = 30 registers). With 2 panels every broadcast feeds 2 register-only
// FMAs, and the 4 widening ops per column pair share ports 0/5 with 48 FMAs. (One panel against
// 16 rows needs an FMA with a memory broadcast per output vector: un-laminated, the front end
// caps it near half the FMA rate.)
inline int64_t panels_per_item(int64_t m) { return m <= 4 ? 4 : 2; }
inline int64_t rows_per_block(int64_t m) { return m <= 4 ? 4 : 12; }

// All m rows of x against panels [p0, p1) of a kPanel16 view: output columns [16*p0, 16*p1) ∩ [0, n).
void panel_rows(const float* x, int64_t m, int64_t ldx, const WeightView& w, int64_t p0, int64_t p1, float* y,
                int64_t ldy, bool acc) {
  const uint16_t* base = static_cast<const uint16_t*>(w.data);
#if defined(__AVX512F__)
  // Balanced row blocks (16 rows: 8 + 8, not 12 + 4: a short block has too few accumulators).
  const int64_t np = panels_per_item(m), nblk = (m + rows_per_block(m) - 1) / rows_per_block(m),
                mr_max = (m + nblk - 1) / nblk;
  for (int64_t pp = p0; pp < p1; pp += np) {
    const int64_t npan = std::min(np, p1 - pp);
    const int64_t ncols = std::min(w.n - 16 * pp, 16 * npan);
    for (int64_t i0 = 0; i0 < m; i0 += mr_max) {
      const int64_t mr = std::min(mr_max, m - i0);
      // A short last group of panels runs as single panels.
      const PanelTileFn f = npan != np ? nullptr : np == 4 ? kTilesNp4[size_t(mr - 1)] : kTilesNp2[size_t(mr - 1)];
      if (f) {
        f(x + i0 * ldx, ldx, base + pp * w.ld, w.ld, w.k, y + i0 * ldy + 16 * pp, ldy, ncols, acc);
        continue;
      }
      for (int64_t q = 0; q < npan; ++q)
        kTilesNp1[size_t(mr - 1)](x + i0 * ldx, ldx, base + (pp + q) * w.ld, w.ld, w.k, y + i0 * ldy + 16 * (pp + q),
                                  ldy, std::min<int64_t>(16, w.n - 16 * (pp + q)), acc);
    }
  }
#else
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t ncols = std::min<int64_t>(16, w.n - 16 * p);
    const uint16_t* pan = base + p * w.ld;
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      const int64_t mr = std::min<int64_t>(4, m - i0);
      const float* xp = x + i0 * ldx;
      float* yp = y + i0 * ldy + 16 * p;
      switch (mr) {
        case 4: panel_tile_portable<4>(xp, ldx, pan, w.k, yp, ldy, ncols, acc); break;
        case 3: panel_tile_portable<3>(xp, ldx, pan, w.k, yp, ldy, ncols, acc); break;
        case 2: panel_tile_portable<2>(xp, ldx, pan, w.k, yp, ldy, ncols, acc); break;
        default: panel_tile_portable<1>(xp, ldx, pan, w.k, yp, ldy, ncols, acc); break;
      }
    }
  }
#endif
}

// Panels [p0, p1) widened to fp32 as W^T: out[c][16*(p - p0) + j] = W[16p + j][c], row stride ldo.
void widen_panels_t(const WeightView& w, int64_t p0, int64_t p1, float* out, int64_t ldo) {
  const uint16_t* base = static_cast<const uint16_t*>(w.data);
  for (int64_t p = p0; p < p1; ++p) {
    const uint16_t* pan = base + p * w.ld;
    float* o = out + 16 * (p - p0);
#if defined(__AVX512F__)
    const int64_t kp = w.k / 2;
    const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
    for (int64_t q = 0; q < kp; ++q) {
      const __m512i v = _mm512_loadu_si512(pan + q * 32);
      _mm512_storeu_ps(o + (2 * q) * ldo, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
      _mm512_storeu_ps(o + (2 * q + 1) * ldo, _mm512_castsi512_ps(_mm512_and_si512(v, hi)));
    }
    if (w.k & 1)
      _mm512_storeu_ps(o + (w.k - 1) * ldo,
                       _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(pan + kp * 32), 16)));
#else
    for (int64_t c = 0; c < w.k; ++c)
      for (int64_t j = 0; j < 16; ++j) o[c * ldo + j] = bf16::to_float(panel16_at(pan, w.k, j, c));
#endif
  }
}

// Large m over a kPanel16 view: groups of panels widened into an L2-sized fp32 W^T block each,
// then sgemm without transposition; threads split the groups.
void blas_gemm_panels(const float* x, int64_t m, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
                      bool acc) {
  blas_single_threaded();
  const int64_t npan = (w.n + 15) / 16;
  const int64_t group = std::max<int64_t>(1, (256 * 1024) / (4 * 16 * std::max<int64_t>(1, w.k)));
  const int64_t ngroups = (npan + group - 1) / group;
  const float beta = acc ? 1.0f : 0.0f;
#pragma omp parallel if (m * w.n * w.k >= kMinParallelWork)
  {
    std::vector<float> buf(size_t(w.k * 16 * group));
#pragma omp for schedule(static)
    for (int64_t g = 0; g < ngroups; ++g) {
      const int64_t p0 = g * group, p1 = std::min(npan, p0 + group);
      const int64_t ldo = 16 * (p1 - p0);
      widen_panels_t(w, p0, p1, buf.data(), ldo);
      const int64_t cols = std::min(w.n, 16 * p1) - 16 * p0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(cols), int(w.k), 1.0f, x, int(ldx),
                  buf.data(), int(ldo), beta, y + 16 * p0, int(ldy));
    }
  }
}

}  // namespace

void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? std::string(name) : std::string("unknown");
}

const char* blas_core_for_unknown_cpu() {
  if (blas_core_name() != "Prescott") return nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

void gemm_xwt_grouped(const GemmProblem* problems, int64_t count) {
  // Work items: 16 weight rows of one small-m problem each, or a few panels of a kPanel16 one (the
  // unit a thread streams). Items differ in cost (m differs per expert): threads take them
  // dynamically.
  constexpr int64_t kRowsPerItem = 16;
  struct Item {
    int32_t p;
    int64_t n0, n1;
  };
  std::vector<Item> items;
  double work = 0;
  for (int64_t i = 0; i < count; ++i) {
    const GemmProblem& q = problems[i];
    if (q.m <= 0 || q.w.n <= 0) continue;
    check_view(q.w, "gemm_xwt_grouped");
    if (q.m > own_max_m(q.w)) {
      gemm_xwt(q.x, q.m, q.ldx, q.w, q.y, q.ldy, q.accumulate, GemmPath::kBlas);
      continue;
    }
    if (q.w.layout == WeightLayout::kPanel16) {  // every small m: panel groups as items
      const int64_t npan = (q.w.n + 15) / 16, step = panels_per_item(q.m);
      for (int64_t p0 = 0; p0 < npan; p0 += step) items.push_back({int32_t(i), p0, std::min(npan, p0 + step)});
      work += double(q.m) * double(q.w.n) * double(q.w.k);
      continue;
    }
    if (q.m > kMr) {  // medium m: the transposed-x kernel or BLAS (auto_path), on its own
      gemm_xwt(q.x, q.m, q.ldx, q.w, q.y, q.ldy, q.accumulate, GemmPath::kAuto);
      continue;
    }
    for (int64_t n0 = 0; n0 < q.w.n; n0 += kRowsPerItem)
      items.push_back({int32_t(i), n0, std::min(q.w.n, n0 + kRowsPerItem)});
    work += double(q.m) * double(q.w.n) * double(q.w.k);
  }
  const int64_t n_items = int64_t(items.size());
#pragma omp parallel for schedule(dynamic, 1) if (work >= double(kMinParallelWork))
  for (int64_t it = 0; it < n_items; ++it) {
    const Item& t = items[size_t(it)];
    const GemmProblem& q = problems[t.p];
    if (q.w.layout == WeightLayout::kPanel16)
      panel_rows(q.x, q.m, q.ldx, q.w, t.n0, t.n1, q.y, q.ldy, q.accumulate);
    else if (q.w.dtype == DType::kF32)
      own_rows(q.x, q.m, q.ldx, static_cast<const float*>(q.w.data), t.n0, t.n1, q.w.k, q.w.ld, q.y, q.ldy,
               q.accumulate);
    else
      own_rows(q.x, q.m, q.ldx, static_cast<const uint16_t*>(q.w.data), t.n0, t.n1, q.w.k, q.w.ld, q.y,
               q.ldy, q.accumulate);
  }
}

int64_t gemm_small_m_limit() { return g_small_m_limit.load(std::memory_order_relaxed); }
void set_gemm_small_m_limit(int64_t m) { g_small_m_limit.store(m, std::memory_order_relaxed); }

void gemm_xwt(const float* x, int64_t m, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
              bool accumulate, GemmPath path) {
  check_view(w, "gemm_xwt");
  if (m <= 0 || w.n <= 0) return;
  if (path == GemmPath::kAuto) path = auto_path(m, w);
  if (w.layout == WeightLayout::kPanel16) {
    if (path == GemmPath::kBlas) return blas_gemm_panels(x, m, ldx, w, y, ldy, accumulate);
    const int64_t npan = (w.n + 15) / 16, step = panels_per_item(m), items = (npan + step - 1) / step;
#pragma omp parallel for schedule(static) if (m * w.n * w.k >= kMinParallelWork)
    for (int64_t it = 0; it < items; ++it)
      panel_rows(x, m, ldx, w, it * step, std::min(npan, (it + 1) * step), y, ldy, accumulate);
    return;
  }
  if (path == GemmPath::kBlas) return blas_gemm(x, m, ldx, w, y, ldy, accumulate);
#if defined(__AVX512F__)
  if (m > kMr && m <= 32) {
    if (w.dtype == DType::kF32)
      own_gemm_xt(x, m, ldx, static_cast<const float*>(w.data), w.n, w.k, w.ld, y, ldy, accumulate);
    else
      own_gemm_xt(x, m, ldx, static_cast<const uint16_t*>(w.data), w.n, w.k, w.ld, y, ldy, accumulate);
    return;
  }
#endif
  if (w.dtype == DType::kF32)
    own_gemm(x, m, ldx, static_cast<const float*>(w.data), w.n, w.k, w.ld, y, ldy, accumulate);
  else
    own_gemm(x, m, ldx, static_cast<const uint16_t*>(w.data), w.n, w.k, w.ld, y, ldy, accumulate);
}

void pack_panel16(const uint16_t* rows, int64_t n, int64_t k, int64_t ld, uint16_t* out) {
  const int64_t ps = panel16_stride(k), npan = (n + 15) / 16;
  std::fill(out, out + npan * ps, uint16_t(0));
  for (int64_t r = 0; r < n; ++r) {
    uint16_t* pan = out + (r / 16) * ps + (r % 16) * 2;
    for (int64_t c = 0; c < k; ++c) pan[(c / 2) * 32 + (c % 2)] = rows[r * ld + c];
  }
}

void gemm_xwt_ref(const float* x, int64_t m, int64_t ldx, const WeightView& w, double* y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < w.n; ++j) {
      double s = 0;
      for (int64_t kk = 0; kk < w.k; ++kk) {
        double wv = w.layout == WeightLayout::kPanel16
                        ? double(bf16::to_float(panel16_at(static_cast<const uint16_t*>(w.data), w.k, j, kk)))
                    : w.dtype == DType::kF32
                        ? double(static_cast<const float*>(w.data)[j * w.ld + kk])
                        : double(bf16::to_float(static_cast<const uint16_t*>(w.data)[j * w.ld + kk]));
        s += double(x[i * ldx + kk]) * wv;
      }
      y[i * w.n + j] = s;
    }
}

}  // namespace dsbench::kernels
