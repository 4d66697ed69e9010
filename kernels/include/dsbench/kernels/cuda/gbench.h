// Google Benchmark body for GPU work: warm-up, L2 flush before each sample, CUDA-event time
// reported through state.SetIterationTime. Register the benchmark with manual_time = true.
//
//   b.manual_time = true;
//   b.timed = [=](benchmark::State& st) { kc::run_cuda_benchmark(st, [&] { launch(); }); };
#pragma once

#include <benchmark/benchmark.h>

#include <functional>

#include "dsbench/kernels/cuda/timing.h"

namespace dsbench::kernels::cuda {

inline void run_cuda_benchmark(benchmark::State& state, const std::function<void()>& launch,
                               SamplerOptions options = {}) {
  GpuSampler sampler(options);
  sampler.warmup(launch);
  for (auto _ : state) state.SetIterationTime(sampler.sample(launch));
}

}  // namespace dsbench::kernels::cuda
