// MoE token permutation: dispatch groups token rows by expert (counting sort, stable in token
// order), combine scatters expert outputs back with the routing weights. Plain buffers.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/kernels/dtype.h"

namespace dsbench::kernels {

// Where every (token, slot) assignment goes. Rows are grouped by expert; expert e owns permuted
// rows [offsets[e], offsets[e+1]). An id of -1 (a dropped slot) gets no row.
struct MoePermutation {
  int32_t n_experts = 0;
  int32_t top_k = 0;
  int64_t n_tokens = 0;
  std::vector<int64_t> counts;     // [n_experts] rows per expert
  std::vector<int64_t> offsets;    // [n_experts + 1] exclusive prefix sum of counts
  std::vector<int32_t> row_token;  // [rows] source token of each permuted row
  std::vector<int64_t> slot_row;   // [n_tokens * top_k] permuted row of (token, slot), or -1
  int64_t rows() const { return offsets.empty() ? 0 : offsets.back(); }
};

// Builds the permutation from topk_ids [n_tokens, top_k]. Throws std::invalid_argument for an
// id outside [-1, n_experts).
void moe_permute_plan(const int32_t* topk_ids, int64_t n_tokens, int top_k, int n_experts,
                      MoePermutation* out);

// Dispatch: out[r] = x[row_token[r]] for rows of `row_bytes` bytes (any dtype).
void moe_dispatch(const MoePermutation& p, const void* x, int64_t row_bytes, void* out);

// Combine: y[t] = sum_j weights[t, j] * expert_out[slot_row[t*k + j]], accumulated in fp32.
// expert_out: [rows, hidden]; y: [n_tokens, hidden] (overwritten).
void moe_combine(const MoePermutation& p, const float* expert_out, const float* weights,
                 int64_t hidden, float* y);
void moe_combine(const MoePermutation& p, const bf16* expert_out, const float* weights,
                 int64_t hidden, bf16* y);

// Bytes each call must move: dispatch reads and writes every row once; combine reads every row,
// the weights and writes every token once.
double moe_dispatch_bytes(const MoePermutation& p, int64_t row_bytes);
double moe_combine_bytes(const MoePermutation& p, int64_t hidden, int elem_bytes);

}  // namespace dsbench::kernels
