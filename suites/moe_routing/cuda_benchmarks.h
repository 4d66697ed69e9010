// CUDA MoE benchmarks for the moe_routing suite (device "cuda"): the model's gate, permute
// dispatch/combine and the grouped expert GEMM. Registered as the suite "moe_routing_cuda"; the
// moe_routing suite may also append them to its own list. Documented in docs/cuda.md.
#pragma once

#include <vector>

#include "dsbench/registry.h"

namespace dsbench::suites::moe {

std::vector<Benchmark> moe_routing_cuda_benchmarks(const SuiteContext& ctx);

}  // namespace dsbench::suites::moe
