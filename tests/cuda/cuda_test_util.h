// Shared helpers for the CUDA kernel tests: device skip, seeded inputs, bf16 comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "dsbench/kernels/cuda_device.h"
#include "dsbench/kernels/dtype.h"

#define DSBENCH_REQUIRE_CUDA_DEVICE()                                   \
  do {                                                                  \
    std::string why_;                                                   \
    if (!::dsbench::kernels::cuda_device_available(&why_))              \
      GTEST_SKIP() << (why_.rfind("no CUDA device", 0) == 0            \
                           ? why_                                       \
                           : "no CUDA device (" + why_ + ")");          \
  } while (0)

namespace dsbench::test {

inline std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Max |got - want| relative to max |want|: one number per output, robust to near-zero elements.
inline double max_rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    double e = std::abs(double(got[i]) - want[i]);
    if (!(e == e)) return INFINITY;
    err = std::max(err, e);
  }
  return scale > 0 ? err / scale : err;
}

}  // namespace dsbench::test
