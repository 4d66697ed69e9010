// Summary statistics over raw samples.
#include "dsbench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dsbench {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  double pos = std::clamp(q, 0.0, 100.0) / 100.0 * double(v.size() - 1);
  size_t lo = size_t(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  double frac = pos - double(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

Stats compute_stats(const std::vector<double>& samples) {
  Stats s;
  s.n = long(samples.size());
  if (samples.empty()) return s;
  s.median = percentile(samples, 50);
  s.p10 = percentile(samples, 10);
  s.p90 = percentile(samples, 90);
  auto [mn, mx] = std::minmax_element(samples.begin(), samples.end());
  s.min = *mn;
  s.max = *mx;
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / double(samples.size());
  if (samples.size() > 1) {
    double ss = 0;
    for (double x : samples) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(samples.size() - 1));  // sample standard deviation
  }
  s.cv = s.mean != 0 ? s.stddev / std::fabs(s.mean) : 0.0;
  return s;
}

nlohmann::json to_json(const Stats& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"stddev", s.stddev}, {"cv", s.cv},
          {"p10", s.p10},       {"p90", s.p90},   {"min", s.min},       {"max", s.max},
          {"n", s.n}};
}

}  // namespace dsbench
