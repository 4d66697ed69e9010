// Mann-Whitney U test. Exact for small untied samples (10 vs 10 reaches p ~ 1e-5, so alpha 0.01
// is attainable), normal approximation with tie correction otherwise.
#include "dsbench/reports/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace dsbench::reports {
namespace {

// Beyond this many cells the counting table is not worth it; the normal approximation is
// accurate to ~1e-3 there, and the table costs (n1*n2)^2 steps.
constexpr long kExactMaxCells = 50L * 50L;

}  // namespace

double mann_whitney_exact_p(double u, int n1, int n2) {
  if (n1 <= 0 || n2 <= 0) return 1.0;
  const int max_u = n1 * n2;
  // count[m][k]: number of arrangements of m first-sample items among m+n second-sample items
  // with U = k, built by the recurrence f(m, n, k) = f(m-1, n, k-n) + f(m, n-1, k), done in
  // doubles (C(40,20) ~ 1.4e11 fits exactly; larger only loses relative precision).
  std::vector<std::vector<double>> prev(n1 + 1), cur(n1 + 1);
  // n = 0: only U = 0 possible for every m.
  for (int m = 0; m <= n1; ++m) prev[m].assign(1, 1.0);
  for (int n = 1; n <= n2; ++n) {
    cur[0].assign(1, 1.0);
    for (int m = 1; m <= n1; ++m) {
      std::vector<double> row(m * n + 1, 0.0);
      const auto& left = cur[m - 1];   // f(m-1, n, .)
      const auto& down = prev[m];      // f(m, n-1, .)
      for (size_t k = 0; k < down.size(); ++k) row[k] += down[k];
      for (size_t k = 0; k < left.size(); ++k) row[k + n] += left[k];
      cur[m] = std::move(row);
    }
    std::swap(prev, cur);
  }
  const auto& dist = prev[n1];
  double total = std::accumulate(dist.begin(), dist.end(), 0.0);
  // Two-sided: twice the smaller tail, the distribution being symmetric about n1*n2/2.
  double lo_u = std::min(u, double(max_u) - u);
  long k_max = long(std::floor(lo_u + 1e-9));
  double tail = 0;
  for (long k = 0; k <= k_max && k <= max_u; ++k) tail += dist[size_t(k)];
  return std::min(1.0, 2.0 * tail / total);
}

MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  MannWhitney r;
  const size_t n1 = a.size(), n2 = b.size();
  if (n1 == 0 || n2 == 0) return r;

  // Rank the pooled sample with midranks for ties.
  std::vector<std::pair<double, int>> pooled;
  pooled.reserve(n1 + n2);
  for (double x : a) pooled.emplace_back(x, 0);
  for (double x : b) pooled.emplace_back(x, 1);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  double rank_sum_a = 0, tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    double t = double(j - i);
    double mid = (double(i) + double(j - 1)) / 2.0 + 1.0;
    for (size_t k = i; k < j; ++k) {
      if (pooled[k].second == 0) rank_sum_a += mid;
    }
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j;
  }
  const double dn1 = double(n1), dn2 = double(n2), n = dn1 + dn2;
  r.u = rank_sum_a - dn1 * (dn1 + 1) / 2.0;

  if (!ties && long(n1) * long(n2) <= kExactMaxCells) {
    r.exact = true;
    r.p_value = mann_whitney_exact_p(r.u, int(n1), int(n2));
    return r;
  }
  const double mean_u = dn1 * dn2 / 2.0;
  const double var_u = dn1 * dn2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)));
  if (var_u <= 0) {  // every value equal: no evidence of any difference
    r.p_value = 1.0;
    return r;
  }
  double diff = std::fabs(r.u - mean_u);
  double z = std::max(0.0, diff - 0.5) / std::sqrt(var_u);  // continuity correction
  r.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return r;
}

}  // namespace dsbench::reports
