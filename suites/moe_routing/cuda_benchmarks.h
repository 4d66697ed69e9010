// CUDA MoE benchmarks for the moe_routing suite (device "cuda"): the model's gate, permute
// dispatch/combine and the grouped expert GEMM. The moe_routing suite appends them when the run's
// device is cuda (skipped "no CUDA device" without one). Documented in docs/cuda.md.
#pragma once

#include <vector>

#include "dsbench/registry.h"

namespace dsbench::suites::moe {

std::vector<Benchmark> moe_routing_cuda_benchmarks(const SuiteContext& ctx);

}  // namespace dsbench::suites::moe
