// Routing load metrics over windows and layers (routing_metrics.h).
#include "moe_routing/routing_metrics.h"

#include <algorithm>
#include <string>

#include "dsbench/kernels/moe_metrics.h"

namespace dsbench::suites::moe {

using nlohmann::json;

std::vector<int> ep_degrees(int n_experts) {
  std::vector<int> out;
  for (int ep = 8; ep <= 256 && ep <= n_experts; ep *= 2)
    if (n_experts % ep == 0) out.push_back(ep);
  return out;
}

int dispatch_ep(int n_experts) {
  for (int ep : {64, 32, 16, 8})
    if (ep <= n_experts && n_experts % ep == 0) return ep;
  return 1;
}

int effective_nodes(int n_experts, int nodes) {
  for (int n = std::min(nodes, n_experts); n > 1; --n)
    if (n_experts % n == 0) return n;
  return 1;
}

namespace {
json stats_json(const kernels::LoadStats& s) {
  return {{"max_over_mean", s.max_over_mean},
          {"max_vio", s.max_vio},
          {"cv", s.cv},
          {"norm_entropy", s.norm_entropy},
          {"balancedness", s.balancedness}};
}
}  // namespace

Measurement measure_routing_metrics(TokenSource& src, const kernels::GateConfig& gate,
                                    const RoutingMetricsConfig& cfg) {
  const int E = gate.n_experts, K = gate.top_k;
  const int nodes = effective_nodes(E, cfg.nodes);
  const int dep = dispatch_ep(E);
  const std::vector<int> eps = ep_degrees(E);
  const double cfs[3] = {1.0, 1.25, 2.0};
  const char* cf_names[3] = {"cf1_0", "cf1_25", "cf2_0"};

  std::vector<int32_t> ids(size_t(cfg.tokens) * K);
  std::vector<float> w(size_t(cfg.tokens) * K);
  Measurement m;
  json layers = json::array();
  // Sums over layers for the aggregate counters.
  double s_mom = 0, s_vio = 0, s_cv = 0, s_ent = 0, s_bal = 0, worst_mom = 0, s_win_mom = 0;
  double s_drop[3] = {0, 0, 0}, s_nodes = 0, s_ranks = 0;
  int max_nodes = 0;
  std::vector<double> s_ep_bal(eps.size(), 0.0), s_ep_mom(eps.size(), 0.0);
  std::vector<int64_t> node_hist(nodes + 1, 0);

  for (int layer : cfg.layers) {
    std::vector<int64_t> total(E, 0);
    json windows = json::array();
    double win_mom = 0, layer_nodes = 0, layer_ranks = 0;
    for (int win = 0; win < cfg.windows; ++win) {
      src.route(layer, win, cfg.windows, cfg.tokens, nullptr, ids.data(), w.data());
      std::vector<int64_t> c(E, 0);
      kernels::count_expert_tokens(ids.data(), cfg.tokens, K, E, c.data());
      for (int e = 0; e < E; ++e) total[e] += c[e];
      const auto ws = kernels::load_stats(std::vector<double>(c.begin(), c.end()));
      windows.push_back(stats_json(ws));
      win_mom += ws.max_over_mean;
      const auto f = kernels::token_fanout(ids.data(), cfg.tokens, K, E, nodes, dep);
      layer_nodes += f.mean_nodes;
      layer_ranks += f.mean_ranks;
      max_nodes = std::max(max_nodes, f.max_nodes);
      for (int n = 0; n <= nodes; ++n) node_hist[n] += f.nodes_histogram[n];
    }
    layer_nodes /= cfg.windows;
    layer_ranks /= cfg.windows;
    win_mom /= cfg.windows;
    const std::vector<double> load(total.begin(), total.end());
    const auto s = kernels::load_stats(load);
    json L = stats_json(s);
    L["layer"] = layer;
    L["tokens_per_expert"] = total;
    L["window_max_over_mean"] = win_mom;
    L["windows"] = std::move(windows);
    L["nodes_per_token"] = layer_nodes;
    json drops = json::object();
    for (int i = 0; i < 3; ++i) {
      const double frac =
          s.total > 0 ? double(kernels::capacity_drops(total.data(), E, cfs[i])) / s.total : 0;
      drops[cf_names[i]] = frac;
      s_drop[i] += frac;
    }
    L["drop_fraction"] = drops;
    json ep = json::object();
    for (size_t i = 0; i < eps.size(); ++i) {
      const auto es = kernels::load_stats(kernels::ep_rank_load(total.data(), E, eps[i]));
      ep[std::to_string(eps[i])] = {{"balancedness", es.balancedness},
                                    {"max_over_mean", es.max_over_mean},
                                    {"rank_load", kernels::ep_rank_load(total.data(), E, eps[i])}};
      s_ep_bal[i] += es.balancedness;
      s_ep_mom[i] += es.max_over_mean;
    }
    L["ep"] = std::move(ep);
    layers.push_back(std::move(L));
    m.samples.push_back(s.max_over_mean);
    s_mom += s.max_over_mean;
    s_vio += s.max_vio;
    s_cv += s.cv;
    s_ent += s.norm_entropy;
    s_bal += s.balancedness;
    s_win_mom += win_mom;
    worst_mom = std::max(worst_mom, s.max_over_mean);
    s_nodes += layer_nodes;
    s_ranks += layer_ranks;
  }
  const double n = double(std::max<size_t>(1, cfg.layers.size()));
  auto& c = m.counters;
  c["max_over_mean"] = s_mom / n;
  c["max_over_mean_worst_layer"] = worst_mom;
  c["max_vio"] = s_vio / n;
  c["cv"] = s_cv / n;
  c["norm_entropy"] = s_ent / n;
  c["balancedness"] = s_bal / n;
  c["window_max_over_mean"] = s_win_mom / n;
  for (int i = 0; i < 3; ++i) c[std::string("drop_fraction_") + cf_names[i]] = s_drop[i] / n;
  for (size_t i = 0; i < eps.size(); ++i) {
    c["ep" + std::to_string(eps[i]) + "_balancedness"] = s_ep_bal[i] / n;
    c["ep" + std::to_string(eps[i]) + "_max_over_mean"] = s_ep_mom[i] / n;
  }
  kernels::FanoutStats agg;
  agg.mean_nodes = s_nodes / n;
  agg.mean_ranks = s_ranks / n;
  c["nodes_per_token"] = agg.mean_nodes;
  c["nodes_per_token_max"] = max_nodes;
  c["nodes"] = nodes;
  c["ranks_per_token"] = agg.mean_ranks;
  c["dispatch_ep"] = dep;
  const auto db = kernels::dispatch_bytes_per_token(agg, K, cfg.hidden, cfg.elem_bytes);
  c["dispatch_bytes_per_token_naive"] = db.naive;
  c["dispatch_bytes_per_token_per_rank"] = db.per_rank;
  c["dispatch_bytes_per_token_per_node"] = db.per_node;
  m.data = {{"layers", std::move(layers)},
            {"ep_degrees", eps},
            {"nodes", nodes},
            {"nodes_per_token_histogram", node_hist},
            {"tokens_per_window", cfg.tokens},
            {"windows", cfg.windows}};
  return m;
}

}  // namespace dsbench::suites::moe
