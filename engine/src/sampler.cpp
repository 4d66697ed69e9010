// Greedy / temperature / top-p sampling with a counter-based RNG keyed by (seed, output index).
#include "dsbench/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace dsbench::engine {
namespace {
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& p, uint64_t index) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  if (p.temperature <= 0.0f) return int32_t(best);
  const double inv_t = 1.0 / double(p.temperature);
  std::vector<double> prob(static_cast<size_t>(vocab));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    prob[size_t(i)] = std::exp((double(logits[i]) - double(logits[best])) * inv_t);
    sum += prob[size_t(i)];
  }
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  // Descending probability, ties to the lower id, so the nucleus is well defined.
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return prob[size_t(a)] > prob[size_t(b)]; });
  const double top_p = std::clamp(double(p.top_p), 1e-9, 1.0);
  double kept = 0;
  size_t n = 0;
  while (n < order.size()) {
    kept += prob[size_t(order[n])] / sum;
    ++n;
    if (kept >= top_p) break;
  }
  const double u = double(mix(mix(p.seed) ^ index) >> 11) * (1.0 / 9007199254740992.0);
  double target = u * kept * sum, acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += prob[size_t(order[i])];
    if (acc > target) return order[i];
  }
  return order[n - 1];
}

}  // namespace dsbench::engine
