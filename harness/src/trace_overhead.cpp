// Tracing overhead in one run: the same workload traced and untraced, interleaved (ABAB) so that
// clock and thermal drift fall on both sides equally.
#include <algorithm>
#include <vector>

#include "dsbench/trace.h"

namespace dsbench::trace {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

nlohmann::json OverheadResult::to_json() const {
  return {{"traced_throughput", traced},
          {"untraced_throughput", untraced},
          {"trace_overhead_ratio", ratio},
          {"rounds", rounds}};
}

OverheadResult measure_overhead(const std::function<double()>& throughput, int rounds) {
  rounds = std::max(1, rounds);
  const bool outer = enabled();
  std::vector<double> with, without;
  for (int r = 0; r < rounds; ++r) {
    // Traced round.
    if (!outer) start();
    try {
      with.push_back(throughput());
    } catch (...) {
      if (!outer) discard();
      throw;
    }
    if (!outer) discard();
    // Untraced round.
    if (outer) set_paused(true);
    try {
      without.push_back(throughput());
    } catch (...) {
      if (outer) set_paused(false);
      throw;
    }
    if (outer) set_paused(false);
  }
  OverheadResult res;
  res.rounds = rounds;
  res.traced = median(with);
  res.untraced = median(without);
  res.ratio = res.untraced > 0 ? res.traced / res.untraced : 0;
  return res;
}

}  // namespace dsbench::trace
