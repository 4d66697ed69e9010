// Load-balance metrics (moe_metrics.h), all in float64.
#include "dsbench/kernels/moe_metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dsbench::kernels {

LoadStats load_stats(const double* load, int n) {
  LoadStats s;
  s.n = n;
  if (n <= 0) return s;
  s.max = s.min = load[0];
  for (int i = 0; i < n; ++i) {
    s.total += load[i];
    s.max = std::max(s.max, load[i]);
    s.min = std::min(s.min, load[i]);
  }
  s.mean = s.total / n;
  if (s.total <= 0) {
    s.max_over_mean = s.balancedness = s.norm_entropy = 1;
    return s;
  }
  double var = 0, h = 0;
  for (int i = 0; i < n; ++i) {
    double d = load[i] - s.mean;
    var += d * d;
    double p = load[i] / s.total;
    if (p > 0) h -= p * std::log(p);
  }
  s.cv = std::sqrt(var / n) / s.mean;
  s.max_over_mean = s.max / s.mean;
  s.max_vio = s.max_over_mean - 1;
  s.balancedness = s.mean / s.max;
  s.norm_entropy = n > 1 ? h / std::log(double(n)) : 1.0;
  return s;
}

LoadStats load_stats(const std::vector<double>& load) {
  return load_stats(load.data(), int(load.size()));
}

void count_expert_tokens(const int32_t* ids, int64_t n_tokens, int top_k, int n_experts,
                         int64_t* counts) {
  const int64_t n = n_tokens * top_k;
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] >= 0 && ids[i] < n_experts) ++counts[ids[i]];
}

int64_t capacity_drops(const int64_t* counts, int n_experts, double cf) {
  int64_t total = 0;
  for (int e = 0; e < n_experts; ++e) total += counts[e];
  const auto cap = int64_t(std::ceil(cf * double(total) / n_experts));
  int64_t drops = 0;
  for (int e = 0; e < n_experts; ++e) drops += std::max<int64_t>(0, counts[e] - cap);
  return drops;
}

std::vector<double> ep_rank_load(const int64_t* counts, int n_experts, int ep) {
  if (ep <= 0 || n_experts % ep != 0)
    throw std::invalid_argument("ep_rank_load: ep must divide n_experts");
  const int per = n_experts / ep;
  std::vector<double> out(ep, 0.0);
  for (int e = 0; e < n_experts; ++e) out[e / per] += double(counts[e]);
  return out;
}

FanoutStats token_fanout(const int32_t* ids, int64_t n_tokens, int top_k, int n_experts,
                         int n_nodes, int ep) {
  if (n_nodes <= 0 || n_experts % n_nodes != 0 || ep <= 0 || n_experts % ep != 0)
    throw std::invalid_argument("token_fanout: nodes and ep must divide n_experts");
  FanoutStats f;
  f.nodes_histogram.assign(n_nodes + 1, 0);
  const int per_node = n_experts / n_nodes, per_rank = n_experts / ep;
  double sum_nodes = 0, sum_ranks = 0;
  std::vector<int64_t> seen_node(n_nodes, -1), seen_rank(ep, -1);  // last token that touched it
  for (int64_t t = 0; t < n_tokens; ++t) {
    int nodes = 0, ranks = 0;
    for (int j = 0; j < top_k; ++j) {
      int e = ids[t * top_k + j];
      if (e < 0 || e >= n_experts) continue;
      int nd = e / per_node, rk = e / per_rank;
      if (seen_node[nd] != t) {
        seen_node[nd] = t;
        ++nodes;
      }
      if (seen_rank[rk] != t) {
        seen_rank[rk] = t;
        ++ranks;
      }
    }
    ++f.nodes_histogram[nodes];
    sum_nodes += nodes;
    sum_ranks += ranks;
    f.max_nodes = std::max(f.max_nodes, nodes);
    f.max_ranks = std::max(f.max_ranks, ranks);
  }
  if (n_tokens > 0) {
    f.mean_nodes = sum_nodes / n_tokens;
    f.mean_ranks = sum_ranks / n_tokens;
  }
  return f;
}

DispatchBytes dispatch_bytes_per_token(const FanoutStats& f, int top_k, int64_t hidden,
                                       double elem_bytes) {
  const double row = double(hidden) * elem_bytes;
  return {row * top_k, row * f.mean_ranks, row * f.mean_nodes};
}

}  // namespace dsbench::kernels
