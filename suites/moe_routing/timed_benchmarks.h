// Timed benchmarks of the moe_routing suite: router (gate alone, and logits GEMM + gate) and
// token permutation (plan, dispatch, combine). Inputs are allocated lazily, on first run.
#pragma once

#include <cstdint>
#include <string>

#include "dsbench/config.h"
#include "dsbench/kernels/dtype.h"
#include "dsbench/registry.h"

namespace dsbench::suites::moe {

// "router/gate": moe_gate over random logits; counter tokens_per_s. `shape` names the model.
Benchmark router_gate_benchmark(const ModelConfig& shape, int64_t tokens, uint64_t seed);
// "router/full": logits = x W^T (BLAS) then the gate; counter tokens_per_s; flops set.
Benchmark router_full_benchmark(const ModelConfig& shape, int64_t tokens, uint64_t seed);
// "permute/plan", "permute/dispatch", "permute/combine" on the model's hidden size and top-k.
// tokens = 0 sizes the permuted rows to exceed the last-level cache.
Benchmark permute_plan_benchmark(const ModelConfig& m, int64_t tokens, uint64_t seed);
Benchmark permute_dispatch_benchmark(const ModelConfig& m, int64_t tokens, kernels::DType dtype,
                                     uint64_t seed);
Benchmark permute_combine_benchmark(const ModelConfig& m, int64_t tokens, uint64_t seed);

// Tokens such that tokens * top_k rows of `row_bytes` reach 512 MiB (above this CPU's 300 MiB L3).
int64_t llc_exceeding_tokens(int top_k, int64_t row_bytes);

}  // namespace dsbench::suites::moe
