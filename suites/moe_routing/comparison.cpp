// The standard-MoE vs DeepSeekMoE comparison (comparison.h).
#include "moe_routing/comparison.h"

#include <cmath>
#include <string>
#include <vector>

#include "dsbench/kernels/moe_metrics.h"
#include "moe_routing/balancing.h"
#include "moe_routing/routing_metrics.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {

using nlohmann::json;

double n_choose_k(int n, int k) {
  if (k < 0 || k > n) return 0;
  double r = 1;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return std::round(r);
}

double group_limited_combinations(int n_experts, int k, int n_group, int topk_group) {
  const int m = n_experts / n_group;
  double total = 0;
  for (int j = 1; j <= topk_group; ++j) {
    double exact = 0;  // k-sets that use every one of j given groups
    for (int i = 0; i <= j; ++i)
      exact += (i % 2 ? -1 : 1) * n_choose_k(j, i) * n_choose_k((j - i) * m, k);
    total += n_choose_k(n_group, j) * exact;
  }
  return total;
}

kernels::GateConfig standard_top2_of_16() {
  return {16, 2, 1, 1, kernels::ScoringFunc::kSoftmax, kernels::TopkMethod::kGreedy, true, 1.0f};
}
kernels::GateConfig deepseek_top8_of_256() {
  return {256, 8, 8, 4, kernels::ScoringFunc::kSigmoid, kernels::TopkMethod::kNoAuxTc, true, 2.5f};
}

namespace {
json measure_one(const kernels::GateConfig& g, const ComparisonOptions& o, const char* name,
                 int expert_size) {
  SourceOptions so;
  so.zipf_s = o.zipf_s;
  so.seed = o.seed;
  TokenSource src(SourceKind::kZipf, g, so);
  std::vector<int32_t> ids(size_t(o.tokens) * g.top_k);
  std::vector<float> w(ids.size());
  src.route(0, 0, 1, o.tokens, nullptr, ids.data(), w.data());
  std::vector<int64_t> c(g.n_experts, 0);
  kernels::count_expert_tokens(ids.data(), o.tokens, g.top_k, g.n_experts, c.data());
  const auto s = kernels::load_stats(std::vector<double>(c.begin(), c.end()));
  const auto ep8 = kernels::load_stats(kernels::ep_rank_load(c.data(), g.n_experts, 8));
  const auto f = kernels::token_fanout(ids.data(), o.tokens, g.top_k, g.n_experts, 8, 8);
  const auto db = kernels::dispatch_bytes_per_token(f, g.top_k, o.hidden, o.elem_bytes);
  json j = {{"design", name},
            {"experts", g.n_experts},
            {"top_k", g.top_k},
            {"expert_size_units", expert_size},
            {"active_units", g.top_k * expert_size},
            {"total_units", g.n_experts * expert_size},
            {"combinations",
             g.method == kernels::TopkMethod::kGreedy || g.n_group == 1
                 ? n_choose_k(g.n_experts, g.top_k)
                 : group_limited_combinations(g.n_experts, g.top_k, g.n_group, g.topk_group)},
            {"combinations_unrestricted", n_choose_k(g.n_experts, g.top_k)},
            {"max_over_mean", s.max_over_mean},
            {"balancedness", s.balancedness},
            {"cv", s.cv},
            {"norm_entropy", s.norm_entropy},
            {"drop_fraction_cf1_25",
             double(kernels::capacity_drops(c.data(), g.n_experts, 1.25)) / s.total},
            {"ep8_balancedness", ep8.balancedness},
            {"ranks_per_token_ep8", f.mean_ranks},
            {"dispatch_bytes_per_token_naive", db.naive},
            {"dispatch_bytes_per_token_ep8", db.per_rank}};
  if (o.balance_steps > 0) {
    BalanceSimOptions bo;
    bo.steps = o.balance_steps;
    bo.tokens_per_step = o.tokens_per_step;
    bo.gamma = o.gamma;
    bo.zipf_s = o.zipf_s;
    bo.seed = o.seed;
    const auto r = simulate_bias_balancing(g, bo);
    j["balanced_max_over_mean"] = r.final_with;
    j["unbalanced_max_over_mean_per_step"] = r.final_without;
  }
  return j;
}
}  // namespace

Measurement measure_comparison(const ComparisonOptions& o) {
  // Equal active parameters: a standard expert is 4 fine-grained units, so 2 x 4 = 8 x 1.
  const json std_moe = measure_one(standard_top2_of_16(), o, "standard top-2 of 16", 4);
  const json ds_moe =
      measure_one(deepseek_top8_of_256(), o, "DeepSeekMoE top-8 of 256 (8 groups, 4 kept)", 1);
  Measurement m;
  m.samples = {ds_moe["max_over_mean"].get<double>()};
  auto& c = m.counters;
  for (const auto& [prefix, j] :
       {std::pair<std::string, const json&>{"standard_", std_moe}, {"deepseekmoe_", ds_moe}})
    for (const auto& [k, v] : j.items())
      if (v.is_number()) c[prefix + k] = v;
  c["combinations_ratio"] =
      ds_moe["combinations"].get<double>() / std_moe["combinations"].get<double>();
  m.data = {{"designs", json::array({std_moe, ds_moe})},
            {"zipf_s", o.zipf_s},
            {"tokens", o.tokens},
            {"hidden", o.hidden},
            {"elem_bytes", o.elem_bytes}};
  return m;
}

}  // namespace dsbench::suites::moe
