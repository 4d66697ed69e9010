// Mann-Whitney U (Wilcoxon rank-sum) test on two independent samples of raw timings: the
// significance half of compare's verdict. Exact null distribution when small and untied,
// otherwise the normal approximation with tie and continuity correction.
#pragma once

#include <vector>

namespace dsbench::reports {

struct MannWhitney {
  double u = 0;         // U of the first sample: pairs (a, b) with a > b, ties counting 1/2
  double p_value = 1;   // two-sided
  bool exact = false;   // true when the exact permutation distribution was used
};

// Two-sided test of "a and b come from the same distribution". Either side empty -> p = 1.
MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

// Exact two-sided p-value for U with sample sizes n1, n2 and no ties (public for tests).
double mann_whitney_exact_p(double u, int n1, int n2);

}  // namespace dsbench::reports
