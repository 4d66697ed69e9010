// Change-point detection for nightly series: a penalised L1 step fit (Potts model, as asv uses)
// solved exactly by dynamic programming, with the penalty scaled to the series' own noise.
#pragma once

#include <cstddef>
#include <vector>

namespace dsbench::reports {

struct StepFit {
  std::vector<size_t> starts;   // index where each segment begins; starts[0] == 0
  std::vector<double> levels;   // median of each segment
};

// Minimises sum_segments sum_i |y_i - median(segment)| + gamma * (#segments - 1), every segment
// holding at least min_segment points (one segment when the series is shorter than two).
StepFit fit_steps_l1(const std::vector<double>& y, double gamma, size_t min_segment = 1);

// Robust noise scale: MAD of successive differences / sqrt(2), so steps do not inflate it.
double noise_sigma(const std::vector<double>& y);

// Change points of y: indices i > 0 where a new level starts. The penalty is
// penalty_sigmas * noise * ln(n); steps smaller than min_rel_step (relative to the earlier
// level) are merged away, so noise-sized wiggles are not reported.
std::vector<size_t> detect_change_points(const std::vector<double>& y, double min_rel_step = 0.02,
                                         double penalty_sigmas = 3.0);

}  // namespace dsbench::reports
