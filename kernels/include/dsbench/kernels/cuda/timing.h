// GPU timing for benchmarks: CUDA event timers and a sampler that flushes L2 before each cold
// sample and warms up first. CUDA-free interface (the CPU-only build throws "built without CUDA").
// For Google Benchmark bodies, see gbench.h.
#pragma once

#include <cstddef>
#include <functional>

namespace dsbench::kernels::cuda {

// Elapsed time between two CUDA events recorded on a stream (nullptr = the default stream).
class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start(void* stream);
  // Records the stop event, waits for it, returns seconds.
  double stop_seconds(void* stream);

 private:
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

struct SamplerOptions {
  bool flush_l2 = true;  // cold samples: overwrite a buffer of 2x the L2 size before each
  int warmup = 3;        // launches before the first sample (clocks, caches, lazy loading)
  void* stream = nullptr;
};

// Times `launch` (which enqueues GPU work on options.stream) one sample at a time.
class GpuSampler {
 public:
  explicit GpuSampler(SamplerOptions options = {});
  ~GpuSampler();
  GpuSampler(const GpuSampler&) = delete;
  GpuSampler& operator=(const GpuSampler&) = delete;
  void warmup(const std::function<void()>& launch);
  // Flushes L2 (when enabled, outside the timed region), then times one launch in seconds.
  double sample(const std::function<void()>& launch);

 private:
  SamplerOptions opt_;
  EventTimer timer_;
  void* flush_ = nullptr;
  size_t flush_bytes_ = 0;
};

}  // namespace dsbench::kernels::cuda
