// CUDA decode-attention benchmarks for the kv_cache suite (device "cuda"): MLA-absorbed at
// FlashMLA's benchmark shapes, MLA-naive and GQA. Registered as the suite "kv_cache_cuda"; the
// kv_cache suite may also append them to its own list. Documented in docs/cuda.md.
#pragma once

#include <vector>

#include "dsbench/registry.h"

namespace dsbench::suites {

// Every benchmark is skipped with ctx.cuda_reason when no device is usable. Under ctx.quick the
// shapes shrink to seconds.
std::vector<Benchmark> kv_cache_cuda_benchmarks(const SuiteContext& ctx);

}  // namespace dsbench::suites
