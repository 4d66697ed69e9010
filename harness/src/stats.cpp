// Summary statistics over raw samples.
#include "dsbench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dsbench {

namespace {
// Linear-interpolated percentile of samples already sorted (non-empty).
double percentile_sorted(const std::vector<double>& v, double q) {
  double pos = std::clamp(q, 0.0, 100.0) / 100.0 * double(v.size() - 1);
  size_t lo = size_t(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  double frac = pos - double(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}
}  // namespace

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return percentile_sorted(v, q);
}

MedianRank median_ci_rank(long n, double level) {
  MedianRank r;
  if (n <= 0) return r;
  // Coverage of [x(k), x(n+1-k)] is P(k <= X <= n-k) = 1 - 2 F(k-1), X ~ Binomial(n, 1/2) the
  // number of samples below the true median. The pmf in log space: no overflow for large n.
  const double nn = double(n), ln_half_n = nn * std::log(0.5);
  auto pmf = [&](long i) {
    return std::exp(std::lgamma(nn + 1) - std::lgamma(double(i) + 1) - std::lgamma(nn - double(i) + 1) +
                    ln_half_n);
  };
  double cdf = pmf(0);  // F(k-1) for k = 1
  r.k = 1;
  r.level = std::max(0.0, 1.0 - 2.0 * cdf);
  for (long k = 2; 2 * k <= n + 1; ++k) {
    cdf += pmf(k - 1);
    const double cov = 1.0 - 2.0 * cdf;
    if (cov < level) break;
    r.k = k;
    r.level = cov;
  }
  return r;
}

Stats compute_stats(const std::vector<double>& samples) {
  Stats s;
  s.n = long(samples.size());
  if (samples.empty()) return s;
  std::vector<double> v(samples);  // sorted once for every order statistic below
  std::sort(v.begin(), v.end());
  s.median = percentile_sorted(v, 50);
  s.p10 = percentile_sorted(v, 10);
  s.p90 = percentile_sorted(v, 90);
  s.min = v.front();
  s.max = v.back();
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / double(samples.size());
  if (samples.size() > 1) {
    double ss = 0;
    for (double x : samples) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(samples.size() - 1));  // sample standard deviation
  }
  s.cv = s.mean != 0 ? s.stddev / std::fabs(s.mean) : 0.0;
  const MedianRank mr = median_ci_rank(s.n);
  s.median_ci_low = v[size_t(mr.k - 1)];
  s.median_ci_high = v[size_t(s.n - mr.k)];
  s.median_ci_level = mr.level;
  s.noise = s.median != 0 ? (s.median_ci_high - s.median_ci_low) / (2 * std::fabs(s.median)) : 0.0;
  return s;
}

nlohmann::json to_json(const Stats& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"stddev", s.stddev}, {"cv", s.cv},
          {"p10", s.p10},       {"p90", s.p90},   {"min", s.min},       {"max", s.max},
          {"n", s.n},           {"median_ci_low", s.median_ci_low},
          {"median_ci_high", s.median_ci_high},
          {"median_ci_level", s.median_ci_level},
          {"noise", s.noise}};
}

}  // namespace dsbench
