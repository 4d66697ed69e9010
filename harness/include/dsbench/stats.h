// Summary statistics over raw samples (median, spread, percentiles), shared by runner and reports.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench {

struct Stats {
  double median = 0, mean = 0, stddev = 0, cv = 0, p10 = 0, p90 = 0, min = 0, max = 0;
  long n = 0;
};

// Linear-interpolated percentile (q in [0,100]) of unsorted samples; 0 for an empty vector.
double percentile(std::vector<double> samples, double q);
Stats compute_stats(const std::vector<double>& samples);
nlohmann::json to_json(const Stats& s);

}  // namespace dsbench
