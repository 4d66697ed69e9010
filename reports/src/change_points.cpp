// Penalised L1 step fit (exact optimal partitioning). Segment costs come from a running median
// kept in two heaps, so all O(n^2) costs take O(n^2 log n): a year of nightlies is instant.
#include "dsbench/reports/change_points.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>

#include "dsbench/stats.h"

namespace dsbench::reports {
namespace {

// Running median with the L1 deviation sum of everything pushed so far.
class RunningL1 {
 public:
  void push(double x) {
    if (lower_.empty() || x <= lower_.top()) {
      lower_.push(x);
      sum_lower_ += x;
    } else {
      upper_.push(x);
      sum_upper_ += x;
    }
    if (lower_.size() > upper_.size() + 1) {
      double v = lower_.top();
      lower_.pop();
      sum_lower_ -= v;
      upper_.push(v);
      sum_upper_ += v;
    } else if (upper_.size() > lower_.size()) {
      double v = upper_.top();
      upper_.pop();
      sum_upper_ -= v;
      lower_.push(v);
      sum_lower_ += v;
    }
  }
  // sum |x - m| for m = the lower middle element, which minimises the L1 cost.
  double cost() const {
    double m = lower_.top();
    return (sum_upper_ - m * double(upper_.size())) + (m * double(lower_.size()) - sum_lower_);
  }

 private:
  std::priority_queue<double> lower_;
  std::priority_queue<double, std::vector<double>, std::greater<double>> upper_;
  double sum_lower_ = 0, sum_upper_ = 0;
};

double median_of(const std::vector<double>& y, size_t b, size_t e) {
  return percentile(std::vector<double>(y.begin() + long(b), y.begin() + long(e)), 50);
}

}  // namespace

StepFit fit_steps_l1(const std::vector<double>& y, double gamma, size_t min_segment) {
  const size_t n = y.size();
  StepFit fit;
  if (n == 0) return fit;
  if (min_segment < 1 || n < 2 * min_segment) min_segment = std::min<size_t>(std::max<size_t>(min_segment, 1), n);
  // best[j]: optimal cost of y[0, j); prev[j]: start of its last segment.
  std::vector<double> best(n + 1, std::numeric_limits<double>::infinity());
  std::vector<size_t> prev(n + 1, 0);
  best[0] = -gamma;  // the first segment pays no penalty
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(best[i])) continue;  // no valid segmentation ends here
    RunningL1 seg;
    for (size_t j = i + 1; j <= n; ++j) {
      seg.push(y[j - 1]);
      if (j - i < min_segment) continue;
      double c = best[i] + gamma + seg.cost();
      if (c < best[j]) {
        best[j] = c;
        prev[j] = i;
      }
    }
  }
  std::vector<size_t> starts;
  for (size_t j = n; j > 0; j = prev[j]) starts.push_back(prev[j]);
  std::reverse(starts.begin(), starts.end());
  fit.starts = starts;
  for (size_t k = 0; k < starts.size(); ++k) {
    size_t e = k + 1 < starts.size() ? starts[k + 1] : n;
    fit.levels.push_back(median_of(y, starts[k], e));
  }
  return fit;
}

double noise_sigma(const std::vector<double>& y) {
  if (y.size() < 3) return 0;
  std::vector<double> d;
  for (size_t i = 1; i < y.size(); ++i) d.push_back(y[i] - y[i - 1]);
  double med = percentile(d, 50);
  for (double& x : d) x = std::fabs(x - med);
  return 1.4826 * percentile(d, 50) / std::sqrt(2.0);
}

std::vector<size_t> detect_change_points(const std::vector<double>& y, double min_rel_step,
                                         double penalty_sigmas) {
  const size_t n = y.size();
  if (n < 3) return {};
  double scale = std::fabs(percentile(y, 50));
  if (scale == 0) scale = 1;
  std::vector<double> rel(n);
  for (size_t i = 0; i < n; ++i) rel[i] = y[i] / scale;
  // A noiseless series (analytic figures) still needs a positive penalty to stay one segment.
  double sigma = std::max(noise_sigma(rel), 1e-9);
  double gamma = penalty_sigmas * sigma * std::log(double(n));
  // Segments of at least two runs: one odd night is an outlier, not a new level (the nightly
  // compare against the baseline is what catches a regression on its first night).
  StepFit fit = fit_steps_l1(rel, gamma, 2);

  // Merge steps too small to matter, smallest first, recomputing the neighbours' levels.
  std::vector<size_t> starts = fit.starts;
  for (;;) {
    size_t worst = 0;
    double worst_step = std::numeric_limits<double>::infinity();
    for (size_t k = 1; k < starts.size(); ++k) {
      size_t e = k + 1 < starts.size() ? starts[k + 1] : n;
      double before = median_of(rel, starts[k - 1], starts[k]);
      double after = median_of(rel, starts[k], e);
      double step = std::fabs(after - before) / std::max(std::fabs(before), 1e-300);
      if (step < worst_step) {
        worst_step = step;
        worst = k;
      }
    }
    if (worst == 0 || worst_step >= min_rel_step) break;
    starts.erase(starts.begin() + long(worst));
  }
  return std::vector<size_t>(starts.begin() + (starts.empty() ? 0 : 1), starts.end());
}

}  // namespace dsbench::reports
