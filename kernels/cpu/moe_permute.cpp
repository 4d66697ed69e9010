// CPU token permutation (moe_permute.h): a parallel counting sort for the plan, row copies for
// dispatch, and a per-token weighted gather for combine (no atomics: each token owns its row).
#include "dsbench/kernels/moe_permute.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dsbench::kernels {

void moe_permute_plan(const int32_t* ids, int64_t n_tokens, int top_k, int n_experts,
                      MoePermutation* p) {
  if (n_tokens < 0 || top_k <= 0 || n_experts <= 0)
    throw std::invalid_argument("moe_permute_plan: bad shape");
  const int64_t n = n_tokens * top_k;
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < -1 || ids[i] >= n_experts)
      throw std::invalid_argument("moe_permute_plan: expert id " + std::to_string(ids[i]) +
                                  " at token " + std::to_string(i / top_k) + " outside [0, " +
                                  std::to_string(n_experts) + ")");
  }
  p->n_experts = n_experts;
  p->top_k = top_k;
  p->n_tokens = n_tokens;
  p->counts.assign(n_experts, 0);
  p->offsets.assign(n_experts + 1, 0);
  p->slot_row.assign(n, -1);

  // Each thread counts a contiguous chunk of slots; chunk-major prefix sums keep the result
  // stable (token order inside an expert) and identical for any thread count.
  const int nt = n >= (1 << 15) ? omp_get_max_threads() : 1;
  std::vector<int64_t> local(size_t(nt) * n_experts, 0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
    int64_t* c = local.data() + size_t(t) * n_experts;
    for (int64_t i = lo; i < hi; ++i)
      if (ids[i] >= 0) ++c[ids[i]];
#pragma omp barrier
#pragma omp single
    {
      int64_t run = 0;
      for (int e = 0; e < n_experts; ++e) {
        p->offsets[e] = run;
        for (int u = 0; u < nt; ++u) {
          int64_t v = local[size_t(u) * n_experts + e];
          local[size_t(u) * n_experts + e] = run;
          run += v;
          p->counts[e] += v;
        }
      }
      p->offsets[n_experts] = run;
      p->row_token.assign(run, 0);
    }
    for (int64_t i = lo; i < hi; ++i) {
      if (ids[i] < 0) continue;
      int64_t r = c[ids[i]]++;
      p->slot_row[i] = r;
      p->row_token[r] = int32_t(i / top_k);
    }
  }
}

void moe_dispatch(const MoePermutation& p, const void* x, int64_t row_bytes, void* out) {
  const auto* src = static_cast<const uint8_t*>(x);
  auto* dst = static_cast<uint8_t*>(out);
  const int64_t rows = p.rows();
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (int64_t(1) << 20))
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * row_bytes, src + int64_t(p.row_token[r]) * row_bytes, row_bytes);
}

namespace {
inline float load(float v) {
  return v;
}
inline float load(bf16 v) {
  return float(v);
}
inline void store(float* d, float v) {
  *d = v;
}
inline void store(bf16* d, float v) {
  *d = bf16(v);
}

template <class T>
void combine_impl(const MoePermutation& p, const T* eo, const float* w, int64_t hidden, T* y) {
  const int k = p.top_k;
#pragma omp parallel if (p.n_tokens * hidden >= (int64_t(1) << 17))
  {
    std::vector<float> acc(hidden);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < p.n_tokens; ++t) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int j = 0; j < k; ++j) {
        const int64_t r = p.slot_row[t * k + j];
        if (r < 0) continue;
        const float wj = w[t * k + j];
        const T* row = eo + r * hidden;
        for (int64_t h = 0; h < hidden; ++h) acc[h] += wj * load(row[h]);
      }
      T* dst = y + t * hidden;
      for (int64_t h = 0; h < hidden; ++h) store(dst + h, acc[h]);
    }
  }
}
}  // namespace

void moe_combine(const MoePermutation& p, const float* eo, const float* w, int64_t hidden,
                 float* y) {
  combine_impl(p, eo, w, hidden, y);
}
void moe_combine(const MoePermutation& p, const bf16* eo, const float* w, int64_t hidden, bf16* y) {
  combine_impl(p, eo, w, hidden, y);
}

double moe_dispatch_bytes(const MoePermutation& p, int64_t row_bytes) {
  return 2.0 * double(p.rows()) * double(row_bytes);
}
double moe_combine_bytes(const MoePermutation& p, int64_t hidden, int elem_bytes) {
  return double(p.rows()) * hidden * elem_bytes + double(p.n_tokens) * hidden * elem_bytes +
         double(p.n_tokens) * p.top_k * (4.0 + 8.0);
}

}  // namespace dsbench::kernels
