// Summary statistics over raw samples (median, spread, percentiles), shared by runner and reports.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench {

struct Stats {
  double median = 0, mean = 0, stddev = 0, cv = 0, p10 = 0, p90 = 0, min = 0, max = 0;
  long n = 0;
  // Distribution-free confidence interval of the median: order statistics [x(k), x(n+1-k)] with
  // the largest k whose coverage is still >= 95% (fewer than 6 samples: [min, max] with the
  // coverage they give, 0 for one sample). `median_ci_level` is that exact coverage.
  double median_ci_low = 0, median_ci_high = 0, median_ci_level = 0;
  // Relative half-width of that interval: (high - low) / (2 |median|). What --max-noise bounds.
  double noise = 0;
};

// Linear-interpolated percentile (q in [0,100]) of unsorted samples; 0 for an empty vector.
double percentile(std::vector<double> samples, double q);
Stats compute_stats(const std::vector<double>& samples);

// Rank k (1-based) of the lower bound of the median's interval for n samples and its coverage
// 1 - 2 P(Binomial(n, 1/2) < k), for the target `level` (see Stats).
struct MedianRank {
  long k = 0;
  double level = 0;
};
constexpr double kMedianCiLevel = 0.95;
MedianRank median_ci_rank(long n, double level = kMedianCiLevel);
// True when the samples were enough for the 95% interval of the median (6 or more): only then
// does Stats::noise say how well the median is known.
inline bool has_median_ci(const Stats& s) { return s.median_ci_level >= kMedianCiLevel; }
nlohmann::json to_json(const Stats& s);

}  // namespace dsbench
